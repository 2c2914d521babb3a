"""Quantiles and tail probabilities of the binomial, chi-square and normal laws, from ``scipy.special``.

``scipy.stats`` takes about 0.7 s and 40 MiB to import, more than binning a million rows, and the
monitor needs four of its functions. These are the same special functions ``scipy.stats`` itself
calls for them (its ``chi2._ppf``, ``chi2._sf``, ``norm._ppf``; the binomial quantile as ``binom.ppf``
defines it: the smallest ``k`` with ``P(X <= k) >= q``), checked against ``scipy.stats`` in
``tests/test_distributions.py``.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def chi2_ppf(q: float | np.ndarray, dof: float) -> np.ndarray:
    """``scipy.stats.chi2.ppf(q, dof)``."""
    return 2 * special.gammaincinv(dof / 2, np.asarray(q, dtype=np.float64))


def chi2_sf(x: float, dof: float) -> float:
    """``scipy.stats.chi2.sf(x, dof)``: the chance of a chi-square of ``dof`` degrees above ``x``."""
    return float(special.chdtrc(dof, x))


def norm_ppf(q: float) -> float:
    """``scipy.stats.norm.ppf(q)``."""
    return float(special.ndtri(q))


def binom_ppf(q: float, n: int, p: np.ndarray) -> np.ndarray:
    """``scipy.stats.binom.ppf(q, n, p)`` for ``0 < q < 1``: the smallest ``k`` with ``P(X <= k) >= q``.

    Started from the normal approximation and moved one count at a time by the exact CDF
    (``bdtr``) until ``k`` is that smallest count; the few that do not settle in a handful of steps
    (small, skewed binomials) are found from ``bdtrik``, the continuous inverse of the CDF, as
    scipy's own binomial quantile did before it moved to Boost.
    """
    p = np.asarray(p, dtype=np.float64)
    if not 0 < q < 1:
        raise ValueError(f"q must be in (0, 1), not {q}")
    with np.errstate(invalid="ignore"):  # a rate outside [0, 1] (or NaN) has no quantile: NaN, as in scipy
        sd = np.sqrt(n * p * (1 - p))
    k = np.clip(np.floor(n * p + special.ndtri(q) * sd), 0, n)
    for _ in range(8):
        up = (k < n) & (special.bdtr(k, n, p) < q)
        down = (k > 0) & ~up & (special.bdtr(k - 1, n, p) >= q)
        if not (up.any() or down.any()):
            return k
        k = k + up - down
    unsettled = (k < n) & (special.bdtr(k, n, p) < q) | (k > 0) & (special.bdtr(k - 1, n, p) >= q)
    k[unsettled] = _binom_ppf_by_inverse(q, n, p[unsettled])
    return k


def _binom_ppf_by_inverse(q: float, n: int, p: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        vals = np.ceil(special.bdtrik(q, n, p))
    vals = np.where(np.isnan(vals), np.where(p >= 1, n, 0), vals)  # p = 0 or 1: no spread
    vals = np.clip(vals, 0, n)
    below = np.maximum(vals - 1, 0)
    return np.where((special.bdtr(below, n, p) >= q) & (vals > 0), below, vals)
