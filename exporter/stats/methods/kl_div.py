"""Kullback-Leibler divergence of the reference from the window (Evidently's ``kl_div``)."""

from __future__ import annotations

import numpy as np

from exporter.stats.methods.base import (
    EMPTY_BIN_FLOOR,
    FINE_SIZES,
    DriftMethod,
    Null,
    one_row,
    proportions,
    register,
    row_proportions,
)


def filled(shares: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The shares of the ``keep`` bins (last axis) with empty ones filled as Evidently fills them: ``1e-4``, or a
    millionth of the smallest non-empty share where that share is at most ``1e-4``; 0 elsewhere."""
    nonzero = np.where(shares > 0, shares, np.inf).min(axis=-1, keepdims=True)
    fill = np.where(nonzero <= EMPTY_BIN_FLOOR, nonzero / 1e6, EMPTY_BIN_FLOOR)
    return np.where(keep, np.where(shares > 0, shares, fill), 0.0)


def kl_div_rows(reference_counts: np.ndarray, current_counts: np.ndarray) -> np.ndarray:
    """``sum(p * ln(p / q))`` of each row of ``current_counts`` over the bins either side fills, the empty ones
    filled and both sides renormalised (``scipy.stats.entropy(p, q)`` of the filled shares, as Evidently)."""
    p0 = np.broadcast_to(proportions(reference_counts), current_counts.shape)
    q0 = row_proportions(current_counts)
    keep = (p0 > 0) | (q0 > 0)
    p = filled(p0, keep)
    q = filled(q0, keep)
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(keep, p * np.log(p / q), 0.0).sum(axis=-1)


KL_DIV = register(DriftMethod(
    name="kl_div",
    title="Kullback-Leibler divergence",
    statistic=one_row(lambda reference, counts, sums: kl_div_rows(reference.counts, counts)),
    rows=lambda reference, counts, sums: kl_div_rows(reference.counts, counts),
    kinds=frozenset({"numeric", "categorical"}),
    fine=False,
    null=Null.MULTINOMIAL,
    default_threshold=0.1,
    default_min_effect=0.05,
    aliases=("kullback_leibler",),
    # For small differences KL is Pearson's chi-square over twice the window's size, but a window with an empty bin
    # is filled at 1e-4 and jumps: simulated at every size, on a grid fine where empty bins turn rare.
    exponent=1.0,
    sizes=FINE_SIZES,
    origin="Evidently kl_div",
), __name__)
