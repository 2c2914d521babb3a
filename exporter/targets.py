"""What the model said and what turned out true: predictions, scores and labels, binned once.

Built from the reference at start (:func:`build_targets`): the bins of the
model's output (the score of a classifier, the predicted value of a
regressor) for prediction drift, the finer score bins used by ROC AUC and
CBPE, the classes, and the score calibration. Per batch, :func:`prepare`
turns the rows' output columns into :class:`Targets` arrays, which the
components of :mod:`exporter.components` summarise.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from exporter.binning import EdgeTable
from exporter.calibration import IDENTITY, CalibrationResult, calibrate
from exporter.classes import ClassRegistry
from exporter.config import ConfigError, ModelConfig
from exporter.drift_null import DriftCalibration
from exporter.drift_null import calibrate as calibrate_drift
from exporter.reference import DriftSetting, NumericFeature, build_numeric, calibrated, category_strings
from exporter.rows import category_codes, numeric_values
from exporter.values import canonical_class, canonical_classes
from exporter.vocabulary import RejectReason

log = logging.getLogger(__name__)

#: Reference-quantile score bins for ROC AUC and CBPE: pairs of rows sharing a bin count as ties, so
#: on a score distribution like the reference's about 1/2000 of pairs do, bounding the error by ~2.5e-4.
AUC_BINS = 2000
#: Classes kept for a multiclass model (the rest count as one unseen class).
MAX_CLASSES = 100


@dataclass(frozen=True, eq=False)
class TargetSpec:
    task: str
    #: Score (classifiers) or predicted value (regression) binned on the reference, for prediction drift.
    output: NumericFeature | None
    #: Score bin edges for ROC AUC and CBPE (binary classification with a score).
    auc_edges: np.ndarray | None
    #: Class names; binary is ("0", "1") with 1 the positive class.
    classes: tuple[str, ...]
    #: Predicted classes in the reference, for class-distribution drift (last slot: unseen).
    reference_class_counts: np.ndarray | None
    calibration: CalibrationResult | None
    positive_label: str
    decision_threshold: float
    #: The negative class (binary), matched as :func:`canonical_class`; None: every other value.
    negative_label: str | None = None
    #: Multiclass CBPE: probability column of each class (in ``classes`` order) and its calibration.
    class_score_columns: tuple[str, ...] = ()
    class_calibrations: tuple[CalibrationResult, ...] = ()
    #: The reference's lowest and highest score (binary with a score).
    score_range: tuple[float, float] | None = None
    #: Regression: the reference's mean target, around which target sums are taken (precision).
    label_shift: float = 0.0
    #: The calibrated drift rule of the predicted classes (JS); None: the fixed class threshold.
    class_drift: DriftCalibration | None = None

    @cached_property
    def auc_binner(self) -> EdgeTable:
        """:func:`~exporter.binning.bin_index` against ``auc_edges``, by table lookup (built on first use)."""
        assert self.auc_edges is not None
        return EdgeTable(self.auc_edges)

    def legacy_auc_edges(self) -> np.ndarray | None:
        """The score bins of release 1: the reference quantiles alone (for migrating its state)."""
        if self.auc_edges is None or self.score_range is None:
            return self.auc_edges
        low, high = self.score_range
        return self.auc_edges[(self.auc_edges >= low) & (self.auc_edges <= high)]

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def class_slots(self) -> int:
        """Slots of a class axis: binary 0, 1 and a spare; multiclass see :class:`ClassRegistry`."""
        if self.task == "multiclass_classification":
            return ClassRegistry(self.classes).slots
        return self.n_classes + 1

    def class_probabilities(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Calibrated, renormalised class probabilities per row (NaN rows where any is missing)."""
        if not self.class_score_columns:
            return None
        columns = []
        for column, calibration in zip(self.class_score_columns, self.class_calibrations, strict=True):
            raw = numeric_values(frame[column])[0] if column in frame.columns else np.full(len(frame), np.nan)
            columns.append(calibration.calibrator(raw) if calibration.calibrated else np.clip(raw, 0, 1))
        probabilities = np.stack(columns, axis=1) if columns else np.zeros((len(frame), 0))
        with np.errstate(invalid="ignore", divide="ignore"):
            total = probabilities.sum(axis=1, keepdims=True)
            return np.where(total > 0, probabilities / total, np.nan)


@dataclass
class Targets:
    """Per-row output arrays of a batch (all of length n)."""

    out_index: np.ndarray  # output bin, -1 when missing
    out_value: np.ndarray  # output value, 0 when missing
    score: np.ndarray  # score, NaN when missing (binary)
    pred_class: np.ndarray  # predicted class code, -1 when missing (classifiers)
    pred_value: np.ndarray  # predicted value, NaN when missing (regression)
    label: np.ndarray  # label: class code (-1 none) or value (NaN none)
    class_proba: np.ndarray | None = None  # (n, classes) calibrated probabilities, multiclass CBPE

    def take(self, rows: np.ndarray | slice) -> Targets:
        return Targets(*(None if getattr(self, f) is None else getattr(self, f)[rows]
                         for f in self.__dataclass_fields__))

    def labelled(self) -> np.ndarray:
        if self.label.dtype.kind == "f":
            return np.isfinite(self.label)
        return self.label >= 0


