"""Multivariate drift: how well the reference's main directions still describe a row (PCA reconstruction error).

As NannyML's ``DataReconstructionDriftCalculator``: each row's features are imputed (numbers with the
reference's mean, categories with its most frequent one), categories encoded as their share of the reference
(NannyML's normalised ``CountEncoder``; a category the reference never had is 0), every column standardised
with the reference's mean and standard deviation, projected on the principal components that explain
:data:`VARIANCE_SHARE` of the reference's variance and back; the row's error is the Euclidean distance between
it and its reconstruction. When the features keep their distributions but change how they move together, the
rows leave the reference's main directions and the error grows, though no single feature drifted.

Categories are the reference's tracked slots (:class:`~exporter.baseline.features.CategoricalFeature`): values
beyond ``max_categories`` share the share of that group (NannyML counts each alone).

Each row's error is computed when it is prepared and counted in the bins of a virtual numeric feature (the
reference's errors' quantiles, :attr:`Reconstruction.error`), so windows merge and restarts restore as for any
feature; a window's score is the mean error, exact from the bins' sums. Its threshold comes from the
reference's own chunk-to-chunk variability, as NannyML's (the mean plus or minus three standard deviations of
the reference's chunk means), calibrated to the window's rows: ``3 · c · sigma / √n``, where ``sigma`` is the standard
deviation of one row's error and ``c`` (at least 1) how much more the reference's consecutive chunks of 100,
300 and 1,000 rows vary than independent rows would; never closer to the mean than :data:`MIN_EFFECT` of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from exporter.baseline.features import NumericFeature, build_numeric

log = logging.getLogger(__name__)

#: The share of the reference's variance the kept components explain (NannyML's default ``n_components``).
VARIANCE_SHARE = 0.65
#: Reference rows (the first ones, in logged order) the reconstruction is fitted and calibrated on, at most.
MAX_FIT_ROWS = 100_000
#: Standard deviations of a window's mean error from the reference's mean at which it drifts (NannyML's 3).
STD_MULTIPLIER = 3.0
#: The smallest difference from the reference's mean error that counts, as a share of it.
MIN_EFFECT = 0.05
#: Consecutive reference chunks whose means measure how clustered rows are, and the fewest chunks used.
CHUNK_SIZES, MIN_CHUNKS = (100, 300, 1000), 10


@dataclass(frozen=True, eq=False)
class Reconstruction:
    """The fitted imputation, encoding, scaling and projection, and the reference's errors."""

    #: Per input (numeric features, then categorical ones): the value that imputes a missing one, before scaling.
    fill: np.ndarray
    #: Per categorical feature and slot: the slot's share of the reference (the encoding); rows of ``fill`` order.
    category_shares: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    #: ``I - WᵀW`` for the kept components ``W``, and the PCA's centre (of the standardised reference).
    residual: np.ndarray
    centre: np.ndarray
    components: int
    #: The reference's errors binned as a numeric feature (its quantile bins count the windows' errors).
    error: NumericFeature
    #: Mean and standard deviation of one reference row's error, and the clustering factor ``c``.
    error_mean: float
    error_std: float
    clustering: float

    def encoded(self, inputs: np.ndarray) -> np.ndarray:
        """Rows as :meth:`~exporter.prepare.rows.FeatureArrays.inputs` gives them (numbers, then category slots),
        imputed and encoded: the matrix that is standardised."""
        x = np.array(inputs, dtype=np.float64)
        n_cat = self.category_shares.shape[0]
        n_num = x.shape[1] - n_cat
        for j in range(n_cat):
            slots = x[:, n_num + j]
            known = np.isfinite(slots)
            shares = np.full(slots.size, self.fill[n_num + j])
            shares[known] = self.category_shares[j][slots[known].astype(np.int64)]
            x[:, n_num + j] = shares
        missing = ~np.isfinite(x[:, :n_num])
        x[:, :n_num][missing] = np.broadcast_to(self.fill[:n_num], missing.shape)[missing]
        return x

    def errors(self, inputs: np.ndarray) -> np.ndarray:
        """Each row's reconstruction error (NaN where a value is too large to standardise)."""
        with np.errstate(all="ignore"):
            standardised = (self.encoded(inputs) - self.mean) / self.scale
            errors = np.linalg.norm((standardised - self.centre) @ self.residual, axis=1)
        return np.where(np.isfinite(errors), errors, np.nan)

    def threshold_band(self, n: int) -> float:
        """How far a window's mean error of ``n`` rows may lie from the reference's before it drifts."""
        return max(STD_MULTIPLIER * self.clustering * self.error_std / np.sqrt(max(n, 1)),
                   MIN_EFFECT * self.error_mean)


