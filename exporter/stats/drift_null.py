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
the statistic's asymptotic rate (``n^-1/2``, PSI and KL ``n^-1``). How, by what the method's
:class:`~exporter.stats.methods.Null` says:

- ``KOLMOGOROV`` (ks): Kolmogorov's exact one-sample distribution (``scipy.stats.kstwo``). It is exact
  for continuous data and conservative for discrete data and for the binned statistic (both are at
  most the continuous one), so the false-flag rate stays at or below ``alpha``.
- ``MULTINOMIAL`` (psi, js and the other distances): :data:`DRAWS` windows of each size are drawn from
  the reference's own bins (multinomial; on fine bins each drawn value sits at its bin's reference
  mean) and scored against it with the method's own vectorised form, so empty bins, floors and few
  categories are accounted for. A method whose statistic has a chi-square limit (``asymptote``: PSI
  ``~ X2/n``, JS and Hellinger ``~ sqrt(X2/8n)``) is simulated up to 1,000 values and follows the limit
  beyond; the others are simulated at every size, on the method's own grid of sizes where it has one (KL).
- ``BROWNIAN_BRIDGE`` (wasserstein): the asymptotic law ``sqrt(n) W1 -> integral |B(F(x))| dx`` (``B`` a
  Brownian bridge), simulated on the reference's quantile grid: one constant per feature, divided by
  ``sqrt(n_eff)`` and the reference standard deviation.
- ``PVALUE`` (the tests: chi2, z, g_test, fisher_exact, t_test, mannw, cramer_von_mises, anderson): a
  p-value already accounts for the window's size: drift is a p-value below ``alpha``, and the JS
  distance of the same counts at least ``min_effect`` (so that a million rows do not make a
  negligible difference significant).

The draws use a generator seeded from the feature's name and method, so a reference always gives
the same thresholds (and a baseline file the same as its reference).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from exporter.stats.methods import Bins, DriftMethod, Null, get
from exporter.stats.methods.base import MIN_REFERENCE_STD

#: Window sizes (values of the feature) at which the null quantiles are computed.
SIZES = np.array([10, 30, 100, 300, 1000, 3000, 10000, 100000], dtype=np.float64)
#: Sizes up to which a method with a chi-square asymptote is simulated; beyond, the asymptote is used.
SIMULATED_UP_TO = 1000
#: Simulated windows per size. At the default alpha (0.002) the quantile rests on 4 draws beyond it:
#: its estimation error is part of what the margin between alpha and the 1% target absorbs (the
#: measured false-flag rates are in the README).
DRAWS = 2000


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
    #: How much noisier the reference's own consecutive chunks are than independent draws (at least
    #: 1); the quantiles above already include it.
    inflation: float = 1.0

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
        return _interpolate(sizes, quantiles, n_eff)

    def threshold(self, method: str, n: int) -> float:
        """The threshold in force for a window of ``n`` values (a p-value limit for p-value methods)."""
        if get(method).is_test:
            return self.alpha
        return max(self.null_quantile(n), self.min_effect)


