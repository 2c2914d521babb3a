"""How each feature's drift is judged: the method (configured, or chosen by the feature's kind and the
reference's size) and its threshold, fixed or calibrated to the window's size from the reference's own noise."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from exporter.baseline.features import CategoricalFeature, FeatureT, NumericFeature, feature_codes
from exporter.config import NUMERIC_ONLY_METHODS, ConfigError, ModelConfig
from exporter.stats import drift_statistics
from exporter.stats.drift_null import calibrate
from exporter.values.numbers import numeric_values

#: Chunk sizes at which the reference's own consecutive chunks are scored, the fewest and most chunks used.
CHUNK_SIZES, MIN_CHUNKS, MAX_CHUNKS = (100, 300, 1000), 10, 50

#: Reference size up to which ``auto`` uses tests (ks, chi2) rather than distances.
AUTO_SMALL_REFERENCE_ROWS = 1000


@dataclass(frozen=True)
class DriftSetting:
    """How a feature's drift is judged: its method, and a fixed threshold or a calibrated rule."""

    method: str
    #: The fixed threshold; for a calibrated rule its fixed part: the minimum effect (alpha for chi2).
    threshold: float
    calibrated: bool
    alpha: float
    min_effect: float


def resolve_method(model: ModelConfig, name: str, kind: str, rows: int, where: str) -> DriftSetting:
    """The drift setting of feature ``name``: per-feature overrides, then the model's drift settings.

    A threshold configured for the feature, for every feature (``drift.threshold``, with a named
    method) or for categorical features (``drift.categorical_threshold``) is fixed; without one the
    threshold is calibrated to each window's size (:mod:`exporter.stats.drift_null`).
    """
    drift = model.drift
    override = drift.features.get(name)
    method = override.method if override and override.method else None
    threshold = override.threshold if override else None
    if method is None:
        if kind == "categorical" and drift.method in NUMERIC_ONLY_METHODS:
            method = drift.categorical_method
            threshold = threshold if threshold is not None else drift.categorical_threshold
        else:
            method = drift.method
            if method != "auto":
                threshold = threshold if threshold is not None else drift.threshold
    if method == "auto":
        small = rows <= AUTO_SMALL_REFERENCE_ROWS
        method = ("ks" if small else "wasserstein") if kind == "numeric" else "chi2" if small else "js"
    if kind == "categorical" and method in NUMERIC_ONLY_METHODS:
        raise ConfigError(f"{where}: {method} is only defined for numeric features, and {name!r} is categorical")
    alpha = override.alpha if override and override.alpha is not None else drift.alpha
    min_effect = override.min_effect if override and override.min_effect is not None else drift.min_effect[method]
    # chi2 on a numeric feature tests the counts in its reference deciles (see exporter.baseline.drift).
    if threshold is not None:
        return DriftSetting(method, float(threshold), False, alpha, min_effect)
    return DriftSetting(method, alpha if method == "chi2" else min_effect, True, alpha, min_effect)


def chunk_medians(feature: NumericFeature | CategoricalFeature, column: pd.Series) -> dict[int, float]:
    """Median drift score of consecutive chunks of the reference column against the whole reference.

    At most 50 chunks per size, from the start of the column; binned once, counted per chunk in one
    ``bincount``, scored as production scores a window.
    """

    sizes = [size for size in CHUNK_SIZES if len(column) // size >= MIN_CHUNKS]
    if not sizes:
        return {}
    head = column.iloc[: MAX_CHUNKS * sizes[-1]]
    if isinstance(feature, NumericFeature):
        values, missing, invalid = numeric_values(head)
        valid = ~missing & ~invalid
        index = np.full(len(head), -1, dtype=np.int64)
        index[valid] = feature.binner(values[valid])
        values = np.where(valid, values, 0.0)
    else:
        index = feature_codes(head, feature).astype(np.int64)
        values = np.zeros(len(head))
    bins = feature.n_bins
    out = {}
    for size in sizes:
        chunks = min(MAX_CHUNKS, len(head) // size)
        rows = np.arange(chunks * size)
        keep = index[rows] >= 0
        flat = (rows[keep] // size) * bins + index[rows][keep]
        counts = np.bincount(flat, minlength=chunks * bins).reshape(chunks, bins)
        full = counts.sum(axis=1) >= size // 2
        counts = counts[full]
        if counts.shape[0] < MIN_CHUNKS:
            continue
        method = feature.method
        if isinstance(feature, NumericFeature) and method == "wasserstein":
            sums = np.bincount(flat, weights=values[rows][keep], minlength=chunks * bins).reshape(chunks, bins)[full]
            scores = drift_statistics.wasserstein_normed_rows(feature.edges, feature.reference_counts,
                                                        feature.reference_sums, counts, sums,
                                                        feature.reference_std).tolist()
        elif method == "ks":
            reference = np.cumsum(feature.reference_counts / feature.reference_counts.sum())
            cdf = np.cumsum(counts / counts.sum(axis=1, keepdims=True), axis=1)
            scores = np.minimum(1.0, np.abs(cdf - reference).max(axis=1)).tolist()
        else:
            reference_counts = feature.reference_counts
            if isinstance(feature, NumericFeature):
                reference_counts, counts = feature.coarse(reference_counts), feature.coarse(counts)
            rows_score = drift_statistics.psi_rows if method == "psi" else drift_statistics.jensen_shannon_rows
            scores = rows_score(reference_counts, counts).tolist()
        out[size] = float(np.median(scores))
    return out


def calibrated(feature: FeatureT, setting: DriftSetting, column: pd.Series | None = None) -> FeatureT:
    """``feature`` with its drift rule calibrated from its reference bins (unchanged for a fixed threshold);
    ``column``, the reference's values in their logged order, measures how clustered real rows are."""
    if not setting.calibrated or not feature.usable:
        return feature
    medians = chunk_medians(feature, column) if column is not None and setting.method != "chi2" else None
    if isinstance(feature, NumericFeature):
        counts = feature.reference_counts if setting.method in ("ks", "wasserstein") else \
            feature.coarse(feature.reference_counts)
        rule = calibrate(feature.name, setting.method, counts, setting.alpha, setting.min_effect, feature.edges,
                         feature.reference_std, medians)
    else:
        rule = calibrate(feature.name, setting.method, feature.reference_counts, setting.alpha, setting.min_effect,
                         chunk_medians=medians)
    return replace(feature, calibration=rule)
