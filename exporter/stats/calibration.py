"""Score calibration for CBPE: isotonic regression, used only when it helps on held-out reference data.

Confidence-based performance estimation (CBPE, as NannyML describes it)
treats a calibrated score as the probability that the row is positive. Raw
scores are often not calibrated, so an isotonic map from score to observed
positive rate is fitted on the reference. It is applied only when it lowers
the expected calibration error on held-out folds of the reference; the error of
whichever scores are used is exported, so operators know how far to trust the
estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FOLDS = 5
ECE_BINS = 10


@dataclass(frozen=True, eq=False)
class Calibrator:
    """A monotone map from raw score to probability (identity when ``xs`` is empty)."""

    xs: np.ndarray
    ys: np.ndarray

    @property
    def identity(self) -> bool:
        return self.xs.size == 0

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        if self.identity:
            return np.clip(scores, 0.0, 1.0)
        return np.interp(scores, self.xs, self.ys)


IDENTITY = Calibrator(np.zeros(0), np.zeros(0))


def fit_isotonic(scores: np.ndarray, labels: np.ndarray) -> Calibrator:
    """Isotonic regression of ``labels`` (0/1) on ``scores``; ties averaged first, as sklearn does."""
    xs, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=labels.astype(np.float64)) / counts
    from scipy.optimize import isotonic_regression  # about 1 s to import: only where a model is calibrated

    fitted = isotonic_regression(means, weights=counts.astype(np.float64), increasing=True).x
    return Calibrator(xs, np.clip(fitted, 0.0, 1.0))


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |observed positive rate - mean probability| over equal-count probability bins, weighted by size."""
    if probabilities.size == 0:
        return float("nan")
    order = np.argsort(probabilities, kind="stable")
    error = 0.0
    for part in np.array_split(order, min(bins, probabilities.size)):
        if part.size:
            error += part.size * abs(float(labels[part].mean()) - float(probabilities[part].mean()))
    return error / probabilities.size


@dataclass(frozen=True, eq=False)
class CalibrationResult:
    calibrator: Calibrator
    calibrated: bool
    #: Held-out expected calibration error of the scores as used (calibrated or raw).
    error: float
    raw_error: float


def calibrate(scores: np.ndarray, labels: np.ndarray, seed: int = 0) -> CalibrationResult:
    """Fit isotonic calibration; keep it only when it lowers held-out calibration error."""
    keep = np.isfinite(scores) & (labels >= 0)
    scores, labels = scores[keep], labels[keep]
    if scores.size < 2 * FOLDS or labels.min(initial=1) == labels.max(initial=0):
        error = expected_calibration_error(np.clip(scores, 0, 1), labels) if scores.size else float("nan")
        return CalibrationResult(IDENTITY, False, error, error)
    folds = np.array_split(np.random.default_rng(seed).permutation(scores.size), FOLDS)
    raw_errors, calibrated_errors = [], []
    for i, test in enumerate(folds):
        train = np.concatenate([f for j, f in enumerate(folds) if j != i])
        calibrator = fit_isotonic(scores[train], labels[train])
        raw_errors.append(expected_calibration_error(np.clip(scores[test], 0, 1), labels[test]))
        calibrated_errors.append(expected_calibration_error(calibrator(scores[test]), labels[test]))
    raw, calibrated = float(np.mean(raw_errors)), float(np.mean(calibrated_errors))
    if calibrated < raw:
        return CalibrationResult(fit_isotonic(scores, labels), True, calibrated, raw)
    return CalibrationResult(IDENTITY, False, raw, raw)
