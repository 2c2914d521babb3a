"""Drift statistics as pure functions of binned summaries.

Every function here takes count (and sum) arrays laid out by the reference
binning in :mod:`exporter.baseline.reference` and returns a float. None of them sees a
row. Each is checked in ``tests/test_statistics.py`` against the exact
implementation in scipy on the same data.

Numeric layout (length ``B + 2``): index 0 counts values below the reference
minimum, indices ``1..B`` the ``B`` reference quantile bins, index ``B + 1``
values above the reference maximum. Categorical layout: one count per known
reference category followed by one count of unseen categories.
"""

from __future__ import annotations

import math

import numpy as np

#: Floor used for empty bins in PSI, JS and chi2 expectations (as Evidently).
EMPTY_BIN_FLOOR = 1e-4
#: Minimum reference standard deviation used to normalise the Wasserstein
#: distance, so a constant reference column does not divide by zero.
MIN_REFERENCE_STD = 1e-3


def _proportions(counts: np.ndarray) -> np.ndarray:
    total = float(counts.sum())
    if total <= 0:
        raise ValueError("cannot compute a distribution of zero observations")
    return counts.astype(np.float64) / total


def ks_statistic(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov D from counts on shared bins.

    The empirical CDFs are compared at every bin edge. Within one bin both CDFs
    are monotone, so the supremum inside a bin exceeds the larger of the values
    at its edges by at most ``min(p_i, q_i)``, the smaller of the two masses in
    that bin. With ``B`` reference quantile bins every reference mass is
    ``1/B`` on continuous data, so the binned D is within ``1/B`` of the exact
    D (and exact in the out-of-range bins, where the reference has no mass).
    """
    p = np.cumsum(_proportions(reference_counts))
    q = np.cumsum(_proportions(current_counts))
    return min(1.0, float(np.max(np.abs(p - q))))  # rounding may reach 1 + 1e-16


def psi(reference_counts: np.ndarray, current_counts: np.ndarray, floor: float = EMPTY_BIN_FLOOR) -> float:
    """Population stability index ``sum((q - p) * ln(q / p))``, empty bins floored."""
    p = np.maximum(_proportions(reference_counts), floor)
    q = np.maximum(_proportions(current_counts), floor)
    return float(np.sum((q - p) * np.log(q / p)))


def jensen_shannon(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Jensen-Shannon *distance* (natural log, as scipy's default), in ``[0, sqrt(ln 2)]``."""
    p = _proportions(reference_counts)
    q = _proportions(current_counts)
    m = 0.5 * (p + q)

    def _kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log(a[nz] / m[nz])))

    value = 0.5 * (_kl(p) + _kl(q))
    return math.sqrt(max(value, 0.0))


def psi_rows(reference_counts: np.ndarray, current_counts: np.ndarray, floor: float = EMPTY_BIN_FLOOR) -> np.ndarray:
    """:func:`psi` of each row of ``current_counts`` (windows by bins) against one reference."""
    p = np.maximum(_proportions(reference_counts), floor)
    q = np.maximum(current_counts / current_counts.sum(axis=1, keepdims=True), floor)
    return np.sum((q - p) * np.log(q / p), axis=1)


def jensen_shannon_rows(reference_counts: np.ndarray, current_counts: np.ndarray) -> np.ndarray:
    """:func:`jensen_shannon` of each row of ``current_counts`` (windows by bins) against one reference."""
    p = _proportions(reference_counts)[None, :]
    q = current_counts / current_counts.sum(axis=1, keepdims=True)
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum(axis=1)
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0).sum(axis=1)
    return np.sqrt(np.maximum(0.5 * (kl_p + kl_q), 0.0))


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
    their CDFs cross there, it can be off by a little: see the README's accuracy table for the
    bound measured on a battery of distributions (and tested in tests/test_properties.py).
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


def chi2_pvalue(reference_counts: np.ndarray, current_counts: np.ndarray, floor: float = EMPTY_BIN_FLOOR) -> float:
    """p-value of Pearson's chi-square goodness-of-fit test of the current counts.

    Expected counts are the reference proportions (empty categories floored, so
    a category unseen in the reference yields a huge statistic, not a division
    by zero) scaled to the current total. Categories empty on both sides are
    dropped. Drift is a *small* p-value.
    """
    keep = (reference_counts > 0) | (current_counts > 0)
    ref = reference_counts[keep]
    cur = current_counts[keep].astype(np.float64)
    if ref.size < 2:
        return 1.0
    p = np.maximum(_proportions(ref), floor)
    p = p / p.sum()
    expected = p * cur.sum()
    statistic = float(np.sum((cur - expected) ** 2 / expected))
    from exporter.stats.distributions import chi2_sf  # scipy.special: imported where chi2 is used

    return chi2_sf(statistic, ref.size - 1)


__all__ = [
    "EMPTY_BIN_FLOOR",
    "MIN_REFERENCE_STD",
    "chi2_pvalue",
    "jensen_shannon",
    "ks_statistic",
    "psi",
    "wasserstein_normed",
]
