"""How each feature's drift is judged: the method (configured, or chosen by the feature's kind, its distinct values
and the reference's size, as Evidently chooses) and its threshold, fixed or calibrated to the window's size from
the reference's own noise."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from exporter.baseline.features import CategoricalFeature, FeatureT, NumericFeature, feature_codes
from exporter.config import ConfigError, ModelConfig
from exporter.stats.drift_null import calibrate
from exporter.stats.methods import get
from exporter.values.numbers import numeric_values

#: Chunk sizes at which the reference's own consecutive chunks are scored, the fewest and most chunks used.
CHUNK_SIZES, MIN_CHUNKS, MAX_CHUNKS = (100, 300, 1000), 10, 50

#: Reference size up to which ``auto`` uses tests (ks, chi2, z) rather than distances.
AUTO_SMALL_REFERENCE_ROWS = 1000
#: A numeric feature with at most this many distinct reference values is judged by ``auto`` as categories.
AUTO_FEW_VALUES = 5
#: The method a feature is built with before its rule is decided from its bins (:func:`with_drift_rule`).
UNSET = "js"


@dataclass(frozen=True)
class DriftSetting:
    """How a feature's drift is judged: its method, and a fixed threshold or a calibrated rule."""

    method: str
    #: The fixed threshold; for a calibrated rule its fixed part: the minimum effect (alpha for a test).
    threshold: float
    calibrated: bool
    alpha: float
    min_effect: float


def auto_method(kind: str, rows: int, distinct: int) -> str:
    """Evidently's default choice: tests on a reference of at most 1,000 rows (ks on numbers, chi2 on categories
    and on numbers of at most 5 values, z on at most 2), distances above (wasserstein on numbers, js on categories
    and on numbers of at most 5 values). ``distinct`` counts the reference's values (Evidently counts the
    reference's and the window's together; the method is fixed when the reference is read)."""
    few = kind == "categorical" or distinct <= AUTO_FEW_VALUES
    if rows <= AUTO_SMALL_REFERENCE_ROWS:
        return ("chi2" if distinct > 2 else "z") if few else "ks"
    return "js" if few else "wasserstein"


def resolve_method(model: ModelConfig, name: str, kind: str, rows: int, where: str, distinct: int) -> DriftSetting:
    """The drift setting of feature ``name`` (``distinct`` values in a reference of ``rows`` rows): per-feature
    overrides, then the model's drift settings.

    A threshold configured for the feature, for every feature (``drift.threshold``, with a named
    method) or for categorical features (``drift.categorical_threshold``) is fixed; without one the
    threshold is calibrated to each window's size (:mod:`exporter.stats.drift_null`).
    """
    drift = model.drift
    override = drift.features.get(name)
    method = override.method if override and override.method else None
    threshold = override.threshold if override else None
    if method is None:
        if kind == "categorical" and drift.method != "auto" and not get(drift.method).allows("categorical"):
            method = drift.categorical_method
            threshold = threshold if threshold is not None else drift.categorical_threshold
        else:
            method = drift.method
            if method != "auto":
                threshold = threshold if threshold is not None else drift.threshold
    if method == "auto":
        method = auto_method(kind, rows, distinct)
    chosen = get(method)
    if not chosen.allows(kind):
        only = " and ".join(sorted(chosen.kinds))
        raise ConfigError(f"{where}: {method} is only defined for {only} features, and {name!r} is {kind}")
    if chosen.binary and distinct > 2:
        raise ConfigError(f"{where}: {method} compares the share of one value against the other, and {name!r} has "
                          f"{distinct} values in the reference; use chi2 or g_test")
    alpha = override.alpha if override and override.alpha is not None else drift.alpha
    min_effect = override.min_effect if override and override.min_effect is not None else drift.min_effect[method]
    # A test on a numeric feature reads its reference deciles or fine bins (see exporter.baseline.drift).
    if threshold is not None:
        return DriftSetting(method, float(threshold), False, alpha, min_effect)
    return DriftSetting(method, alpha if chosen.is_test else min_effect, True, alpha, min_effect)


def with_drift_rule(model: ModelConfig, feature: FeatureT, kind: str, rows: int, where: str,
                    column: pd.Series | None) -> FeatureT:
    """``feature`` (built with any method) with the method and threshold the model asks for, calibrated."""
    setting = resolve_method(model, feature.name, kind, rows, where, feature.distinct_values)
    return calibrated(replace(feature, method=setting.method, threshold=setting.threshold), setting, column)


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
        method = get(feature.method)
        sums = None
        if isinstance(feature, NumericFeature):
            sums = np.bincount(flat, weights=values[rows][keep], minlength=chunks * bins).reshape(chunks, bins)[full]
            counts, sums = feature.method_layout(counts), feature.method_layout(sums)
        scores = method.rows(feature.method_bins, counts, sums)
        out[size] = float(np.median(scores))
    return out


def calibrated(feature: FeatureT, setting: DriftSetting, column: pd.Series | None = None) -> FeatureT:
    """``feature`` with its drift rule calibrated from its reference bins (unchanged for a fixed threshold);
    ``column``, the reference's values in their logged order, measures how clustered real rows are."""
    if not setting.calibrated or not feature.usable:
        return feature
    medians = chunk_medians(feature, column) if column is not None and not get(setting.method).is_test else None
    rule = calibrate(feature.name, setting.method, feature.method_bins, setting.alpha, setting.min_effect, medians)
    return replace(feature, calibration=rule)
