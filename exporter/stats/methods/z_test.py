"""Z-test of the difference of one value's share, for a feature of two values (Evidently's ``z``)."""

from __future__ import annotations

import math

import numpy as np

from exporter.stats.methods.base import DriftMethod, Null, each_row, first_against_rest, register


def z_pvalue(reference_counts: np.ndarray, counts: np.ndarray) -> float:
    """Two-sided p-value of the pooled two-proportion z-test of the first value's share against the rest."""
    (a, _), (c, _) = first_against_rest(reference_counts, counts)
    n1, n2 = float(reference_counts.sum()), float(counts.sum())
    if n1 <= 0 or n2 <= 0:
        return 1.0
    pooled = (a + c) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:  # both sides hold one and the same value
        return 1.0
    z = (a / n1 - c / n2) / math.sqrt(variance)
    from scipy.special import ndtr

    return float(min(1.0, 2 * ndtr(-abs(z))))


Z_TEST = register(DriftMethod(
    name="z",
    title="two-proportion z-test p-value",
    statistic=lambda reference, counts, sums: z_pvalue(reference.counts, counts),
    rows=each_row(lambda reference, counts, sums: z_pvalue(reference.counts, counts)),
    kinds=frozenset({"numeric", "categorical"}),
    fine=False,
    null=Null.PVALUE,
    range_bins=False,
    binary=True,
    default_threshold=0.05,
    default_min_effect=0.05,
    aliases=("z_test",),
    origin="Evidently z",
), __name__)
