"""Student's two-sample t-test of the means (Evidently's ``t_test``: ``scipy.stats.ttest_ind``, pooled variance)."""

from __future__ import annotations

import math

import numpy as np

from exporter.stats.methods.base import Bins, DriftMethod, Null, each_row, register
from exporter.stats.methods.points import bin_means


def t_pvalue(reference: Bins, counts: np.ndarray, sums: np.ndarray | None) -> float:
    """Two-sided p-value of the pooled-variance t-test of the reference's values against the window's.

    Both means are exact (from the sums), and so is the reference's variance (its standard deviation). The
    window's variance comes from its fine bins, each bin's values at their mean: exact where a bin holds one
    value (a feature of at most 100 distinct values), otherwise short of the spread inside the bins, so it is
    scaled by how much the same binning understates the reference's own variance.
    """
    if reference.edges is None or reference.sums is None or sums is None:
        raise ValueError("the t-test reads the fine bins and their sums")
    n1, n2 = float(reference.counts.sum()), float(counts.sum())
    if n1 < 2 or n2 < 2:
        return 1.0
    mean1, mean2 = float(reference.sums.sum()) / n1, float(sums.sum()) / n2
    binned1 = _binned_variance(reference.edges, reference.counts, reference.sums, mean1)
    binned2 = _binned_variance(reference.edges, counts, sums, mean2)
    exact1 = reference.std ** 2
    var2 = binned2 * (exact1 / binned1) if binned1 > 0 else binned2
    # Sample variances (ddof 1) pooled, as scipy.stats.ttest_ind(equal_var=True).
    pooled = (n1 * exact1 + n2 * var2) / (n1 + n2 - 2)
    if pooled <= 0:
        return 1.0 if mean1 == mean2 else 0.0
    t = (mean1 - mean2) / math.sqrt(pooled * (1 / n1 + 1 / n2))
    from scipy.special import stdtr

    return float(min(1.0, 2 * stdtr(n1 + n2 - 2, -abs(t))))


def _binned_variance(edges: np.ndarray, counts: np.ndarray, sums: np.ndarray, mean: float) -> float:
    """Population variance of the values taken at their bins' means."""
    means = bin_means(edges, counts, sums)
    return float(np.sum(counts * (means - mean) ** 2) / counts.sum())


T_TEST = register(DriftMethod(
    name="t_test",
    title="Student's t-test p-value",
    statistic=t_pvalue,
    rows=each_row(t_pvalue),
    kinds=frozenset({"numeric"}),
    fine=True,
    null=Null.PVALUE,
    default_threshold=0.05,
    default_min_effect=0.05,
    aliases=("ttest",),
    origin="Evidently t_test",
), __name__)
