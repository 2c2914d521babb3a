"""Jensen-Shannon distance on the coarse deciles or the categories."""

from __future__ import annotations

import math

import numpy as np

from exporter.stats.methods.base import DriftMethod, Null, proportions, register, row_proportions


def jensen_shannon(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Jensen-Shannon *distance* (natural log, as scipy's default), in ``[0, sqrt(ln 2)]``."""
    p = proportions(reference_counts)
    q = proportions(current_counts)
    m = 0.5 * (p + q)

    def _kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log(a[nz] / m[nz])))

    value = 0.5 * (_kl(p) + _kl(q))
    return math.sqrt(max(value, 0.0))


def jensen_shannon_rows(reference_counts: np.ndarray, current_counts: np.ndarray) -> np.ndarray:
    """:func:`jensen_shannon` of each row of ``current_counts`` (windows by bins) against one reference."""
    p = proportions(reference_counts)[None, :]
    q = row_proportions(current_counts)
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum(axis=1)
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0).sum(axis=1)
    return np.sqrt(np.maximum(0.5 * (kl_p + kl_q), 0.0))


JENSEN_SHANNON = register(DriftMethod(
    name="js",
    title="Jensen-Shannon distance",
    statistic=lambda reference, counts, sums: jensen_shannon(reference.counts, counts),
    rows=lambda reference, counts, sums: jensen_shannon_rows(reference.counts, counts),
    kinds=frozenset({"numeric", "categorical"}),
    fine=False,
    null=Null.MULTINOMIAL,
    default_threshold=0.1,
    default_min_effect=0.05,
    aliases=("jensen_shannon", "jensenshannon"),
    # For small differences JS^2 is Pearson's chi-square over 8 times the window's size (natural log).
    asymptote=lambda x2, n: np.sqrt(x2 / (8 * n)),
    origin="NannyML jensen_shannon, Evidently jensenshannon",
), __name__)
