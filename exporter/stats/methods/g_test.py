"""G-test (log-likelihood ratio) of the window's counts against the reference's shares (Evidently's ``g_test``)."""

from __future__ import annotations

import numpy as np

from exporter.stats.methods.base import EMPTY_BIN_FLOOR, DriftMethod, Null, each_row, goodness_of_fit_counts, register


def g_pvalue(reference_counts: np.ndarray, current_counts: np.ndarray, floor: float = EMPTY_BIN_FLOOR) -> float:
    """p-value of ``G = 2 sum(o ln(o / e))`` on ``k - 1`` degrees of freedom.

    As :func:`~exporter.stats.methods.chi2.chi2_pvalue`: the expected counts are the reference's shares (empty
    ones floored, so an unseen value is drift) scaled to the window's total, bins empty on both sides dropped.
    Equal to ``scipy.stats.power_divergence(o, e, lambda_="log-likelihood")``.
    """
    counts = goodness_of_fit_counts(reference_counts, current_counts, floor)
    if counts is None:
        return 1.0
    observed, expected = counts
    from scipy.special import xlogy

    from exporter.stats.distributions import chi2_sf

    statistic = 2.0 * float(np.sum(xlogy(observed, observed / expected)))
    return chi2_sf(max(statistic, 0.0), observed.size - 1)


G_TEST = register(DriftMethod(
    name="g_test",
    title="G-test p-value",
    statistic=lambda reference, counts, sums: g_pvalue(reference.counts, counts),
    rows=each_row(lambda reference, counts, sums: g_pvalue(reference.counts, counts)),
    kinds=frozenset({"numeric", "categorical"}),
    fine=False,
    null=Null.PVALUE,
    range_bins=False,
    default_threshold=0.1,
    default_min_effect=0.05,
    aliases=("g",),
    origin="Evidently g_test",
), __name__)
