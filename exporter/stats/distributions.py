"""Quantiles and tail probabilities of the binomial, chi-square and normal laws, without ``scipy.stats``.

``scipy.stats`` takes about 0.7 s and 40 MiB to import, more than binning a million rows, and the
monitor needs four of its functions; even ``scipy.special`` costs about 0.2 s and 15 MiB. So:

- the normal quantile comes from the standard library (``statistics.NormalDist``);
- the chi-square's upper quantiles for whole degrees of freedom (the drift calibration's) from its
  closed-form tail; other chi-square quantiles and the tail probability from the special functions
  ``scipy.stats`` itself calls (``gammaincinv``, ``chdtrc``), imported where needed;
- the binomial quantile as ``binom.ppf`` defines it (the smallest ``k`` with ``P(X <= k) >= q``) from
  ``bdtr``; :func:`binom_quantile_at_most` tells by a Chernoff bound where it is certainly below a
  limit and need not be computed at all (the data-quality limits of every large window).

Each is checked against ``scipy.stats`` in ``tests/test_distributions.py``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from types import ModuleType

import numpy as np


def _special() -> ModuleType:
    from scipy import special

    return special


def chi2_ppf(q: float | Sequence[float] | np.ndarray, dof: float) -> np.ndarray:
    """``scipy.stats.chi2.ppf(q, dof)``: for whole degrees of freedom and ``q >= 0.5`` (the drift calibration's
    upper quantiles) from the closed-form tail (:func:`_chi2_sf_whole`), elsewhere from ``scipy.special``."""
    q = np.asarray(q, dtype=np.float64)
    if float(dof) == int(dof) >= 1 and np.all((q >= 0.5) & (q < 1)):
        return np.vectorize(lambda level: _chi2_ppf_whole(float(level), int(dof)), otypes=[np.float64])(q)
    return 2 * _special().gammaincinv(dof / 2, q)


def _chi2_sf_whole(x: float, dof: int, log_gammas: tuple[np.ndarray, np.ndarray]) -> float:
    """``P(X > x)`` for a chi-square of whole ``dof``, as sums of positive terms: with ``h = x / 2``,
    ``exp(-h) sum_{j < dof/2} h^j / j!`` for even ``dof``, ``erfc(sqrt(h)) + exp(-h) sum_j h^(j-1/2) / (j-1/2)!``
    (``j = 1 .. (dof-1)/2``) for odd. ``log_gammas``: each term's power and log-gamma (:func:`_chi2_terms`)."""
    if x <= 0:
        return 1.0
    h = x / 2
    power, log_gamma = log_gammas
    tail = float(np.exp(power * math.log(h) - h - log_gamma).sum()) if power.size else 0.0
    return tail if dof % 2 == 0 else math.erfc(math.sqrt(h)) + tail


def _chi2_terms(dof: int) -> tuple[np.ndarray, np.ndarray]:
    power = np.arange(dof // 2, dtype=np.float64) if dof % 2 == 0 else np.arange(1, (dof - 1) // 2 + 1) - 0.5
    return power, np.array([math.lgamma(v + 1) for v in power.tolist()])


def _chi2_ppf_whole(q: float, dof: int) -> float:
    """The ``x`` with ``P(X > x) = 1 - q``: Newton steps from the Wilson-Hilferty approximation, kept inside
    the bracket the tail has shown so far (bisection when a step leaves it). Within about 5e-14 of scipy
    up to 10,000 degrees (the error of the terms' log-gammas; tests/test_distributions.py)."""
    target = 1 - q
    terms = _chi2_terms(dof)
    half = dof / 2
    log_norm = half * math.log(2) + math.lgamma(half)
    c = 2 / (9 * dof)
    x = max(dof * (1 - c + norm_ppf(q) * math.sqrt(c)) ** 3, 1e-300)
    low, high = 0.0, math.inf
    for _ in range(200):
        tail = _chi2_sf_whole(x, dof, terms)
        if tail > target:
            low = x
        else:
            high = x
        density = math.exp((half - 1) * math.log(x) - x / 2 - log_norm)
        step = x + (tail - target) / density if density > 0 else math.nan
        if not low < step < high:
            step = (low + high) / 2 if math.isfinite(high) else 2 * x
        if abs(step - x) <= 1e-15 * x:
            return step
        x = step
    return x


def chi2_sf(x: float, dof: float) -> float:
    """``scipy.stats.chi2.sf(x, dof)``: the chance of a chi-square of ``dof`` degrees above ``x``."""
    return float(_special().chdtrc(dof, x))


def norm_ppf(q: float) -> float:
    """``scipy.stats.norm.ppf(q)``, to a few units in the last place: the standard library's
    ``NormalDist.inv_cdf`` (Wichura's AS241, where scipy's ``ndtri`` is Cephes' rational approximation)."""
    return statistics.NormalDist().inv_cdf(q)


def binom_quantile_at_most(q: float, n: int, p: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Where the ``q`` quantile of ``Binomial(n, p)`` is certainly at most ``k`` (False: it may not be).

    The quantile is at most ``k`` when ``P(X > k) <= 1 - q``; by the Chernoff bound
    ``P(X >= t) <= exp(-n D(t/n || p))`` (D the Kullback-Leibler divergence of two Bernoulli laws, for
    ``t/n > p``) that holds whenever ``n D((k + 1)/n || p) >= -log(1 - q)``. A small margin keeps
    rounding on the safe side. Cheap, and no special function: for a rate well below a limit in a
    large window, the answer without the quantile.
    """
    p = np.asarray(p, dtype=np.float64)
    k = np.broadcast_to(np.asarray(k, dtype=np.float64), p.shape)
    a = (k + 1) / n
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        tail_a = np.where(a < 1, (1 - a) * (np.log1p(-a) - np.log1p(-p)), 0.0)
        divergence = a * (np.log(a) - np.log(p)) + tail_a
        certain = (a > p) & (p >= 0) & (n * divergence >= -math.log1p(-q) * (1 + 1e-9) + 1e-12)
    return (k >= n) & (p >= 0) & (p <= 1) | certain


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
    special = _special()
    with np.errstate(invalid="ignore"):  # a rate outside [0, 1] (or NaN) has no quantile: NaN, as in scipy
        sd = np.sqrt(n * p * (1 - p))
    k = np.clip(np.floor(n * p + norm_ppf(q) * sd), 0, n)
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
    special = _special()
    with np.errstate(invalid="ignore"):
        vals = np.ceil(special.bdtrik(q, n, p))
    vals = np.where(np.isnan(vals), np.where(p >= 1, n, 0), vals)  # p = 0 or 1: no spread
    vals = np.clip(vals, 0, n)
    below = np.maximum(vals - 1, 0)
    return np.where((special.bdtr(below, n, p) >= q) & (vals > 0), below, vals)
