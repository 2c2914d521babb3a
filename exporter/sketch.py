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

from collections.abc import Mapping, Sequence
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


def _flat_index(index: np.ndarray, n_bins: int, groups: Groups, placed: bool = False) -> np.ndarray:
    """Each value's position in a ``(groups, k, n_bins + 1)`` array; slot 0 of each row takes the skipped (-1).
    ``placed``: ``index`` holds the positions in group 0 already (see :func:`place`)."""
    k, _ = index.shape
    stride = n_bins + 1
    if placed:
        if groups.of_row is None:
            return index.ravel()
        return (index + (groups.of_row.astype(np.int64) * (k * stride))[None, :]).ravel()
    offsets = (np.arange(k, dtype=np.int64) * stride + 1)[:, None]
    if groups.of_row is not None:
        offsets = offsets + (groups.of_row.astype(np.int64) * (k * stride))[None, :]
    return (index + offsets).ravel()


def place(index: np.ndarray, n_bins: int, row: int, out: np.ndarray) -> None:
    """Write into ``out`` (int64) the positions of row ``row``'s bins ``index`` in group 0 of
    :func:`grouped_counts`' array: what it would compute from them, computed by a caller that makes one
    row of bins at a time, as it writes that row (one pass fewer over all of them)."""
    np.add(index, row * (n_bins + 1) + 1, out=out, casting="unsafe")


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


def placed_counts_and_sums(index: np.ndarray, n_bins: int, groups: Groups,
                           weights: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`grouped_counts` without and with weights, of positions :func:`place` wrote already; the weights
    of each row of ``index`` are an array of their own (a column of the log as it was read: no copy of them
    all into one array). The counts in one ``np.bincount``, the sums in one per row."""
    k, n = index.shape
    shape = (groups.count, k, n_bins)
    if k == 0 or n == 0:
        return np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.float64)
    counts = _counted(_flat_index(index, n_bins, groups, placed=True), shape, None)
    stride = n_bins + 1
    sums = np.empty(shape)
    for row, values in enumerate(weights):
        first = row * stride  # the row's slot 0, of skipped values
        if groups.of_row is None:
            sums[0, row] = np.bincount(index[row], values, minlength=first + stride)[first + 1:first + stride]
        else:
            at = index[row] + (groups.of_row.astype(np.int64) * stride - first)
            sums[:, row] = np.bincount(at, values, minlength=groups.count * stride).reshape(-1, stride)[:, 1:]
    return counts, sums
