"""Drift scores of merged bin counts against the reference, and their verdicts.

Chooses, per feature, which counts a statistic reads (fine bins for KS and
Wasserstein, coarse deciles for PSI, JS and chi2 on numbers, categories for
categorical features) and applies the feature's threshold. Drift is a score
*above* the threshold for every method but chi2, a p-value test, where drift is
a p-value *below* it.
"""

from __future__ import annotations

import numpy as np

from exporter.baseline.features import CategoricalFeature, NumericFeature
from exporter.stats import drift_statistics

#: Methods whose score is a p-value: drift when it is below the threshold.
PVALUE_METHODS = frozenset({"chi2"})


def is_drift(method: str, score: float, threshold: float) -> bool:
    if method in PVALUE_METHODS:
        return score < threshold
    return score > threshold


def numeric_score(feature: NumericFeature, counts: np.ndarray, sums: np.ndarray) -> float:
    counts = counts[: feature.n_bins]
    sums = sums[: feature.n_bins]
    method = feature.method
    if method == "ks":
        return drift_statistics.ks_statistic(feature.reference_counts, counts)
    if method == "wasserstein":
        return drift_statistics.wasserstein_normed(
            feature.edges, feature.reference_counts, feature.reference_sums, counts, sums, feature.reference_std
        )
    reference = feature.coarse(feature.reference_counts)
    current = feature.coarse(counts)
    if method == "psi":
        return drift_statistics.psi(reference, current)
    if method == "js":
        return drift_statistics.jensen_shannon(reference, current)
    if method == "chi2":
        return drift_statistics.chi2_pvalue(reference, current)
    raise ValueError(f"unknown drift method {method!r}")


def categorical_score(feature: CategoricalFeature, counts: np.ndarray) -> float:
    counts = counts[: feature.n_bins]
    method = feature.method
    if method == "psi":
        return drift_statistics.psi(feature.reference_counts, counts)
    if method == "js":
        return drift_statistics.jensen_shannon(feature.reference_counts, counts)
    if method == "chi2":
        return drift_statistics.chi2_pvalue(feature.reference_counts, counts)
    raise ValueError(f"{method} is not defined for categorical features")


def effect_size(feature: NumericFeature | CategoricalFeature, counts: np.ndarray) -> float:
    """How large a p-value method's difference is: the JS distance of the counts its test reads."""
    counts = counts[: feature.n_bins]
    if isinstance(feature, NumericFeature):
        return drift_statistics.jensen_shannon(feature.coarse(feature.reference_counts), feature.coarse(counts))
    return drift_statistics.jensen_shannon(feature.reference_counts, counts)


def judge(feature: NumericFeature | CategoricalFeature, score: float, n: int, counts: np.ndarray) -> tuple[float, bool]:
    """The threshold in force for a window of ``n`` values and the verdict on ``score``.

    A fixed threshold, or the feature's calibrated rule (:mod:`exporter.stats.drift_null`): for a p-value
    method, a significant difference also needs an effect (JS of ``counts``) of at least the minimum.
    """
    rule = feature.calibration
    threshold = feature.threshold if rule is None else rule.threshold(feature.method, n)
    drifted = is_drift(feature.method, score, threshold)
    if drifted and rule is not None and feature.method in PVALUE_METHODS:
        drifted = effect_size(feature, counts) >= rule.min_effect
    return threshold, drifted
