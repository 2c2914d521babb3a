"""Total variation distance: half the sum of the categories' share differences (Evidently's ``TVD`` statistic)."""

from __future__ import annotations

import numpy as np

from exporter.stats.methods.base import DriftMethod, Null, one_row, proportions, register, row_proportions


def tvd_rows(reference_counts: np.ndarray, current_counts: np.ndarray) -> np.ndarray:
    """``sum |p - q| / 2`` of each row of ``current_counts``: the largest difference of any set of categories."""
    return 0.5 * np.abs(row_proportions(current_counts) - proportions(reference_counts)).sum(axis=-1)


TVD = register(DriftMethod(
    name="tvd",
    title="total variation distance",
    statistic=one_row(lambda reference, counts, sums: tvd_rows(reference.counts, counts)),
    rows=lambda reference, counts, sums: tvd_rows(reference.counts, counts),
    kinds=frozenset({"categorical"}),
    fine=False,
    null=Null.MULTINOMIAL,
    default_threshold=0.1,
    default_min_effect=0.05,
    aliases=("total_variation_distance",),
    origin="Evidently TVD (Evidently judges it by a permutation p-value; the score here is the distance)",
), __name__)
