"""Two-sample Cramér-von Mises test (Evidently's ``cramer_von_mises``; ``scipy.stats.cramervonmises_2samp`` on
values without ties).

The statistic is Anderson's (1962) ``T = nx ny / N**2 * sum over the pooled values of (F_x - F_y)**2``, the two
empirical CDFs at each value. Without ties it equals scipy's rank form, ``U / (nx ny N) - (4 nx ny - 1) / (6 N)``;
with ties scipy's rank form (midranks) grows with the ties *within* a sample, so two samples of one Poisson law
get p = 1e-9 there, while the CDF form, summed over the distinct values weighted by their ties, stays the
statistic of the two distributions (as R's ``twosamples::cvm_test``). The p-value is scipy's asymptotic one.
"""

from __future__ import annotations

import math

import numpy as np

from exporter.stats.methods.base import Bins, DriftMethod, Null, each_row, register
from exporter.stats.methods.points import blocks


def cramer_von_mises(reference: Bins, counts: np.ndarray, sums: np.ndarray | None) -> tuple[float, float]:
    """``(T, p)`` from the fine bins (:mod:`~exporter.stats.methods.points`): a bin of ties adds its values times the
    squared CDF gap after it; in any other bin the samples interleave evenly, so both CDFs rise linearly over its
    ``t`` values and ``sum over m = 1..t of (g + s m)**2`` is taken in closed form."""
    blk = blocks(reference, counts)
    a, c = blk.reference, blk.current
    nx, ny = float(a.sum()), float(c.sum())
    a_before, c_before = blk.before
    t = a + c
    gap = a_before / nx - c_before / ny  # F_x - F_y before the bin
    slope = np.where(t > 0, (a / nx - c / ny) / np.maximum(t, 1), 0.0)  # its rise per value inside it
    spread = t * gap ** 2 + gap * slope * t * (t + 1) + slope ** 2 * t * (t + 1) * (2 * t + 1) / 6
    tied = t * (gap + a / nx - c / ny) ** 2
    n = nx + ny
    statistic = nx * ny / n ** 2 * float(np.sum(np.where(blk.tied, tied, spread)))
    return statistic, pvalue(statistic, nx, ny)


def pvalue(t: float, nx: float, ny: float) -> float:
    """scipy's asymptotic p-value of ``T`` (Anderson 1962: its mean and variance; Csörgő and Faraway's limit)."""
    k, n = nx * ny, nx + ny
    expected = (1 + 1 / n) / 6
    variance = (n + 1) * (4 * k * n - 3 * (nx ** 2 + ny ** 2) - 2 * k) / (45 * n ** 2 * 4 * k)
    normalised = 1 / 6 + (t - expected) / math.sqrt(45 * variance)
    return 1.0 if normalised < 0.003 else max(0.0, 1.0 - cdf_cvm_inf(normalised))


def cdf_cvm_inf(x: float) -> float:
    """The limiting CDF of the Cramér-von Mises statistic (Csörgő and Faraway 1996, eq. 1.2), summed until a term
    is below 1e-7, as ``scipy.stats._hypotests._cdf_cvm_inf``."""
    from scipy.special import gammaln, kv

    total, k = 0.0, 0
    while True:
        u = math.exp(gammaln(k + 0.5) - gammaln(k + 1)) / (math.pi ** 1.5 * math.sqrt(x))
        y = 4 * k + 1
        q = y ** 2 / (16 * x)
        term = u * math.sqrt(y) * math.exp(-q) * float(kv(0.25, q))
        total += term
        if abs(term) < 1e-7:
            return total
        k += 1


CRAMER_VON_MISES = register(DriftMethod(
    name="cramer_von_mises",
    title="Cramér-von Mises test p-value",
    statistic=lambda reference, counts, sums: cramer_von_mises(reference, counts, sums)[1],
    rows=each_row(lambda reference, counts, sums: cramer_von_mises(reference, counts, sums)[1]),
    kinds=frozenset({"numeric"}),
    fine=True,
    null=Null.PVALUE,
    default_threshold=0.1,
    default_min_effect=0.05,
    aliases=("cvm",),
    origin="Evidently cramer_von_mises (with ties: the CDF form, where scipy's rank form measures the ties)",
), __name__)
