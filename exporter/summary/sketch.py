"""Bucket summaries: fixed-size, mergeable counts of the rows of one time bucket.

A summary is a dict of numpy arrays whose shapes depend only on the model's
layout (features, bins, classes), never on how many rows it holds. A field is
additive (merged by an element-wise sum) or, declared ``reduce="max"``, a maximum
of non-negative values (merged by an element-wise maximum; an empty bucket's 0 is
its identity), so the summary of concatenated rows equals the merge of the
summaries of its parts (property-tested in ``tests/summary``).

The fields are declared by the components (:mod:`exporter.components`), each
under its own namespace (``drift/num_counts``); :class:`Layout` is their union.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Summary = dict[str, np.ndarray]


@dataclass(frozen=True)
class FieldSpec:
    shape: tuple[int, ...]
    dtype: type
    #: How two summaries of the field merge: "sum", or "max" (non-negative values).
    reduce: str = "sum"


def merge_into(merged: Summary, fields: Mapping[str, np.ndarray], maxima: frozenset[str] = frozenset()) -> None:
    """Merge ``fields`` into ``merged`` in place: sums, and the element-wise maximum of the ``maxima`` fields."""
    for name, array in fields.items():
        if name in maxima:
            merged[name] = np.maximum(merged[name], array)
        else:
            merged[name] += array


#: Separates a component's namespace from its field name in a layout key.
SEP = "/"


def key(namespace: str, name: str) -> str:
    return f"{namespace}{SEP}{name}"


class Layout:
    """Names (``namespace/field``), shapes and dtypes of the fields of one model's bucket summary."""

    def __init__(self, fields: Mapping[str, FieldSpec]):
        self.fields = dict(fields)
        #: The fields merged by their maximum.
        self.maxima = frozenset(name for name, spec in self.fields.items() if spec.reduce == "max")

    def empty(self, lead: tuple[int, ...] = ()) -> Summary:
        return {name: np.zeros(lead + spec.shape, dtype=spec.dtype) for name, spec in self.fields.items()}

    def signature(self) -> list[tuple[str, tuple[int, ...], str]]:
        return [(name, spec.shape, np.dtype(spec.dtype).str) for name, spec in sorted(self.fields.items())]


def merge(a: Summary, b: Summary, maxima: frozenset[str] = frozenset()) -> Summary:
    """The summary of the rows of ``a`` and ``b`` together (the ``maxima`` fields by their maximum)."""
    with np.errstate(over="ignore"):  # absurd values (1e308) may sum to inf, which is what they are
        return {name: np.maximum(a[name], b[name]) if name in maxima else a[name] + b[name] for name in a}


