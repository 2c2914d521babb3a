"""Drift scores of merged bin counts against the reference, and their verdicts.

Each feature's method (:mod:`exporter.stats.methods`) says which counts it reads: on numeric features
the fine bins with their sums, or the coarse deciles; on categorical features the category slots.
Drift is a score *above* the threshold for a distance and a p-value *below* it for a test.
"""

from __future__ import annotations

import numpy as np

from exporter.baseline.features import CategoricalFeature, NumericFeature
from exporter.stats.methods import get
from exporter.stats.methods.jensen_shannon import jensen_shannon


def is_drift(method: str, score: float, threshold: float) -> bool:
    return get(method).is_drift(score, threshold)


def is_test(method: str) -> bool:
    """The method's score is a p-value: lower is worse."""
    return get(method).is_test


def window_bins(feature: NumericFeature | CategoricalFeature, counts: np.ndarray,
                sums: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """A window's counts and sums (last axis: the feature's bins) as the feature's method reads them."""
    counts = counts[..., : feature.n_bins]
    if isinstance(feature, CategoricalFeature):
        return counts, None
    sums = None if sums is None else sums[..., : feature.n_bins]
    return feature.method_layout(counts), None if sums is None else feature.method_layout(sums)


def numeric_score(feature: NumericFeature, counts: np.ndarray, sums: np.ndarray) -> float:
    method = get(feature.method)
    window, window_sums = window_bins(feature, counts, sums)
    return method.statistic(feature.method_bins, window, window_sums)


def categorical_score(feature: CategoricalFeature, counts: np.ndarray) -> float:
    method = get(feature.method)
    if not method.allows("categorical"):
        raise ValueError(f"{method.name} is not defined for categorical features")
    return method.statistic(feature.method_bins, counts[: feature.n_bins], None)


def effect_size(feature: NumericFeature | CategoricalFeature, counts: np.ndarray) -> float:
    """How large a test's difference is: the JS distance of the coarse deciles or the categories."""
    counts = counts[: feature.n_bins]
    if isinstance(feature, NumericFeature):
        return jensen_shannon(feature.coarse(feature.reference_counts), feature.coarse(counts))
    return jensen_shannon(feature.reference_counts, counts)


def judge(feature: NumericFeature | CategoricalFeature, score: float, n: int, counts: np.ndarray) -> tuple[float, bool]:
    """The threshold in force for a window of ``n`` values and the verdict on ``score``.

    A fixed threshold, or the feature's calibrated rule (:mod:`exporter.stats.drift_null`): for a test,
    a significant difference also needs an effect (JS of ``counts``) of at least the minimum.
    """
    rule = feature.calibration
    method = get(feature.method)
    threshold = feature.threshold if rule is None else rule.threshold(feature.method, n)
    drifted = method.is_drift(score, threshold)
    if drifted and rule is not None and method.is_test:
        drifted = effect_size(feature, counts) >= rule.min_effect
    return threshold, drifted
