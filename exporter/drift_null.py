"""Drift thresholds that know the window's size: each score's distribution when nothing drifted.

A drift score measured on ``n`` rows is noisy even when production matches the reference, and the
noise shrinks like ``1/sqrt(n)`` (``1/n`` for PSI). A fixed threshold therefore flags a large share
of small windows on stable data and, on a million rows, flags shifts too small to matter. A
calibrated feature instead counts as drifted in a window when its score exceeds both

- the ``1 - alpha`` quantile of the score's null distribution at the window's effective size
  ``n_eff = n * m / (n + m)`` (``n`` the window's values of the feature, ``m`` the reference's:
  the reference is a sample too, and the noise of a difference of two samples is that of one sample
  of ``n_eff``), so that on stable data at most ``alpha`` of feature-windows are flagged; and
- ``min_effect``, the smallest score that counts as drift at any size.

The null quantiles are computed once per feature, when the reference (or a baseline) is built, at
the sizes of :data:`SIZES`, and interpolated log-log in between; beyond the largest size they follow
the statistic's asymptotic rate (``n^-1/2``, PSI ``n^-1``). How, per method:

- ``ks``: Kolmogorov's exact one-sample distribution (``scipy.stats.kstwo``). It is exact for
  continuous data and conservative for discrete data and for the binned statistic (both are at most
  the continuous one), so the false-flag rate stays at or below ``alpha``.
- ``psi`` and ``js``: Monte Carlo up to 1,000 values. :data:`DRAWS` windows of each size are drawn
  from the reference's own binned distribution (multinomial) and scored against it with the same
  functions as production, so empty bins, floors and few categories are accounted for; beyond,
  their chi-square asymptote (``PSI ~ X2/n``, ``JS^2 ~ X2/8n``).
- ``wasserstein``: the asymptotic law ``sqrt(n) W1 -> integral |B(F(x))| dx`` (``B`` a Brownian
  bridge), simulated on the reference's quantile grid: one constant per feature, divided by
  ``sqrt(n_eff)`` and the reference standard deviation.
- ``chi2`` is a p-value, which already accounts for the window's size: drift is a p-value below
  ``alpha``, and the JS distance of the same counts at least ``min_effect`` (so that a million rows
  do not make a negligible difference significant).

The draws use a generator seeded from the feature's name and method, so a reference always gives
the same thresholds (and a baseline file the same as its reference).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from exporter import statistics

#: Window sizes (values of the feature) at which the null quantiles are computed.
SIZES = np.array([10, 30, 100, 300, 1000, 3000, 10000, 100000], dtype=np.float64)
#: Sizes up to which PSI and JS are simulated; beyond, their chi-square asymptote is used.
SIMULATED_UP_TO = 1000
#: Simulated windows per size: the 99.5% quantile then rests on 10 draws beyond it.
DRAWS = 2000
#: How the null quantile shrinks with the size beyond the computed sizes.
EXPONENT = {"ks": 0.5, "wasserstein": 0.5, "js": 0.5, "psi": 1.0}


@dataclass(frozen=True, eq=False)
class DriftCalibration:
    """A feature's calibrated drift rule: the null quantiles by size, alpha and the minimum effect."""

    alpha: float
    min_effect: float
    #: Values of the feature in the reference (the ``m`` of ``n_eff``).
    reference_values: int
    #: Null (1 - alpha) quantiles of the score at ``SIZES``; empty for p-value methods.
    sizes: np.ndarray
    quantiles: np.ndarray
    exponent: float

    def null_quantile(self, n: int) -> float:
        """The score's (1 - alpha) quantile on stable data for a window of ``n`` values."""
        m = self.reference_values
        n_eff = n * m / (n + m) if m > 0 else float(n)
        if n_eff <= 0 or not self.sizes.size:
            return math.inf
        sizes, quantiles = self.sizes, self.quantiles
        if n_eff >= sizes[-1]:
            return float(quantiles[-1] * (sizes[-1] / n_eff) ** self.exponent)
        if n_eff <= sizes[0]:
            return float(quantiles[0] * (sizes[0] / n_eff) ** self.exponent)
        return float(np.exp(np.interp(np.log(n_eff), np.log(sizes), np.log(quantiles))))

    def threshold(self, method: str, n: int) -> float:
        """The threshold in force for a window of ``n`` values (a p-value limit for p-value methods)."""
        if method == "chi2":
            return self.alpha
        return max(self.null_quantile(n), self.min_effect)


