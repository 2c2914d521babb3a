"""Wasserstein (earth mover's) distance over the reference's standard deviation, on the fine bins and sums."""

from __future__ import annotations

import numpy as np

from exporter.stats.methods.base import MIN_REFERENCE_STD, Bins, DriftMethod, Null, register


def wasserstein_normed(
    edges: np.ndarray,
    reference_counts: np.ndarray,
    reference_sums: np.ndarray,
    current_counts: np.ndarray,
    current_sums: np.ndarray,
    reference_std: float,
) -> float:
    """Earth mover's distance ``integral |F_ref - F_cur| dx`` over the reference std.

    Outside the reference range the reference CDF is 0 (below) or 1 (above), and the integral
    there is exact from the count and the sum of the values that fell beyond it. Inside each bin
    ``[a, b)`` each side's values are taken at their mean (known from count and sum), so both CDFs
    are steps: the integral of ``F`` over the bin is exact, and so is the result wherever the
    values of a bin sit at one point (discrete data). Where both sides spread inside a bin and
    their CDFs cross there, it can be off by a little: see the docs' accuracy table for the
    bound measured on a battery of distributions (and tested in tests/system/test_properties.py).
    """
    if float(reference_counts.sum()) <= 0 or float(current_counts.sum()) <= 0:
        raise ValueError("cannot compute a distance with zero observations")
    rows = wasserstein_normed_rows(edges, reference_counts, reference_sums, current_counts[None, :],
                                   current_sums[None, :], reference_std)
    return float(rows[0])


def wasserstein_normed_rows(
    edges: np.ndarray,
    reference_counts: np.ndarray,
    reference_sums: np.ndarray,
    current_counts: np.ndarray,
    current_sums: np.ndarray,
    reference_std: float,
) -> np.ndarray:
    """:func:`wasserstein_normed` of each row of ``current_counts`` and ``current_sums`` (windows by bins)."""
    n_r = float(reference_counts.sum())
    n_c = current_counts.sum(axis=-1, keepdims=True).astype(np.float64)
    lo, hi = float(edges[0]), float(edges[-1])
    # Below the reference minimum: F_ref = 0.
    below = (current_counts[:, :1] * lo - current_sums[:, :1]) / n_c
    # Above the reference maximum: F_ref = 1.
    above = (current_sums[:, -1:] - current_counts[:, -1:] * hi) / n_c
    left, right = edges[:-1], edges[1:]
    # CDF at each bin's left edge (everything in earlier bins, under-bin included), and each bin's mass.
    f_r = np.cumsum(reference_counts[:-1])[:-1] / n_r
    f_c = np.cumsum(current_counts[:, :-1], axis=-1)[:, :-1] / n_c
    p = reference_counts[1:-1] / n_r
    q = current_counts[:, 1:-1] / n_c
    with np.errstate(invalid="ignore", divide="ignore"):
        m_r = np.clip(np.where(p > 0, reference_sums[1:-1] / reference_counts[1:-1], left), left, right)
        m_c = np.clip(np.where(q > 0, current_sums[:, 1:-1] / current_counts[:, 1:-1], left), left, right)
    # Both CDFs as steps at their bin means: |F_ref - F_cur| before, between and after the two steps.
    first, second = np.minimum(m_r, m_c), np.maximum(m_r, m_c)
    d_before = f_r - f_c
    d_between = np.where(m_r <= m_c, f_r + p - f_c, f_r - f_c - q)
    d_after = f_r + p - f_c - q
    inner = (np.abs(d_before) * (first - left) + np.abs(d_between) * (second - first)
             + np.abs(d_after) * (right - second))
    distance = np.abs(below[:, 0]) + np.abs(above[:, 0]) + np.sum(inner, axis=-1)
    return distance / max(reference_std, MIN_REFERENCE_STD)


def _rows(reference: Bins, counts: np.ndarray, sums: np.ndarray | None) -> np.ndarray:
    assert reference.edges is not None and reference.sums is not None and sums is not None
    return wasserstein_normed_rows(reference.edges, reference.counts, reference.sums, counts, sums, reference.std)


def _statistic(reference: Bins, counts: np.ndarray, sums: np.ndarray | None) -> float:
    assert reference.edges is not None and reference.sums is not None and sums is not None
    return wasserstein_normed(reference.edges, reference.counts, reference.sums, counts, sums, reference.std)


WASSERSTEIN = register(DriftMethod(
    name="wasserstein",
    title="Wasserstein distance (reference standard deviations)",
    statistic=_statistic,
    rows=_rows,
    kinds=frozenset({"numeric"}),
    fine=True,
    null=Null.BROWNIAN_BRIDGE,
    default_threshold=0.1,
    default_min_effect=0.05,
    origin="Evidently wasserstein (normed); NannyML wasserstein is in the feature's units",
), __name__)