@dataclass(frozen=True)
class Groups:
    """The group of each row of a batch: the batch is summarised once, one summary per group.

    Every field of such a summary has a leading axis of ``count``. The window store puts rows that
    share a bucket in every window in one group (while tailing a live log, usually all of a batch).
    """

    #: Group of each row, in ``[0, count)``; None when every row is in group 0.
    of_row: np.ndarray | None = None
    count: int = 1

    def take(self, rows: np.ndarray | slice) -> Groups:
        return self if self.of_row is None else Groups(self.of_row[rows], self.count)

    def rows(self, n: int, where: np.ndarray | None = None) -> np.ndarray:
        """Rows per group (those where ``where`` holds): shape ``(count,)``, int64."""
        if self.of_row is None:
            return np.array([n if where is None else int(np.count_nonzero(where))], dtype=np.int64)
        groups = self.of_row if where is None else self.of_row[where]
        return np.bincount(groups, minlength=self.count).astype(np.int64)

    def maxima(self, values: np.ndarray) -> np.ndarray:
        """The largest of ``values`` (non-negative, one per row) per group, 0 for a group without rows: ``(count,)``."""
        out = np.zeros(self.count)
        if values.size:
            np.maximum.at(out, np.zeros(values.size, dtype=np.intp) if self.of_row is None else self.of_row, values)
        return out

    def sums(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` (one per row, or ``(n, m)`` for ``m`` sums at once) per group: ``(count, ...)``."""
        if self.of_row is None:
            return values.sum(axis=0, dtype=np.float64)[None]
        if values.ndim == 1:
            return np.bincount(self.of_row, weights=values, minlength=self.count)
        return np.stack([np.bincount(self.of_row, weights=column, minlength=self.count) for column in values.T],
                        axis=1)

    def counts(self, index: np.ndarray, n_bins: int, weights: np.ndarray | None = None) -> np.ndarray:
        """Rows (or sums of ``weights``) per group and bin of ``index`` (a bin per row, -1: skipped):
        ``(count, n_bins)``."""
        return grouped_counts(index[None, :], n_bins, self, None if weights is None else weights[None, :])[:, 0]


#: Every row in one group.
ONE_GROUP = Groups()


def _flat_index(index: np.ndarray, n_bins: int, groups: Groups) -> np.ndarray:
    """Each value's position in a ``(groups, k, n_bins + 1)`` array; slot 0 of each row takes the skipped (-1)."""
    k, _ = index.shape
    stride = n_bins + 1
    offsets = (np.arange(k, dtype=np.int64) * stride + 1)[:, None]
    if groups.of_row is not None:
        offsets = offsets + (groups.of_row.astype(np.int64) * (k * stride))[None, :]
    return (index + offsets).ravel()


def _counted(flat: np.ndarray, shape: tuple[int, int, int], weights: np.ndarray | None) -> np.ndarray:
    g, k, n_bins = shape
    counts = np.bincount(flat, weights=None if weights is None else weights.ravel(), minlength=g * k * (n_bins + 1))
    dtype = np.float64 if weights is not None else np.int64
    return counts.reshape(g, k, n_bins + 1)[:, :, 1:].astype(dtype, copy=False)


def grouped_counts(index: np.ndarray, n_bins: int, groups: Groups, weights: np.ndarray | None = None) -> np.ndarray:
    """Counts (or sums of ``weights``) per group, row of ``index`` and bin: shape ``(groups.count, k, n_bins)``.

    ``index`` has shape ``(k, n)``: a bin per value, or -1 to skip it. One ``np.bincount`` over
    all ``k`` rows and every group at once, with slot 0 of each row as the bin of skipped values.
    """
    k, n = index.shape
    if k == 0 or n == 0:
        return np.zeros((groups.count, k, n_bins), dtype=np.float64 if weights is not None else np.int64)
    return _counted(_flat_index(index, n_bins, groups), (groups.count, k, n_bins), weights)


def counts_and_sums_by_row(codes: Sequence[np.ndarray], n_bins: int, groups: Groups,
                           weights: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rows, and sums of ``weights``, per group, code row and bin: shape ``(groups.count, k, n_bins)`` each.

    Each of the ``k`` rows of codes (in ``[0, n_bins)``, none skipped) and of weights is an array of its own:
    a feature's bins as binned and its values as read, none copied into one array. Counted row by row,
    each row's bins while they are small (int16) and in the cache: a quarter less time than one
    ``np.bincount`` over all of them placed in one array of positions.
    """
    shape = (groups.count, len(codes), n_bins)
    counts, sums = np.empty(shape, dtype=np.int64), np.empty(shape)
    for row, (code, values) in enumerate(zip(codes, weights, strict=True)):
        if groups.of_row is None:
            counts[0, row] = np.bincount(code, minlength=n_bins)
            sums[0, row] = np.bincount(code, values, minlength=n_bins)
        else:
            at = code + groups.of_row * n_bins
            counts[:, row] = np.bincount(at, minlength=groups.count * n_bins).reshape(-1, n_bins)
            sums[:, row] = np.bincount(at, values, minlength=groups.count * n_bins).reshape(-1, n_bins)
    return counts, sums
