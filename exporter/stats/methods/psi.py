"""Population stability index on the coarse deciles or the categories."""

from __future__ import annotations

import numpy as np

from exporter.stats.methods.base import (
    EMPTY_BIN_FLOOR,
    FINE_SIZES,
    DriftMethod,
    Null,
    proportions,
    register,
    row_proportions,
)


def psi(reference_counts: np.ndarray, current_counts: np.ndarray, floor: float = EMPTY_BIN_FLOOR) -> float:
    """Population stability index ``sum((q - p) * ln(q / p))``, empty bins floored."""
    p = np.maximum(proportions(reference_counts), floor)
    q = np.maximum(proportions(current_counts), floor)
    return float(np.sum((q - p) * np.log(q / p)))


def psi_rows(reference_counts: np.ndarray, current_counts: np.ndarray, floor: float = EMPTY_BIN_FLOOR) -> np.ndarray:
    """:func:`psi` of each row of ``current_counts`` (windows by bins) against one reference."""
    p = np.maximum(proportions(reference_counts), floor)
    q = np.maximum(row_proportions(current_counts), floor)
    return np.sum((q - p) * np.log(q / p), axis=-1)


PSI = register(DriftMethod(
    name="psi",
    title="population stability index",
    statistic=lambda reference, counts, sums: psi(reference.counts, counts),
    rows=lambda reference, counts, sums: psi_rows(reference.counts, counts),
    kinds=frozenset({"numeric", "categorical"}),
    fine=False,
    null=Null.MULTINOMIAL,
    default_threshold=0.2,
    default_min_effect=0.1,
    # For small differences PSI is Pearson's chi-square over the window's size; below 1,000 values an empty bin
    # (floored) makes it jump: simulated there on the fine grid.
    exponent=1.0,
    asymptote=lambda x2, n: x2 / n,
    sizes=FINE_SIZES,
    origin="Evidently psi",
), __name__)