#: Code of a binary label or prediction that is neither the positive nor the negative class.
UNKNOWN = -2
_TRUE = frozenset({"true", "yes"})
_FALSE = frozenset({"false", "no"})


def binary_codes(values: pd.Series, positive: str, negative: str | None) -> np.ndarray:
    """1 for the positive class, 0 for the negative one, -1 when missing, :data:`UNKNOWN` for any other value.

    Values are matched by :func:`canonical_class`. Without a known negative class
    (``negative`` None) every value that is not the positive class is negative.
    """
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        # Numbers compare as numbers, without a Python call per value.
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        positive_number, negative_number = _number(positive), _number(negative)
        codes = np.full(numbers.size, UNKNOWN if negative is not None else 0, dtype=np.int32)
        if negative_number is not None:
            codes[numbers == negative_number] = 0
        if positive_number is not None:
            codes[numbers == positive_number] = 1
        codes[np.isnan(numbers)] = -1
        return codes
    text = canonical_classes(values)
    codes = np.full(text.size, UNKNOWN if negative is not None else 0, dtype=np.int32)
    if negative is not None:
        codes[text == negative] = 0
    codes[text == positive] = 1
    codes[pd.isna(text)] = -1
    return codes


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


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


def _label_column(model: ModelConfig) -> str | None:
    return model.label_column or (model.labels.label_column if model.labels else None)


#: Score bins beyond the reference's range on each side (over the reference's range, or [0, 1]
#: if wider), so windows whose scores all lie outside the reference still rank.
SCORE_GRID = 250


def score_edges(finite: np.ndarray) -> np.ndarray:
    """Score bin edges for ROC AUC and CBPE: reference quantiles, plus a grid beyond the reference range."""
    quantiles = np.quantile(finite, np.linspace(0, 1, AUC_BINS + 1))
    low, high = float(finite.min()), float(finite.max())
    span = max(high, 1.0) - min(low, 0.0) or 1.0
    below = np.linspace(low - span, low, SCORE_GRID + 1)
    above = np.linspace(high, high + span, SCORE_GRID + 1)
    return np.unique(np.concatenate([below, quantiles, above]))


def build_targets(model: ModelConfig, frame: pd.DataFrame) -> TargetSpec:
    """The output bins, classes and calibration of ``model`` from its reference ``frame``."""
    task = model.task
    label_column = _label_column(model)
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
        return _with_class_counts(spec, model, frame)
    if task == "multiclass_classification":
        seen = pd.Series(dtype=object)
        for column in (label_column, model.prediction_column):
            if column and column in frame.columns:
                seen = pd.concat([seen, category_strings(frame[column]).dropna()])
        frequencies = seen.value_counts()
        classes = tuple(sorted(str(c) for c in frequencies.index[:MAX_CLASSES]))
        score_columns, calibrations = _class_calibrations(model, frame, classes, label_column if has_labels else None)
        spec = TargetSpec(task, output, None, classes, None, None, positive, model.decision_threshold,
                          None, score_columns, calibrations)
        return _with_class_counts(spec, model, frame)
    shift = 0.0
    if has_labels:
        labels = numeric_values(frame[label_column])[0]
        labels = labels[np.isfinite(labels)]
        shift = float(labels.mean()) if labels.size else 0.0
    return TargetSpec(task, output, None, (), None, None, positive, model.decision_threshold, label_shift=shift)


def _output_setting(model: ModelConfig) -> DriftSetting:
    """The drift rule of the score or predicted value: fixed with drift.prediction_threshold, else calibrated."""
    drift = model.drift
    method = drift.prediction_method
    if drift.prediction_threshold is not None:
        return DriftSetting(method, float(drift.prediction_threshold), False, drift.alpha, drift.min_effect[method])
    floor = drift.alpha if method == "chi2" else drift.min_effect[method]
    return DriftSetting(method, floor, True, drift.alpha, drift.min_effect[method])


def _with_class_counts(spec: TargetSpec, model: ModelConfig, frame: pd.DataFrame) -> TargetSpec:
    """``spec`` with the reference's predicted-class counts, and their calibrated drift rule (JS)."""
    counts = _reference_class_counts(spec, model, frame)
    rule = None
    if counts is not None and counts.sum() and model.drift.prediction_threshold is None:
        rule = calibrate_drift("class", "js", counts, model.drift.alpha, model.drift.min_effect["js"])
    return replace(spec, reference_class_counts=counts, class_drift=rule)


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


