"""Bin values against fixed edges: the exact rule, and a table lookup that gives the same answer faster.

:func:`bin_index` is the rule every bin in the monitor follows: ``B + 1`` increasing edges make
``B`` inner bins ``[edges[i-1], edges[i])`` plus an underflow bin 0 and an overflow bin ``B + 1``;
the last inner bin also holds ``edges[-1]`` (the reference maximum is in range).

``np.searchsorted`` of unsorted values into a couple of hundred edges costs about 50 ns per value
(a branchy binary search), which made binning the largest share of ingesting a row.
:class:`EdgeTable` answers most values with one multiplication and one lookup instead: the range
of the inner edges is cut into ``CELLS`` equal cells, and a cell whose neighbourhood lies inside
one bin knows its bin. A value in a cell an edge passes through (a few percent on quantile edges),
or in the tails beyond the table, starts from the lowest bin its cell's neighbourhood reaches and
steps over the few edges at or below it there (or, where a neighbourhood holds more than
:data:`MAX_STEPS` edges, is binned by :func:`bin_index` itself), so every answer is the exact rule's
(property-tested against it).
"""

from __future__ import annotations

import numpy as np

#: Cells of an :class:`EdgeTable` (int16 entries: 128 KiB per feature).
CELLS = 1 << 16
#: Edges at each end of the range an :class:`EdgeTable` leaves to :func:`bin_index` (1% of the values
#: on 200 quantile bins).
TAIL_EDGES = 2
#: Edges an :class:`EdgeTable` steps over to bin a value its cell leaves unsure, at most; beyond, it
#: searches among all of them.
MAX_STEPS = 8


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
    the same bin too (checked at their outer boundaries: bins are monotone in the value). Otherwise
    the entry is negative, ``-1 -`` the lowest bin of that neighbourhood, from which the value's bin
    is found by stepping over the neighbourhood's edges (at most :attr:`steps` of them).
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
            at = bin_index_sorted(self.edges, bounds).astype(np.int16)  # fewer edges than int16 holds
            # Cell c spans boundaries c+1 .. c+2 of `bounds`; its neighbours reach boundaries c .. c+3.
            # An entry whose neighbourhood holds one bin is that bin; one whose neighbourhood an edge
            # crosses is unsure, and holds -1 - the bin at the neighbourhood's lower boundary: the
            # value's bin is that one or up to `steps` edges above. Entries 0 and CELLS + 1 stand for
            # every value before and after the table: from the first edge, and from boundary CELLS on.
            spread = at[3:] - at[:-3]
            self.table = np.concatenate([[-1], np.where(spread == 0, at[1:-2], -1 - at[:-3]), [-1 - at[CELLS]]],
                                        dtype=np.int16)
            self.steps = int(max(spread.max(), at[2], len(self.edges) - at[CELLS]))
            self.padded = np.append(self.edges, np.inf)

    def __call__(self, values: np.ndarray, finite: bool = False) -> np.ndarray:
        """The :func:`bin_index` of every value (an integer array); ``finite``: the caller knows every value
        is finite (no NaN to send to the first cell)."""
        if self.table is None or values.size < 64:
            return bin_index(self.edges, values)
        with np.errstate(invalid="ignore", over="ignore"):
            cells = values - self.start
            cells *= self.scale
            cells += 1.0
            np.clip(cells, 0, CELLS + 1, out=cells)
            if not finite:
                cells[np.isnan(cells)] = 0
            cell = cells.astype(np.intp)
        # int16: the table has fewer bins than int16 holds. take, not table[cell]: a quarter faster on a
        # table out of the cache (each feature's is met once a batch); every cell is in range (clipped above).
        index = self.table.take(cell, mode="clip")
        unsure = np.flatnonzero(index < 0)
        if unsure.size > values.size // 8:
            # Many values beyond the table (a drifted feature): those below and above the edges are set
            # over the whole batch, which costs less than picking them out one by one.
            below, above = self._beyond(values)
            index[below] = 0
            index[above] = self.outside
            unsure = np.flatnonzero(index < 0)
        if unsure.size:
            index[unsure] = self._unsure(values[unsure], -1 - index[unsure].astype(np.intp))
        return index

    def _unsure(self, values: np.ndarray, lower: np.ndarray) -> np.ndarray:
        """:func:`bin_index` of values whose cell did not decide, each at least in bin ``lower``: below the
        first edge, bin 0; above the last or NaN, the overflow bin; otherwise one step up per edge at or
        below the value (a binary search over every edge when a neighbourhood may hold more than
        MAX_STEPS of them)."""
        below, above = self._beyond(values)
        inside = ~(below | above)
        index = np.where(below, 0, self.outside)
        values = values[inside]
        if self.steps > MAX_STEPS:
            index[inside] = bin_index(self.edges, values)
            return index
        lower = lower[inside]
        for _ in range(self.steps):
            lower += self.padded[lower] <= values
        lower[values == self.high] = self.outside - 1  # the last inner bin holds the maximum
        index[inside] = lower
        return index

    def _beyond(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which values are below the first edge (bin 0), and which above the last or NaN (the overflow
        bin: NaN sorts last, as in searchsorted)."""
        below = values < self.low
        return below, ~(values <= self.high) & ~below