def fit(inputs: np.ndarray, categorical_counts: list[np.ndarray]) -> Reconstruction | None:
    """The reconstruction learned from reference rows (``inputs`` as :meth:`Reconstruction.encoded` takes them, in
    logged order), with each categorical feature's reference counts per slot; None with fewer than two inputs
    or rows."""
    n, d = inputs.shape
    if d < 2 or n < 2:
        return None
    shares = np.zeros((len(categorical_counts), max((c.size for c in categorical_counts), default=0)))
    fill = np.zeros(d)
    n_num = d - len(categorical_counts)
    present = np.isfinite(inputs[:, :n_num])
    with np.errstate(all="ignore"):  # a column never present imputes 0 (it is constant: scaled by 1)
        fill[:n_num] = np.where(present, inputs[:, :n_num], 0.0).sum(axis=0) / np.maximum(1, present.sum(axis=0))
    for j, counts in enumerate(categorical_counts):
        present = counts.sum()
        shares[j, : counts.size] = counts / present if present else 0.0
        fill[n_num + j] = shares[j].max()  # a missing category is the most frequent one (NannyML's imputer)
    partial = Reconstruction(fill, shares, np.zeros(d), np.ones(d), np.eye(d), np.zeros(d), 0,
                             _placeholder(), 0.0, 0.0, 1.0)
    with np.errstate(all="ignore"):  # values so large that their moments overflow: no reconstruction (below)
        encoded = partial.encoded(inputs)
        mean = encoded.mean(axis=0)
        scale = encoded.std(axis=0)
        scale[scale == 0] = 1.0  # a constant input (StandardScaler's rule)
        standardised = (encoded - mean) / scale
        centre = standardised.mean(axis=0)
        centred = standardised - centre
        covariance = centred.T @ centred / (n - 1)
    if not (np.isfinite(fill).all() and np.isfinite(scale).all() and np.isfinite(covariance).all()):
        log.warning("multivariate drift: the reference's features are too large to standardise: not computed")
        return None
    eigenvalues, vectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, vectors = np.clip(eigenvalues[order], 0, None), vectors[:, order]
    ratio = np.cumsum(eigenvalues) / eigenvalues.sum() if eigenvalues.sum() > 0 else np.ones(d)
    k = min(d, int(np.searchsorted(ratio, VARIANCE_SHARE, side="right")) + 1)  # as sklearn's PCA picks it
    kept = vectors[:, :k]
    residual = np.eye(d) - kept @ kept.T
    errors = np.linalg.norm(centred @ residual, axis=1)
    error = build_numeric("multivariate reconstruction error", pd.Series(errors), "ks", 0.0)
    return Reconstruction(fill, shares, mean, scale, residual, centre, k, error, float(errors.mean()),
                          float(errors.std(ddof=1)), _clustering(errors))


def _clustering(errors: np.ndarray) -> float:
    """How much more the means of consecutive chunks vary than those of independent rows would (at least 1)."""
    sigma = float(errors.std(ddof=1))
    factors = [1.0]
    for size in CHUNK_SIZES:
        chunks = errors.size // size
        if chunks >= MIN_CHUNKS and sigma > 0:
            means = errors[: chunks * size].reshape(chunks, size).mean(axis=1)
            factors.append(float(means.std(ddof=1) * np.sqrt(size) / sigma))
    return max(factors)


def _placeholder() -> NumericFeature:
    return build_numeric("multivariate reconstruction error", pd.Series([0.0, 1.0]), "ks", 0.0)