def prepare(spec: TargetSpec, model: ModelConfig, frame: pd.DataFrame,
            unknown: Counter[str] | None = None, registry: ClassRegistry | None = None) -> Targets:
    """Output arrays of ``frame``'s rows; missing columns give missing values, never an error.

    A binary classifier's decision is the logged ``prediction_column`` whenever the model logs
    one (the decision it made, at its own operating point); only without it is the score
    compared with ``decision_threshold``. Labels and predictions that match no class are
    counted in ``unknown`` (``unknown_label``, ``unknown_prediction``) and taken as missing.
    """
    n = len(frame)

    def column(name: str | None) -> pd.Series | None:
        return frame[name] if name and name in frame.columns else None

    out_index = np.full(n, -1, dtype=np.int32)
    out_value = np.zeros(n)
    score = np.full(n, np.nan)
    pred_class = np.full(n, -1, dtype=np.int32)
    pred_value = np.full(n, np.nan)
    output_column = model.prediction_column if spec.task == "regression" else model.score_column
    raw_output = column(output_column)
    if raw_output is not None:
        values, missing, invalid = numeric_values(raw_output)
        ok = ~missing & ~invalid
        if spec.output is not None:
            out_index[ok] = spec.output.binner(values[ok])
            out_value[ok] = values[ok]
        if spec.task == "regression":
            pred_value[ok] = values[ok]
        else:
            score[ok] = values[ok]
    label_raw = column(_label_column(model))
    if spec.task == "regression":
        label = numeric_values(label_raw)[0] if label_raw is not None else np.full(n, np.nan)
        label = np.where(np.isfinite(label), label, np.nan)
        return Targets(out_index, out_value, score, pred_class, pred_value, label)
    if spec.task == "binary_classification":
        if column(model.prediction_column) is not None:
            pred_class = _known(binary_codes(frame[model.prediction_column], spec.positive_label, spec.negative_label),
                                unknown, RejectReason.UNKNOWN_PREDICTION)
        elif raw_output is not None:
            pred_class = np.where(np.isfinite(score), (score >= spec.decision_threshold), -1).astype(np.int32)
        label = (_known(binary_codes(label_raw, spec.positive_label, spec.negative_label), unknown,
                        RejectReason.UNKNOWN_LABEL) if label_raw is not None else np.full(n, -1, np.int32))
    else:
        registry = registry or ClassRegistry(spec.classes)
        if column(model.prediction_column) is not None:
            pred_class = registry.codes(frame[model.prediction_column], unknown)
        label = registry.codes(label_raw, unknown) if label_raw is not None else np.full(n, -1, np.int32)
        return Targets(out_index, out_value, score, pred_class, pred_value, label, spec.class_probabilities(frame))
    return Targets(out_index, out_value, score, pred_class, pred_value, label)


def _known(codes: np.ndarray, unknown: Counter[str] | None, reason: RejectReason) -> np.ndarray:
    """``codes`` with :data:`UNKNOWN` values counted under ``reason`` and made missing (-1)."""
    strange = codes == UNKNOWN
    if strange.any():
        if unknown is not None:
            unknown[reason] += int(strange.sum())
        codes = np.where(strange, -1, codes).astype(np.int32)
    return codes


def migrate_score_bins(spec: TargetSpec, old: np.ndarray) -> np.ndarray:
    """Counts over release 1's score bins (last axis) moved into today's: its bins are today's bins
    inside the reference's score range; what it had below or above that range goes to the bin just
    below or above it."""
    legacy = spec.legacy_auc_edges()
    assert spec.auc_edges is not None and legacy is not None
    if old.shape[-1] != legacy.size + 1:
        raise ValueError(f"{old.shape[-1]} score bins, expected {legacy.size + 1}")
    start = int(np.searchsorted(spec.auc_edges, legacy[0]))  # today's bin just below the reference minimum
    new = np.zeros((*old.shape[:-1], spec.auc_edges.size + 1), dtype=old.dtype)
    new[..., start:start + old.shape[-1]] = old
    return new


def auc_index(spec: TargetSpec, score: np.ndarray) -> np.ndarray:
    """Score bin of each score for ROC AUC and CBPE (-1 where the score is missing)."""
    assert spec.auc_edges is not None
    index = np.full(score.size, -1, dtype=np.int64)
    ok = np.isfinite(score)
    index[ok] = spec.auc_binner(score[ok])
    return index


def label_values(spec: TargetSpec, series: pd.Series, registry: ClassRegistry | None = None,
                 unknown: Counter[str] | None = None) -> np.ndarray:
    """Labels of the labels log as floats: the value (regression) or the class code (-1 when missing,
    :data:`UNKNOWN` for a binary label that matches no class)."""
    if spec.task == "regression":
        return numeric_values(series)[0]
    if spec.task == "binary_classification":
        return binary_codes(series, spec.positive_label, spec.negative_label).astype(np.float64)
    return (registry or ClassRegistry(spec.classes)).codes(series, unknown).astype(np.float64)
