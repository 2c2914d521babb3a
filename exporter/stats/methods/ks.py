"""Kolmogorov-Smirnov: the largest gap between the two empirical CDFs, on the fine bins."""

from __future__ import annotations

import numpy as np

from exporter.stats.methods.base import DriftMethod, Null, proportions, register, row_proportions


def ks_statistic(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov D from counts on shared bins.

    The empirical CDFs are compared at every bin edge. Within one bin both CDFs
    are monotone, so the supremum inside a bin exceeds the larger of the values
    at its edges by at most ``min(p_i, q_i)``, the smaller of the two masses in
    that bin. With ``B`` reference quantile bins every reference mass is
    ``1/B`` on continuous data, so the binned D is within ``1/B`` of the exact
    D (and exact in the out-of-range bins, where the reference has no mass).
    """
    p = np.cumsum(proportions(reference_counts))
    q = np.cumsum(proportions(current_counts))
    return min(1.0, float(np.max(np.abs(p - q))))  # rounding may reach 1 + 1e-16


def ks_rows(reference_counts: np.ndarray, current_counts: np.ndarray) -> np.ndarray:
    """:func:`ks_statistic` of each row of ``current_counts`` (windows by bins)."""
    reference = np.cumsum(proportions(reference_counts))
    cdf = np.cumsum(row_proportions(current_counts), axis=-1)
    return np.minimum(1.0, np.abs(cdf - reference).max(axis=-1))


KS = register(DriftMethod(
    name="ks",
    title="Kolmogorov-Smirnov D",
    statistic=lambda reference, counts, sums: ks_statistic(reference.counts, counts),
    rows=lambda reference, counts, sums: ks_rows(reference.counts, counts),
    kinds=frozenset({"numeric"}),
    fine=True,
    null=Null.KOLMOGOROV,
    default_threshold=0.1,
    default_min_effect=0.05,
    aliases=("kolmogorov_smirnov",),
    origin="NannyML kolmogorov_smirnov (its statistic), Evidently ks (its p-value)",
), __name__)


