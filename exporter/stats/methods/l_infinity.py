"""L-infinity distance: the largest difference of one category's share (NannyML's ``l_infinity``)."""

from __future__ import annotations

import numpy as np

from exporter.stats.methods.base import DriftMethod, Null, one_row, proportions, register, row_proportions


def l_infinity_rows(reference_counts: np.ndarray, current_counts: np.ndarray) -> np.ndarray:
    """``max |p - q|`` over the categories (new values one category) of each row of ``current_counts``."""
    return np.abs(row_proportions(current_counts) - proportions(reference_counts)).max(axis=-1)


L_INFINITY = register(DriftMethod(
    name="l_infinity",
    title="L-infinity distance",
    statistic=one_row(lambda reference, counts, sums: l_infinity_rows(reference.counts, counts)),
    rows=lambda reference, counts, sums: l_infinity_rows(reference.counts, counts),
    kinds=frozenset({"categorical"}),
    fine=False,
    null=Null.MULTINOMIAL,
    default_threshold=0.1,
    default_min_effect=0.05,
    origin="NannyML l_infinity",
), __name__)
