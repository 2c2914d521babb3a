"""A numeric reference's bins from its sorted values: the quantile edges (or a bin per value), the deciles among
them, and each bin's count and sum, computed without a pass per value.

The reference keeps ``FINE_BINS`` quantile bins per numeric feature (with an under- and an overflow bin), and
``COARSE_BINS`` deciles made of groups of them (:mod:`exporter.baseline.features` builds a feature from these).
"""

from __future__ import annotations

import numpy as np

#: Reference quantile bins of a numeric feature.
FINE_BINS = 200
#: Coarse bins (deciles) made of groups of fine bins.
COARSE_BINS = 10


def reference_quantiles(ordered: np.ndarray) -> np.ndarray:
    """The ``FINE_BINS + 1`` quantiles of sorted ``ordered`` (numpy's default linear interpolation).

    Every ``FINE_BINS // COARSE_BINS``-th is a decile.
    """
    position = np.linspace(0.0, 1.0, FINE_BINS + 1) * (ordered.size - 1)
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, ordered.size - 1)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def sorted_counts(edges: np.ndarray, ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts and sums of sorted ``ordered`` in the layout of :func:`~exporter.stats.binning.bin_index`, without a pass
    per value.

    Each bin's values are summed on their own (not as differences of a running total, whose rounding
    grows with the total: values around 1e8 with a spread of 1e-3 put bin means several bins away)."""
    cuts = np.searchsorted(ordered, edges, side="left")
    cuts[-1] = np.searchsorted(ordered, edges[-1], side="right")  # the last inner bin holds the maximum
    bounds = np.concatenate([[0], cuts, [ordered.size]])
    counts = np.diff(bounds).astype(np.int64)
    sums = np.zeros(counts.size)
    filled = counts > 0
    if filled.any():
        # reduceat sums from each start to the next: empty bins left out, each filled bin ends where the next
        # filled one starts.
        with np.errstate(over="ignore"):  # values near the float maximum sum to inf: their statistics are absent
            sums[filled] = np.add.reduceat(ordered, bounds[:-1][filled])
    return counts, sums


def numeric_bins(quantiles: np.ndarray) -> np.ndarray:
    """Unique, increasing bin edges (at least two) from reference ``quantiles``."""
    edges = np.unique(quantiles)
    if edges.size == 1:
        edges = np.array([edges[0], edges[0]])
    return edges


def discrete_bins(distinct: np.ndarray) -> np.ndarray:
    """Edges giving each of the sorted ``distinct`` values a bin of its own, and each gap between two
    values another: ``[v_i, v_i+)``, then ``[v_i+, v_{i+1})`` (``v+`` the next float after ``v``).

    The reference CDF is flat inside every bin but at its values, so KS is exact whatever the
    current values are, and so are Wasserstein, PSI and JS when they fall on the reference's values.
    The maximum is alone in the last bin and in range; anything above it is out of range.
    """
    after = np.nextafter(distinct, np.inf)
    return np.column_stack([distinct, after]).ravel()


def coarse_starts(edges: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Start indices (into the ``B + 2`` layout of ``edges``) of the coarse bins: the deciles among ``quantiles``."""
    coarse_edges = np.unique(quantiles[:: FINE_BINS // COARSE_BINS])
    positions = np.searchsorted(edges, coarse_edges[:-1], side="left")
    starts = np.concatenate([[0], 1 + positions, [len(edges)]])
    return np.unique(starts).astype(np.intp)


#: Beyond this magnitude a value's square overflows float64 (1.8e308), and np.std with it.
_SQUARE_SAFE = 1e150


def population_std(values: np.ndarray) -> float:
    """np.std of finite ``values``, also where their squares overflow (values beyond 1e150 are scaled by
    the largest magnitude first, so a reference of huge numbers normalises its drift by a finite std)."""
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    if largest <= _SQUARE_SAFE:
        return float(np.std(values))
    return float(np.std(values / largest)) * largest
