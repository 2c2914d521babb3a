"""Mann-Whitney U test of the reference's values against the window's (Evidently's ``mannw``, two-sided)."""

from __future__ import annotations

import math

import numpy as np

from exporter.stats.methods.base import Bins, DriftMethod, Null, each_row, register
from exporter.stats.methods.points import blocks


def mann_whitney_u(reference: Bins, counts: np.ndarray, sums: np.ndarray | None) -> tuple[float, float]:
    """``(U, p)``: the reference's U statistic and the two-sided p-value of ``scipy.stats.mannwhitneyu(reference,
    window)`` by its normal approximation with tie and continuity corrections.

    A pair of values in one bin counts a half either way (ties in a single-value bin, interleaved values in
    any other: :mod:`~exporter.stats.methods.points`), so U is exact up to the order inside shared bins.
    """
    blk = blocks(reference, counts)
    a, c = blk.reference, blk.current
    n1, n2 = float(a.sum()), float(c.sum())
    n = n1 + n2
    c_before = blk.before[1]
    u1 = float(np.sum(a * (c_before + c / 2)))
    u = max(u1, n1 * n2 - u1)
    ties = np.where(blk.tied, a + c, 0.0)
    tie_term = float(np.sum(ties ** 3 - ties))
    spread = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if spread <= 0:
        return u1, 1.0
    z = (u - n1 * n2 / 2 - 0.5) / math.sqrt(spread)
    from scipy.special import ndtr

    return u1, float(min(1.0, 2 * ndtr(-z)))


MANN_WHITNEY = register(DriftMethod(
    name="mannw",
    title="Mann-Whitney U test p-value",
    statistic=lambda reference, counts, sums: mann_whitney_u(reference, counts, sums)[1],
    rows=each_row(lambda reference, counts, sums: mann_whitney_u(reference, counts, sums)[1]),
    kinds=frozenset({"numeric"}),
    fine=True,
    null=Null.PVALUE,
    default_threshold=0.05,
    default_min_effect=0.05,
    aliases=("mann_whitney", "mannwhitneyu"),
    origin="Evidently mannw (Evidently tests one side, alternative='less'; here both sides)",
), __name__)