def _rng(name: str, method: str) -> np.random.Generator:
    digest = hashlib.blake2b(f"{name}\0{method}".encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


@cache
def _ks_quantiles(alpha: float) -> tuple[float, ...]:
    from scipy.stats import kstwo

    return tuple(float(kstwo.ppf(1 - alpha, int(n))) for n in SIZES)


def _multinomial_quantiles(reference_counts: np.ndarray, method: str, alpha: float,
                           rng: np.random.Generator) -> np.ndarray:
    """Simulated up to :data:`SIMULATED_UP_TO` values; beyond, the chi-square asymptote.

    For small differences both statistics are Pearson's chi-square over the window's size:
    ``PSI ~ X2 / n`` and ``JS^2 ~ X2 / (8 n)`` (natural log), ``X2`` with one degree of freedom
    fewer than the bins holding reference mass.
    """
    from scipy.stats import chi2

    p = reference_counts / reference_counts.sum()
    x2 = float(chi2.ppf(1 - alpha, max(1, int(np.count_nonzero(p)) - 1)))
    quantiles = []
    for n in SIZES.astype(np.int64):
        if n <= SIMULATED_UP_TO:
            draws = rng.multinomial(n, p, size=DRAWS)
            scores = statistics.psi_rows(reference_counts, draws) if method == "psi" else \
                statistics.jensen_shannon_rows(reference_counts, draws)
            quantiles.append(float(np.quantile(scores, 1 - alpha)))
        else:
            quantiles.append(x2 / n if method == "psi" else math.sqrt(x2 / (8 * n)))
    return np.maximum(np.array(quantiles), 1e-12)


def _wasserstein_quantiles(edges: np.ndarray, reference_counts: np.ndarray, reference_std: float, alpha: float,
                           rng: np.random.Generator) -> np.ndarray:
    """``c / sqrt(n) / std`` where ``c`` is the (1 - alpha) quantile of ``integral |B(F(x))| dx``."""
    inner = reference_counts[1:-1].astype(np.float64)
    u = np.concatenate([[0.0], np.cumsum(inner) / inner.sum()])  # the reference CDF at every edge
    steps = rng.standard_normal((DRAWS, u.size - 1)) * np.sqrt(np.diff(u))
    walk = np.concatenate([np.zeros((DRAWS, 1)), np.cumsum(steps, axis=1)], axis=1)
    bridge = np.abs(walk - u * walk[:, -1:])
    integral = ((bridge[:, :-1] + bridge[:, 1:]) / 2 * np.diff(edges)).sum(axis=1)
    c = float(np.quantile(integral, 1 - alpha))
    return np.maximum(c / np.sqrt(SIZES) / max(reference_std, statistics.MIN_REFERENCE_STD), 1e-12)


def calibrate(name: str, method: str, reference_counts: np.ndarray, alpha: float, min_effect: float,
              edges: np.ndarray | None = None, reference_std: float = 0.0) -> DriftCalibration:
    """The calibrated rule of a feature from its reference bins (``edges`` for numeric features).

    ``reference_counts`` are the bins the method reads: fine bins for ks and wasserstein, the
    coarse deciles or the categories for psi, js and chi2.
    """
    present = int(reference_counts.sum())
    if method == "chi2" or present == 0:
        return DriftCalibration(alpha, min_effect, present, np.zeros(0), np.zeros(0), 0.5)
    rng = _rng(name, method)
    if method == "ks":
        quantiles = np.array(_ks_quantiles(alpha))
    elif method == "wasserstein":
        assert edges is not None
        quantiles = _wasserstein_quantiles(edges, reference_counts, reference_std, alpha, rng)
    else:
        quantiles = _multinomial_quantiles(reference_counts, method, alpha, rng)
    return DriftCalibration(alpha, min_effect, present, SIZES.copy(), quantiles, EXPONENT[method])
