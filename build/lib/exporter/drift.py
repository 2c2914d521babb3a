"""Per-feature data quality and drift of a merged window summary.

Chooses, per feature, which counts a statistic reads (fine bins for KS and
Wasserstein, coarse deciles for PSI, JS and chi2 on numbers, categories for
categorical features) and applies the feature's threshold. Drift is a score
*above* the threshold for every method but chi2, a p-value test, where drift is
a p-value *below* it.
"""

from __future__ import annotations

import numpy as np

from exporter import statistics
from exporter.reference import CategoricalFeature, NumericFeature, Reference
from exporter.results import DriftResult, FeatureWindow
from exporter.sketch import Summary

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
        return statistics.ks_statistic(feature.reference_counts, counts)
    if method == "wasserstein":
        return statistics.wasserstein_normed(
            feature.edges, feature.reference_counts, feature.reference_sums, counts, sums, feature.reference_std
        )
    reference = feature.coarse(feature.reference_counts)
    current = feature.coarse(counts)
    if method == "psi":
        return statistics.psi(reference, current)
    if method == "js":
        return statistics.jensen_shannon(reference, current)
    if method == "chi2":
        return statistics.chi2_pvalue(reference, current)
    raise ValueError(f"unknown drift method {method!r}")


def categorical_score(feature: CategoricalFeature, counts: np.ndarray) -> float:
    counts = counts[: feature.n_bins]
    method = feature.method
    if method == "psi":
        return statistics.psi(feature.reference_counts, counts)
    if method == "js":
        return statistics.jensen_shannon(feature.reference_counts, counts)
    if method == "chi2":
        return statistics.chi2_pvalue(feature.reference_counts, counts)
    raise ValueError(f"{method} is not defined for categorical features")


def _ratio(part: float, whole: int) -> float:
    return float(part) / whole if whole else 0.0


def feature_windows(reference: Reference, merged: Summary, min_rows: int) -> tuple[FeatureWindow, ...]:
    """Quality ratios of every feature; drift where the window has at least ``min_rows`` values."""
    rows = int(merged["rows"])
    out: list[FeatureWindow] = []
    for i, feature in enumerate(reference.numeric):
        counts = merged["num_counts"][i]
        valid = int(counts.sum())
        drift = None
        if feature.usable and rows >= min_rows and valid >= min_rows:
            score = numeric_score(feature, counts, merged["num_sums"][i])
            verdict = is_drift(feature.method, score, feature.threshold)
            drift = DriftResult(feature.method, score, feature.threshold, verdict)
        out.append(
            FeatureWindow(
                feature=feature.name,
                kind="numeric",
                missing_ratio=_ratio(merged["num_missing"][i], rows),
                type_violation_ratio=_ratio(merged["num_invalid"][i], rows),
                out_of_range_ratio=_ratio(counts[0] + counts[feature.n_bins - 1], rows),
                drift=drift,
            )
        )
    for j, cat in enumerate(reference.categorical):
        counts = merged["cat_counts"][j]
        valid = int(counts[: cat.n_bins].sum())
        drift = None
        if cat.usable and rows >= min_rows and valid >= min_rows:
            score = categorical_score(cat, counts)
            drift = DriftResult(cat.method, score, cat.threshold, is_drift(cat.method, score, cat.threshold))
        out.append(
            FeatureWindow(
                feature=cat.name,
                kind="categorical",
                missing_ratio=_ratio(merged["cat_missing"][j], rows),
                type_violation_ratio=0.0,
                new_category_ratio=_ratio(counts[cat.n_bins - 1], rows),
                drift=drift,
            )
        )
    return tuple(out)


def drifted_share(features: tuple[FeatureWindow, ...]) -> float | None:
    """Share of the features with a drift verdict that drifted; None when none has one."""
    verdicts = [f.drift.drifted for f in features if f.drift is not None]
    if not verdicts:
        return None
    return sum(verdicts) / len(verdicts)
