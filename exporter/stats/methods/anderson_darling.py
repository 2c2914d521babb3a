"""k-sample Anderson-Darling test of two samples (Evidently's ``anderson``: ``scipy.stats.anderson_ksamp``)."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from exporter.stats.methods.base import Bins, DriftMethod, Null, each_row, register
from exporter.stats.methods.points import blocks

#: Scholz and Stephens (1987), table 2: the interpolation of the critical values, and their significance levels.
_B0 = np.array([0.675, 1.281, 1.645, 1.96, 2.326, 2.573, 3.085])
_B1 = np.array([-0.245, 0.25, 0.678, 1.149, 1.822, 2.364, 3.615])
_B2 = np.array([-0.105, -0.305, -0.362, -0.391, -0.396, -0.345, -0.154])
_SIGNIFICANCE = np.array([0.25, 0.1, 0.05, 0.025, 0.01, 0.005, 0.001])


@lru_cache(maxsize=256)
def _harmonic_terms(n: int) -> tuple[float, float]:
    """``h`` and ``g`` of the statistic's variance for ``n`` values in all."""
    hs_cs = np.cumsum(1.0 / np.arange(n - 1, 1, -1))
    return float(hs_cs[-1] + 1), float(np.sum(hs_cs / np.arange(2, n)))


#: Points at which a bin of distinct values is summed, at most (every value up to this many).
NODES = 64


def _midrank_statistic(a: np.ndarray, c: np.ndarray, tied: np.ndarray) -> float:
    """Scholz and Stephens' ``A2akN`` (their equation 7, the midrank form of ``anderson_ksamp``) of two samples
    counted per fine bin: a bin of ties is one distinct value; in any other bin the values are distinct and the
    samples interleave evenly, and the sum over its values is taken at up to :data:`NODES` evenly spaced points."""
    sizes = (float(a.sum()), float(c.sum()))
    n = sizes[0] + sizes[1]
    t = a + c
    before = np.cumsum(t) - t
    a_before, c_before = np.cumsum(a) - a, np.cumsum(c) - c
    # Single values (ties): l = t, B = before + t / 2, M = before in the sample + half its own.
    single = tied & (t > 0)
    spread = ~tied & (t > 0)
    nodes = np.where(spread, np.minimum(t, NODES), 0).astype(np.int64)
    bin_of = np.repeat(np.arange(t.size), nodes)
    u = (np.arange(bin_of.size) - np.repeat(np.cumsum(nodes) - nodes, nodes) + 0.5) / nodes[bin_of]
    weight = np.concatenate([t[single], (t / np.maximum(nodes, 1))[bin_of]])
    ties = np.concatenate([t[single], np.ones(bin_of.size)])
    b = np.concatenate([before[single] + t[single] / 2, before[bin_of] + u * t[bin_of]])
    total = 0.0
    for own, own_before, size in ((a, a_before, sizes[0]), (c, c_before, sizes[1])):
        m = np.concatenate([own_before[single] + own[single] / 2, own_before[bin_of] + u * own[bin_of]])
        inner = ties / n * (n * m - b * size) ** 2 / (b * (n - b) - n * ties / 4.0)
        total += float(np.sum(weight / ties * inner)) / size
    return total * (n - 1.0) / n


def anderson_darling(reference: Bins, counts: np.ndarray, sums: np.ndarray | None) -> tuple[float, float]:
    """``(A2, p)``: the standardised midrank statistic of Scholz and Stephens and its significance level,
    interpolated and capped to [0.001, 0.25] as ``scipy.stats.anderson_ksamp`` does (its default, midrank
    variant), from the fine bins (:mod:`~exporter.stats.methods.points`)."""
    blk = blocks(reference, counts)
    a, c = blk.reference, blk.current
    if np.count_nonzero(a + c) < 2 and bool(blk.tied[np.flatnonzero(a + c)].all()):
        return 0.0, float(_SIGNIFICANCE.max())  # one value in all: no difference to measure
    sizes = (float(a.sum()), float(c.sum()))
    n_all = round(sum(sizes))
    statistic = _midrank_statistic(a, c, blk.tied)
    k = 2
    big_h = sum(1.0 / s for s in sizes)
    h, g = _harmonic_terms(n_all)
    # The statistic's variance under the null (Scholz and Stephens, equation 4), as scipy computes it.
    c3 = (4 * g - 6) * (k - 1) + (10 - 6 * g) * big_h
    c2 = (2 * g - 4) * k ** 2 + 8 * h * k + (2 * g - 14 * h - 4) * big_h - 8 * h + 4 * g - 6
    c1 = (6 * h + 2 * g - 2) * k ** 2 + (4 * h - 4 * g + 6) * k + (2 * h - 6) * big_h + 4 * h
    c0 = (2 * h + 6) * k ** 2 - 4 * h * k
    n = float(n_all)
    variance = (c3 * n ** 3 + c2 * n ** 2 + c1 * n + c0) / ((n - 1.0) * (n - 2.0) * (n - 3.0))
    m_k = k - 1
    a2 = (statistic - m_k) / math.sqrt(variance)
    critical = _B0 + _B1 / math.sqrt(m_k) + _B2 / m_k
    if a2 < critical.min():
        return a2, float(_SIGNIFICANCE.max())
    if a2 > critical.max():
        return a2, float(_SIGNIFICANCE.min())
    fit = np.polyfit(critical, np.log(_SIGNIFICANCE), 2)
    return a2, float(math.exp(np.polyval(fit, a2)))


ANDERSON_DARLING = register(DriftMethod(
    name="anderson",
    title="Anderson-Darling test p-value",
    statistic=lambda reference, counts, sums: anderson_darling(reference, counts, sums)[1],
    rows=each_row(lambda reference, counts, sums: anderson_darling(reference, counts, sums)[1]),
    kinds=frozenset({"numeric"}),
    fine=True,
    null=Null.PVALUE,
    default_threshold=0.1,
    default_min_effect=0.05,
    aliases=("anderson_darling",),
    origin="Evidently anderson (its p-value is capped to [0.001, 0.25], as scipy's)",
), __name__)
