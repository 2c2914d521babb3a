"""Hellinger distance on the coarse deciles or the categories (NannyML's and Evidently's ``hellinger``)."""

from __future__ import annotations

import numpy as np

from exporter.stats.methods.base import DriftMethod, Null, one_row, proportions, register, row_proportions


def hellinger_rows(reference_counts: np.ndarray, current_counts: np.ndarray) -> np.ndarray:
    """``sqrt(1 - sum(sqrt(p * q)))`` of each row of ``current_counts``: 0 for equal shares, 1 for disjoint ones
    (equal to ``sqrt(sum((sqrt(p) - sqrt(q))**2) / 2)``, NannyML's form)."""
    p = proportions(reference_counts)
    q = row_proportions(current_counts)
    overlap = np.clip(np.sqrt(p * q).sum(axis=-1), 0.0, 1.0)
    return np.sqrt(1.0 - overlap)


HELLINGER = register(DriftMethod(
    name="hellinger",
    title="Hellinger distance",
    statistic=one_row(lambda reference, counts, sums: hellinger_rows(reference.counts, counts)),
    rows=lambda reference, counts, sums: hellinger_rows(reference.counts, counts),
    kinds=frozenset({"numeric", "categorical"}),
    fine=False,
    null=Null.MULTINOMIAL,
    default_threshold=0.1,
    default_min_effect=0.05,
    # H^2 ~ sum((q - p)^2 / 8p): Pearson's chi-square over 8 times the window's size, as JS^2.
    asymptote=lambda x2, n: np.sqrt(x2 / (8 * n)),
    origin="NannyML hellinger, Evidently hellinger",
), __name__)
