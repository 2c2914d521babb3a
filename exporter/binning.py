"""Bin values against fixed edges: the exact rule, and a table lookup that gives the same answer faster.

:func:`bin_index` is the rule every bin in the monitor follows: ``B + 1`` increasing edges make
``B`` inner bins ``[edges[i-1], edges[i])`` plus an underflow bin 0 and an overflow bin ``B + 1``;
the last inner bin also holds ``edges[-1]`` (the reference maximum is in range).

``np.searchsorted`` of unsorted values into a couple of hundred edges costs about 50 ns per value
(a branchy binary search), which made binning the largest share of ingesting a row.
:class:`EdgeTable` answers most values with one multiplication and one lookup instead: the range
of the inner edges is cut into ``CELLS`` equal cells, and a cell whose neighbourhood lies inside
one bin knows its bin. Values in cells an edge passes through (a few percent on quantile edges),
and values in the tails beyond the table, are binned by :func:`bin_index` itself, so every answer
is the exact rule's (property-tested against it).
"""

from __future__ import annotations

import numpy as np

#: Cells of an :class:`EdgeTable` (int16 entries: 128 KiB per feature).
CELLS = 1 << 16
#: Edges at each end of the range an :class:`EdgeTable` leaves to :func:`bin_index` (1% of the values
#: on 200 quantile bins).
TAIL_EDGES = 2


def bin_index(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Layout index of each finite value: 0 below ``edges[0]``, ``B + 1`` above ``edges[-1]``.

    Inner bins are ``[edges[i-1], edges[i])``; the last inner bin also holds
    ``edges[-1]`` itself, so the reference maximum is in range.
    """
    index = np.searchsorted(edges, values, side="right")
    last = len(edges) - 1
    index[values == edges[-1]] = last
    return index


def bin_index_sorted(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """:func:`bin_index` of ``values`` sorted in increasing order (no NaN), by placing the edges among the
    values (one binary search per edge, not per value): a value's index is the number of edges at or
    below it."""
    first = np.searchsorted(values, edges, side="left")  # the first value at or above each edge
    index = np.cumsum(np.bincount(first, minlength=values.size + 1)[:values.size])
    index[values == edges[-1]] = len(edges) - 1
    return index


class EdgeTable:
    """:func:`bin_index` for one set of edges, by table lookup where the answer is certain.

    A value's cell is computed as ``floor((v - lo) * scale)``, which rounding may move by one
    cell at most; so a cell's entry is its bin only when the cells on either side of it are in
    the same bin too (checked at their outer boundaries: bins are monotone in the value), and -1
    otherwise. Values in cells marked -1 go to :func:`bin_index`.
    """

    def __init__(self, edges: np.ndarray):
        self.edges = np.asarray(edges, dtype=np.float64)
        self.low, self.high = float(self.edges[0]), float(self.edges[-1])
        self.outside = len(self.edges)  # the overflow bin
        # The table spans the inner edges but TAIL_EDGES at each end: a heavy tail would stretch the
        # cells of the whole range until the dense middle, where most values fall, fell in a few of them.
        tail = TAIL_EDGES if len(self.edges) > 10 * TAIL_EDGES else 0
        self.start, end = float(self.edges[tail]), float(self.edges[-1 - tail])
        span = end - self.start
        self.scale = CELLS / span if span > 0 else np.inf
        self.table: np.ndarray | None = None
        if np.isfinite(self.scale) and np.isfinite(span) and len(self.edges) < np.iinfo(np.int16).max:
            bounds = self.start + np.arange(-1, CELLS + 2) / self.scale  # boundaries of cells -1 .. CELLS
            at = bin_index_sorted(self.edges, bounds)
            # Cell c spans boundaries c+1 .. c+2 of `bounds`; its neighbours reach boundaries c .. c+3.
            same = at[:-3] == at[3:]
            # Entries 0 and CELLS + 1 stand for every value before and after the table: unsure.
            table = np.full(CELLS + 2, -1, dtype=np.int16)
            np.copyto(table[1:-1], at[1:-2], casting="unsafe", where=same)
            self.table = table

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """The :func:`bin_index` of every value (an int64 array)."""
        if self.table is None or values.size < 64:
            return bin_index(self.edges, values)
        with np.errstate(invalid="ignore", over="ignore"):
            cells = (values - self.start) * self.scale + 1.0
            np.clip(cells, 0, CELLS + 1, out=cells)
            cells[np.isnan(cells)] = 0
            cell = cells.astype(np.intp)
        index = self.table[cell].astype(np.int64)
        below = values < self.low
        above = ~(values <= self.high) & ~below  # NaN sorts last, as in searchsorted
        index[below] = 0
        index[above] = self.outside
        unsure = np.flatnonzero(index < 0)
        if unsure.size:
            index[unsure] = bin_index(self.edges, values[unsure])
        return index
