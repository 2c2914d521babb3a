"""Building a model's :class:`~exporter.baseline.targets.TargetSpec` from its reference, once: the output's bins
and drift rule, the score bins of ROC AUC and CBPE, the classes, the score calibration, and the reference's
predicted-class counts."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pandas as pd

from exporter.baseline.features import CategoricalFeature, NumericFeature, build_numeric
from exporter.baseline.methods import UNSET, DriftSetting, calibrated, with_drift_rule
from exporter.baseline.outputs import prepare
from exporter.baseline.targets import AUC_BINS, MAX_CLASSES, TargetSpec, label_column_of
from exporter.config import ConfigError, ModelConfig
from exporter.stats.calibration import IDENTITY, CalibrationResult, calibrate
from exporter.stats.drift_null import calibrate as calibrate_drift
from exporter.stats.methods import Bins, get
from exporter.values.keys import UNKNOWN, binary_codes, canonical_class, canonical_classes
from exporter.values.numbers import numeric_values
from exporter.values.text import category_codes, category_strings

log = logging.getLogger(__name__)


def _binary_classes(model: ModelConfig, frame: pd.DataFrame, label_column: str | None) -> tuple[str, str | None]:
    """The canonical positive and negative class of a binary model (negative None: every other value)."""
    positive = canonical_class(model.positive_label)
    if positive is None:
        raise ConfigError(f"models[{model.name}].positive_label: must not be empty")
    if model.negative_label is not None:
        negative = canonical_class(model.negative_label)
        if negative is None or negative == positive:
            raise ConfigError(f"models[{model.name}].negative_label: must differ from positive_label and not be empty")
        return positive, negative
    if label_column and label_column in frame.columns:
        seen = {c for c in canonical_classes(frame[label_column]) if c is not None}
        others = sorted(seen - {positive})
        if len(others) > 1:
            raise ConfigError(
                f"models[{model.name}]: the reference's labels {sorted(seen)} hold more than one value besides "
                f"positive_label {model.positive_label!r}; set negative_label, or use multiclass_classification")
        if positive not in seen:
            log.warning("model %s: no reference label is the positive class %r (labels seen: %s)",
                        model.name, model.positive_label, sorted(seen))
        if others:
            return positive, others[0]
    if positive in ("1", "0"):
        return positive, "0" if positive == "1" else "1"
    log.warning("model %s: the negative class is unknown (no reference labels, no negative_label): every label "
                "other than %r counts as negative", model.name, model.positive_label)
    return positive, None


#: Score bins beyond the reference's range on each side (over the reference's range, or [0, 1]
#: if wider), so windows whose scores all lie outside the reference still rank.
SCORE_GRID = 250


def score_edges(finite: np.ndarray, bins: int = AUC_BINS, grid: int = SCORE_GRID) -> np.ndarray:
    """Score bin edges for ROC AUC and CBPE: reference quantiles, plus a grid beyond the reference range."""
    quantiles = np.quantile(finite, np.linspace(0, 1, bins + 1))
    low, high = float(finite.min()), float(finite.max())
    span = max(high, 1.0) - min(low, 0.0) or 1.0
    below = np.linspace(low - span, low, grid + 1)
    above = np.linspace(high, high + span, grid + 1)
    return np.unique(np.concatenate([below, quantiles, above]))


def build_targets(model: ModelConfig, frame: pd.DataFrame) -> TargetSpec:
    """The output bins, classes and calibration of ``model`` from its reference ``frame``."""
    task = model.task
    label_column = label_column_of(model)
    has_labels = bool(label_column and label_column in frame.columns)
    setting = _output_setting(model)
    output_column = model.prediction_column if task == "regression" else model.score_column
    output = None
    if output_column and output_column in frame.columns:
        output = calibrated(build_numeric(output_column, frame[output_column], setting.method, setting.threshold),
                            setting, frame[output_column])
    positive = str(model.positive_label)
    if task == "binary_classification":
        positive, negative = _binary_classes(model, frame, label_column)
        classes: tuple[str, ...] = ("0", "1")
        auc_edges = None
        calibration = None
        finite = np.zeros(0)
        if model.score_column and model.score_column in frame.columns:
            scores = numeric_values(frame[model.score_column])[0]
            finite = scores[np.isfinite(scores)]
            if finite.size:
                auc_edges = score_edges(finite)
            if has_labels:
                labels = binary_codes(frame[label_column], positive, negative)
                labels[labels == UNKNOWN] = -1
                calibration = calibrate(scores, labels)
                log.info("model %s: score calibration %s (held-out calibration error %.4f, raw %.4f)",
                         model.name, "isotonic" if calibration.calibrated else "not applied",
                         calibration.error, calibration.raw_error)
            else:
                log.warning("model %s: the reference has no label column; CBPE uses raw scores as probabilities",
                            model.name)
        score_range = (float(finite.min()), float(finite.max())) if auc_edges is not None else None
        spec = TargetSpec(task, output, auc_edges, classes, None, calibration, positive, model.decision_threshold,
                          negative, score_range=score_range)
        return _with_confidence(_with_label(_with_class_counts(spec, model, frame), model, frame), model, frame)
    if task == "multiclass_classification":
        seen = pd.Series(dtype=object)
        for column in (label_column, model.prediction_column):
            if column and column in frame.columns:
                seen = pd.concat([seen, category_strings(frame[column]).dropna()])
        frequencies = seen.value_counts()
        classes = tuple(sorted(str(c) for c in frequencies.index[:MAX_CLASSES]))
        score_columns, calibrations = _class_calibrations(model, frame, classes, label_column if has_labels else None)
        spec = TargetSpec(task, output, None, classes, None, None, positive, model.decision_threshold,
                          None, score_columns, calibrations, class_auc_edges=_class_auc_edges(frame, score_columns))
        return _with_confidence(_with_label(_with_class_counts(spec, model, frame), model, frame), model, frame)
    shift = 0.0
    if has_labels:
        labels = numeric_values(frame[label_column])[0]
        labels = labels[np.isfinite(labels)]
        shift = float(labels.mean()) if labels.size else 0.0
    spec = TargetSpec(task, output, None, (), None, None, positive, model.decision_threshold, label_shift=shift)
    return _with_label(spec, model, frame)


#: Default ``low_confidence``: binary (distance of the score from the threshold), multiclass (top probability).
LOW_CONFIDENCE = {"binary_classification": 0.1, "multiclass_classification": 0.5}


def low_confidence(model: ModelConfig) -> float:
    """The confidence below which ``model``'s predictions count as unsure: configured, or the task's default."""
    return model.low_confidence if model.low_confidence is not None else LOW_CONFIDENCE.get(model.task, 0.0)


def _with_confidence(spec: TargetSpec, model: ModelConfig, frame: pd.DataFrame) -> TargetSpec:
    """``spec`` with the reference's confidence binned for its drift, judged as the score's drift is."""
    low = low_confidence(model)
    if spec.task == "binary_classification":
        if spec.auc_edges is None or not model.score_column:
            return replace(spec, low_confidence=low)
        score = numeric_values(frame[model.score_column])[0]
        confidence = spec.confidence_of(score, None)
    elif spec.class_score_columns:
        confidence = spec.confidence_of(np.zeros(len(frame)), spec.class_probabilities(frame))
    else:
        return replace(spec, low_confidence=low)
    setting = _output_setting(model)
    column = pd.Series(confidence)
    feature = build_numeric("confidence", column, setting.method, setting.threshold)
    return replace(spec, confidence=calibrated(feature, setting, column), low_confidence=low)


def _with_label(spec: TargetSpec, model: ModelConfig, frame: pd.DataFrame) -> TargetSpec:
    """``spec`` with the reference's labels binned for label drift, judged as a feature of their kind would be
    (the method and threshold of ``drift``, or of ``drift.features`` under the label column's name)."""
    column = label_column_of(model)
    if not column or column not in frame.columns:
        return spec
    kind = "numeric" if spec.task == "regression" else "categorical"
    where = f"models[{model.name}].drift (label {column!r})"
    label: NumericFeature | CategoricalFeature
    if spec.task == "regression":
        label = build_numeric(column, frame[column], UNSET, 0.0)
        return replace(spec, label=with_drift_rule(model, label, kind, len(frame), where, frame[column]))
    codes = prepare(spec, model, frame).label
    n = spec.n_classes
    present = codes[codes >= 0]
    counts = np.bincount(np.minimum(present, n), minlength=n + 2).astype(np.int64)  # beyond the classes: other
    names = pd.Series(np.asarray(spec.classes, dtype=object)[present[present < n]])  # the labels in logged order
    label = CategoricalFeature(column, UNSET, 0.0, spec.classes, counts,
                               float(1 - present.size / max(1, len(frame))), bool(present.size))
    return replace(spec, label=with_drift_rule(model, label, kind, len(frame), where, names))


def _output_setting(model: ModelConfig) -> DriftSetting:
    """The drift rule of the score or predicted value: fixed with drift.prediction_threshold, else calibrated."""
    drift = model.drift
    method = drift.prediction_method
    if drift.prediction_threshold is not None:
        return DriftSetting(method, float(drift.prediction_threshold), False, drift.alpha, drift.min_effect[method])
    floor = drift.alpha if get(method).is_test else drift.min_effect[method]
    return DriftSetting(method, floor, True, drift.alpha, drift.min_effect[method])


def _with_class_counts(spec: TargetSpec, model: ModelConfig, frame: pd.DataFrame) -> TargetSpec:
    """``spec`` with the reference's predicted-class counts, and their calibrated drift rule (JS)."""
    counts = _reference_class_counts(spec, model, frame)
    rule = None
    if counts is not None and counts.sum() and model.drift.prediction_threshold is None:
        rule = calibrate_drift("class", "js", Bins(counts), model.drift.alpha, model.drift.min_effect["js"])
    return replace(spec, reference_class_counts=counts, class_drift=rule)


#: Reference quantile bins of each class's probability (multiclass ROC AUC), and grid bins beyond each end.
CLASS_AUC_BINS, CLASS_SCORE_GRID = 500, 50


def _class_auc_edges(frame: pd.DataFrame, columns: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """Each class probability column's score bins: its reference quantiles, and a grid beyond them (fewer than a
    binary score's: a model has a histogram per class)."""
    edges = []
    for column in columns:
        finite = numeric_values(frame[column])[0]
        finite = finite[np.isfinite(finite)]
        if not finite.size:
            return ()
        edges.append(score_edges(finite, CLASS_AUC_BINS, CLASS_SCORE_GRID))
    return tuple(edges)


def _class_calibrations(model: ModelConfig, frame: pd.DataFrame, classes: tuple[str, ...],
                        label_column: str | None) -> tuple[tuple[str, ...], tuple[CalibrationResult, ...]]:
    """One-vs-rest isotonic calibration of each class's probability column (kept where it helps)."""
    mapping = {str(k): v for k, v in model.class_score_columns.items()}
    if not mapping:
        return (), ()
    where = f"models[{model.name}].class_score_columns"
    missing = [c for c in classes if c not in mapping]
    if missing:
        raise ConfigError(f"{where}: no probability column for classes {missing}")
    unknown = sorted(set(mapping) - set(classes))
    if unknown:
        raise ConfigError(f"{where}: {unknown} are not classes of the reference (classes: {list(classes)})")
    for column in mapping.values():
        if column not in frame.columns:
            raise ConfigError(f"{where}: column {column!r} is not in the reference {model.reference}")
    codes = category_codes(frame[label_column], classes) if label_column else None
    calibrations = []
    for index, name in enumerate(classes):
        scores = numeric_values(frame[mapping[name]])[0]
        if codes is None:  # no labels in the reference: the probabilities are used as they are
            calibrations.append(CalibrationResult(IDENTITY, False, float("nan"), float("nan")))
            continue
        labels = np.where(codes >= 0, (codes == index).astype(np.int32), -1)
        calibrations.append(calibrate(scores, labels))
    return tuple(mapping[c] for c in classes), tuple(calibrations)


def _reference_class_counts(spec: TargetSpec, model: ModelConfig, frame: pd.DataFrame) -> np.ndarray | None:
    """The reference's predicted classes, decided by the same rule as logged rows (:func:`prepare`)."""
    scored = spec.auc_edges is not None and model.score_column in frame.columns
    if not scored and model.prediction_column not in frame.columns:
        return None
    predicted = prepare(spec, model, frame).pred_class
    return np.bincount(predicted[predicted >= 0], minlength=spec.class_slots).astype(np.int64)
