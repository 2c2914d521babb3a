"""Bucket summaries: fixed-size, mergeable counts of the rows of one time bucket.

A summary is a dict of numpy arrays whose shapes depend only on the model's
layout (features, bins, classes), never on how many rows it holds. Every field
is additive, so merging buckets into a window is an element-wise sum, and the
summary of concatenated rows equals the merge of the summaries of its parts
(property-tested in ``tests/test_sketch.py``).

The fields are declared by the components (:mod:`exporter.components`), each
under its own namespace (``drift/num_counts``); :class:`Layout` is their union.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

Summary = dict[str, np.ndarray]


@dataclass(frozen=True)
class FieldSpec:
    shape: tuple[int, ...]
    dtype: type


#: Separates a component's namespace from its field name in a layout key.
SEP = "/"


def key(namespace: str, name: str) -> str:
    return f"{namespace}{SEP}{name}"


class Layout:
    """Names (``namespace/field``), shapes and dtypes of the fields of one model's bucket summary."""

    def __init__(self, fields: Mapping[str, FieldSpec]):
        self.fields = dict(fields)

    def empty(self, lead: tuple[int, ...] = ()) -> Summary:
        return {name: np.zeros(lead + spec.shape, dtype=spec.dtype) for name, spec in self.fields.items()}

    def signature(self) -> list[tuple[str, tuple[int, ...], str]]:
        return [(name, spec.shape, np.dtype(spec.dtype).str) for name, spec in sorted(self.fields.items())]


def merge(a: Summary, b: Summary) -> Summary:
    """The summary of the rows of ``a`` and ``b`` together."""
    with np.errstate(over="ignore"):  # absurd values (1e308) may sum to inf, which is what they are
        return {name: a[name] + b[name] for name in a}


def binned_counts(index: np.ndarray, n_bins: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Counts (or sums of ``weights``) per row of ``index`` and bin: shape ``(k, n_bins)``.

    ``index`` has shape ``(k, n)``: a bin per value, or -1 to skip it. One
    ``np.bincount`` over all ``k`` rows at once, with slot 0 of each row as the
    bin of skipped values.
    """
    k, n = index.shape
    dtype = np.float64 if weights is not None else np.int64
    if k == 0:
        return np.zeros((0, n_bins), dtype=dtype)
    if n == 0:
        return np.zeros((k, n_bins), dtype=dtype)
    stride = n_bins + 1
    flat = (index + (np.arange(k, dtype=index.dtype) * stride + 1)[:, None]).ravel()
    w = None if weights is None else weights.ravel()
    counts = np.bincount(flat, weights=w, minlength=k * stride).reshape(k, stride)[:, 1:]
    return counts.astype(dtype, copy=False)
