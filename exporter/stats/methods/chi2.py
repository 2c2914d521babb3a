"""Pearson's chi-square goodness of fit of the window's counts against the reference's shares."""

from __future__ import annotations

import numpy as np

from exporter.stats.methods.base import EMPTY_BIN_FLOOR, DriftMethod, Null, each_row, goodness_of_fit_counts, register


def chi2_pvalue(reference_counts: np.ndarray, current_counts: np.ndarray, floor: float = EMPTY_BIN_FLOOR) -> float:
    """p-value of Pearson's chi-square goodness-of-fit test of the current counts.

    Expected counts are the reference proportions (empty categories floored, so
    a category unseen in the reference yields a huge statistic, not a division
    by zero) scaled to the current total. Categories empty on both sides are
    dropped. Drift is a *small* p-value.
    """
    counts = goodness_of_fit_counts(reference_counts, current_counts, floor)
    if counts is None:
        return 1.0
    observed, expected = counts
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    from exporter.stats.distributions import chi2_sf  # scipy.special: imported where chi2 is used

    return chi2_sf(statistic, observed.size - 1)


CHI2 = register(DriftMethod(
    name="chi2",
    title="chi-square test p-value",
    statistic=lambda reference, counts, sums: chi2_pvalue(reference.counts, counts),
    rows=each_row(lambda reference, counts, sums: chi2_pvalue(reference.counts, counts)),
    kinds=frozenset({"numeric", "categorical"}),
    fine=False,
    null=Null.PVALUE,
    range_bins=False,
    default_threshold=0.05,
    default_min_effect=0.05,
    aliases=("chisquare",),
    origin="NannyML chi2, Evidently chisquare",
), __name__)
