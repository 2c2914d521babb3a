"""Bucket summaries: fixed-size, mergeable counts of the rows of one time bucket.

A summary is a dict of numpy arrays whose shapes depend only on the model's
layout (features, bins, classes), never on how many rows it holds. Every field
is additive, so merging buckets into a window is an element-wise sum, and the
summary of concatenated rows equals the merge of the summaries of its parts
(property-tested in ``tests/test_sketch.py``).

:func:`summarize` turns a :class:`exporter.rows.Batch` (rows already validated
and binned once) into one summary per time bucket, with one ``np.bincount``
per field over all features at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from exporter.reference import Reference

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
    return {name: a[name] + b[name] for name in a}


def counts_per_bucket(keys: np.ndarray, n_buckets: int, weights: np.ndarray | None = None) -> np.ndarray:
    """``bincount`` of bucket ``keys`` (optionally weighted), always ``n_buckets`` long."""
    return np.bincount(keys, weights=weights, minlength=n_buckets)[:n_buckets]


def binned_per_bucket(
    keys: np.ndarray, index: np.ndarray, n_bins: int, n_buckets: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """Counts (or weighted sums) per bucket, row of ``index`` and bin: shape ``(buckets, rows, bins)``.

    ``index`` has shape ``(k, n)`` with a bin per row of data, or -1 to skip it.
    """
    k, n = index.shape
    out_size = n_buckets * k * n_bins
    if k == 0 or n == 0:
        return np.zeros((n_buckets, k, n_bins), dtype=np.float64 if weights is not None else np.int64)
    valid = index >= 0
    feature = np.broadcast_to(np.arange(k)[:, None], index.shape)
    bucket = np.broadcast_to(keys[None, :], index.shape)
    flat = ((bucket[valid] * k + feature[valid]) * n_bins + index[valid]).astype(np.intp, copy=False)
    w = None if weights is None else weights[valid]
    counts = np.bincount(flat, weights=w, minlength=out_size)
    return counts.reshape(n_buckets, k, n_bins)


def summarize_data(layout: Layout, batch: Batch, keys: np.ndarray, n_buckets: int) -> Summary:  # noqa: F821
    """Data-drift and data-quality fields of ``batch``, one summary per bucket key."""
    fields = layout.fields
    out: Summary = {"rows": counts_per_bucket(keys, n_buckets).astype(np.int64)}
    num_bins = fields["num_counts"].shape[1]
    out["num_counts"] = binned_per_bucket(keys, batch.num_index, num_bins, n_buckets).astype(np.int64)
    out["num_sums"] = binned_per_bucket(keys, batch.num_index, num_bins, n_buckets, batch.num_values)
    with np.errstate(over="ignore"):
        squares = np.where(batch.num_index >= 0, batch.num_values * batch.num_values, 0.0)
    out["num_sumsq"] = _per_feature(keys, squares, n_buckets)
    out["num_missing"] = _per_feature(keys, batch.num_missing, n_buckets).astype(np.int64)
    out["num_invalid"] = _per_feature(keys, batch.num_invalid, n_buckets).astype(np.int64)
    cat_bins = fields["cat_counts"].shape[1]
    out["cat_counts"] = binned_per_bucket(keys, batch.cat_index, cat_bins, n_buckets).astype(np.int64)
    out["cat_missing"] = _per_feature(keys, batch.cat_index < 0, n_buckets).astype(np.int64)
    return out


def _per_feature(keys: np.ndarray, values: np.ndarray, n_buckets: int) -> np.ndarray:
    """Sum of ``values`` (shape ``(k, n)``) per bucket and row: shape ``(buckets, k)``."""
    k = values.shape[0]
    if k == 0:
        return np.zeros((n_buckets, 0))
    index = np.zeros(values.shape, dtype=np.intp)
    return binned_per_bucket(keys, index, 1, n_buckets, values.astype(np.float64)).reshape(n_buckets, k)