def _rng(name: str, method: str) -> np.random.Generator:
    digest = hashlib.blake2b(f"{name}\0{method}".encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


@cache
def _ks_quantiles(alpha: float) -> tuple[float, ...]:
    from scipy.stats import kstwo

    return tuple(float(kstwo.ppf(1 - alpha, int(n))) for n in SIZES)


def _multinomial_quantiles(reference: Bins, method: DriftMethod, levels: tuple[float, ...],
                           rng: np.random.Generator) -> np.ndarray:
    """Windows drawn from the reference's bins, scored by the method; beyond :data:`SIMULATED_UP_TO` values
    its chi-square asymptote where it has one.

    For small differences PSI, JS, Hellinger and KL are functions of Pearson's chi-square over the
    window's size, ``X2`` with one degree of freedom fewer than the bins holding reference mass. Drawn
    values of fine bins sit at their bin's reference mean (the sums the method reads). One row per
    level, one column per size.
    """
    from exporter.stats.distributions import chi2_ppf

    counts = reference.counts
    p = counts / counts.sum()
    dof = max(1, int(np.count_nonzero(p)) - 1)
    x2 = chi2_ppf([1 - level for level in levels], dof)  # the same at every size beyond the simulated ones
    means = None
    if reference.sums is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(counts > 0, reference.sums / np.maximum(counts, 1), 0.0)
    sizes = sizes_of(method)
    out = np.zeros((len(levels), sizes.size))
    for k, n in enumerate(sizes.astype(np.int64)):
        if method.asymptote is None or n <= SIMULATED_UP_TO:
            draws = rng.multinomial(n, p, size=DRAWS)
            scores = method.rows(reference, draws, None if means is None else draws * means)
            out[:, k] = np.quantile(scores, [1 - level for level in levels])
        else:
            out[:, k] = method.asymptote(np.asarray(x2), float(n))
    return np.maximum(out, 1e-12)


def _wasserstein_quantiles(edges: np.ndarray, reference_counts: np.ndarray, reference_std: float,
                           levels: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    """``c / sqrt(n) / std`` where ``c`` is the (1 - level) quantile of ``integral |B(F(x))| dx``."""
    inner = reference_counts[1:-1].astype(np.float64)
    u = np.concatenate([[0.0], np.cumsum(inner) / inner.sum()])  # the reference CDF at every edge
    steps = rng.standard_normal((DRAWS, u.size - 1)) * np.sqrt(np.diff(u))
    walk = np.concatenate([np.zeros((DRAWS, 1)), np.cumsum(steps, axis=1)], axis=1)
    bridge = np.abs(walk - u * walk[:, -1:])
    integral = ((bridge[:, :-1] + bridge[:, 1:]) / 2 * np.diff(edges)).sum(axis=1)
    c = np.quantile(integral, [1 - level for level in levels])[:, None]
    return np.maximum(c / np.sqrt(SIZES)[None, :] / max(reference_std, MIN_REFERENCE_STD), 1e-12)


def sizes_of(method: DriftMethod) -> np.ndarray:
    """The window sizes at which ``method``'s null quantiles are computed: its own, or :data:`SIZES`."""
    return SIZES if method.sizes is None else np.asarray(method.sizes, dtype=np.float64)


def _quantiles(name: str, method: DriftMethod, reference: Bins, levels: tuple[float, ...]) -> np.ndarray:
    """The null distribution's quantiles ``1 - level`` (rows) at every size of :func:`sizes_of` (columns)."""
    rng = _rng(name, method.name)
    if method.null is Null.KOLMOGOROV:
        return np.array([_ks_quantiles(level) for level in levels])
    if method.null is Null.BROWNIAN_BRIDGE:
        if reference.edges is None:
            raise ValueError(f"{method.name} needs the fine bins' edges")
        return _wasserstein_quantiles(reference.edges, reference.counts, reference.std, levels, rng)
    return _multinomial_quantiles(reference, method, levels, rng)


def _interpolate(sizes: np.ndarray, values: np.ndarray, n: float) -> float:
    return float(np.exp(np.interp(np.log(n), np.log(sizes), np.log(values))))


def calibrate(name: str, method_name: str, reference: Bins, alpha: float, min_effect: float,
              chunk_medians: dict[int, float] | None = None) -> DriftCalibration:
    """The calibrated rule of a feature from the reference's bins as its method reads them.

    ``reference`` holds the bins the method reads: fine bins (with their sums and edges) or the coarse
    deciles on numeric features, the category slots on categorical ones. ``chunk_medians`` are the median
    scores of consecutive chunks of the reference, by chunk size: where real rows come in clusters
    (sessions, households, batches) they are noisier than independent draws, and the quantiles are
    scaled up by the ratio of the chunks' median to the null median (never down), as NannyML sets
    its thresholds from the reference's own chunk-to-chunk variability.
    """
    method = get(method_name)
    present = int(reference.counts.sum())
    if method.is_test or present == 0:
        return DriftCalibration(alpha, min_effect, present, np.zeros(0), np.zeros(0), 0.5)
    quantiles, medians = _quantiles(name, method, reference, (alpha, 0.5))
    inflation = 1.0
    if chunk_medians:
        ratios = []
        for n, chunk in chunk_medians.items():
            n_eff = n * present / (n + present)
            ratios.append(chunk / _interpolate(sizes_of(method), np.maximum(medians, 1e-12), n_eff))
        # On independent rows the ratio is 1 give or take a few percent (the median of 10 to 50 chunk
        # scores); thresholds then rise by that much at most, a negligible loss of power.
        inflation = max(1.0, float(np.median(ratios)))
    return DriftCalibration(alpha, min_effect, present, sizes_of(method).copy(), quantiles * inflation, method.exponent,
                            inflation)
