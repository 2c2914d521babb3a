"""Fisher's exact test of a feature of two values, on the 2x2 table of the reference and the window
(Evidently's ``fisher_exact``)."""

from __future__ import annotations

import numpy as np

from exporter.stats.methods.base import DriftMethod, Null, each_row, first_against_rest, register


def fisher_pvalue(reference_counts: np.ndarray, counts: np.ndarray) -> float:
    """Two-sided p-value of ``scipy.stats.fisher_exact`` on ((reference first, rest), (window first, rest))."""
    reference, window = first_against_rest(reference_counts, counts)
    from scipy.stats import fisher_exact

    table = np.array([reference, window]).astype(np.int64)
    return float(fisher_exact(table).pvalue)


FISHER_EXACT = register(DriftMethod(
    name="fisher_exact",
    title="Fisher's exact test p-value",
    statistic=lambda reference, counts, sums: fisher_pvalue(reference.counts, counts),
    rows=each_row(lambda reference, counts, sums: fisher_pvalue(reference.counts, counts)),
    kinds=frozenset({"numeric", "categorical"}),
    fine=False,
    null=Null.PVALUE,
    range_bins=False,
    binary=True,
    default_threshold=0.1,
    default_min_effect=0.05,
    aliases=("fisher",),
    origin="Evidently fisher_exact",
), __name__)
