"""Bucket summaries: fixed-size, mergeable counts of the rows of one time bucket.

A summary is a dict of numpy arrays whose shapes depend only on the model's
layout (features, bins, classes), never on how many rows it holds. Every field
is additive, so merging buckets into a window is an element-wise sum, and the
summary of concatenated rows equals the merge of the summaries of its parts
(property-tested in ``tests/test_sketch.py``).

:func:`summarize_data` turns a :class:`exporter.rows.Batch` (rows already
validated and binned once) into one summary, with one ``np.bincount`` per
field over all features at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from exporter.reference import Reference
from exporter.rows import Batch

Summary = dict[str, np.ndarray]


@dataclass(frozen=True)
class FieldSpec:
    shape: tuple[int, ...]
    dtype: type


class Layout:
    """Names, shapes and dtypes of the fields of one model's bucket summary."""

    def __init__(self, fields: Mapping[str, FieldSpec]):
        self.fields = dict(fields)

    def empty(self, lead: tuple[int, ...] = ()) -> Summary:
        return {name: np.zeros(lead + spec.shape, dtype=spec.dtype) for name, spec in self.fields.items()}

    def signature(self) -> list[tuple[str, tuple[int, ...], str]]:
        return [(name, spec.shape, np.dtype(spec.dtype).str) for name, spec in sorted(self.fields.items())]


def data_layout(reference: Reference) -> dict[str, FieldSpec]:
    """Fields for data drift and data quality of ``reference``'s features."""
    n_num = len(reference.numeric)
    n_cat = len(reference.categorical)
    num_bins = max((f.n_bins for f in reference.numeric), default=1)
    cat_bins = max((f.n_bins for f in reference.categorical), default=1)
    return {
        "rows": FieldSpec((), np.int64),
        "num_counts": FieldSpec((n_num, num_bins), np.int64),
        "num_sums": FieldSpec((n_num, num_bins), np.float64),
        "num_sumsq": FieldSpec((n_num,), np.float64),
        "num_missing": FieldSpec((n_num,), np.int64),
        "num_invalid": FieldSpec((n_num,), np.int64),
        "cat_counts": FieldSpec((n_cat, cat_bins), np.int64),
        "cat_missing": FieldSpec((n_cat,), np.int64),
    }


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


def summarize_data(layout: Layout, batch: Batch) -> Summary:
    """Data-drift and data-quality fields of the rows of ``batch``, as one summary."""
    fields = layout.fields
    num_bins = fields["num_counts"].shape[1]
    cat_bins = fields["cat_counts"].shape[1]
    with np.errstate(over="ignore", invalid="ignore"):
        # num_values is 0 wherever the value is missing or invalid, so no mask is needed.
        squares = np.einsum("ij,ij->i", batch.num_values, batch.num_values)
        sums = binned_counts(batch.num_index, num_bins, batch.num_values)
    return {
        "rows": np.array(len(batch), dtype=np.int64),
        "num_counts": binned_counts(batch.num_index, num_bins),
        "num_sums": sums,
        "num_sumsq": squares,
        "num_missing": batch.num_missing.sum(axis=1).astype(np.int64),
        "num_invalid": batch.num_invalid.sum(axis=1).astype(np.int64),
        "cat_counts": binned_counts(batch.cat_index, cat_bins),
        "cat_missing": (batch.cat_index < 0).sum(axis=1).astype(np.int64),
    }
