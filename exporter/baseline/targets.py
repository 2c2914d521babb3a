"""What the model said and what turned out true: the spec of its outputs, and their per-row arrays.

:class:`TargetSpec` is built from the reference at start (:mod:`exporter.baseline.target_spec`): the bins of
the model's output (the score of a classifier, the predicted value of a regressor) for prediction drift, the
finer score bins used by ROC AUC and CBPE, the classes, and the score calibration. Per batch,
:func:`exporter.baseline.outputs.prepare` turns the rows' output columns into :class:`Targets` arrays, which
the components of :mod:`exporter.components` summarise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from exporter.baseline.classes import ClassRegistry
from exporter.baseline.features import CategoricalFeature, NumericFeature
from exporter.baseline.nanny import NannyModels
from exporter.config import ModelConfig
from exporter.stats.binning import EdgeTable, bin_index
from exporter.stats.calibration import CalibrationResult
from exporter.stats.drift_null import DriftCalibration
from exporter.values.numbers import numeric_values

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
    #: The reference's labels binned for label drift: a numeric feature of the regression target on its
    #: quantiles, or a categorical feature over ``classes`` (slots: each class, then other and unseen).
    #: None without labels in the reference (or in a baseline file built before label drift).
    label: NumericFeature | CategoricalFeature | None = None
    #: A classifier's confidence per row binned on the reference's (see :meth:`confidence_of`), for its drift;
    #: None for regression, without a score or class probabilities (or in a baseline file built before it).
    confidence: NumericFeature | None = None
    #: The confidence below which a prediction is unsure (``low_confidence``).
    low_confidence: float = 0.0
    #: Regression: the nanny models that estimate each prediction's error (DLE); None without them.
    nanny: NannyModels | None = None
    #: Multiclass with class probability columns: each column's score bins on the reference, for ROC AUC of the
    #: class against the rest (empty in a baseline file built before it).
    class_auc_edges: tuple[np.ndarray, ...] = ()

    @property
    def class_auc_bins(self) -> int:
        """Width of the per-class score histograms: the most bins of any class."""
        return max((edges.size + 1 for edges in self.class_auc_edges), default=0)

    def class_scores(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Each class's probability as logged (not calibrated), one column per class, NaN where missing."""
        if not self.class_auc_edges:
            return None
        return np.stack([numeric_values(frame[c])[0] if c in frame.columns else np.full(len(frame), np.nan)
                         for c in self.class_score_columns], axis=1)

    def class_auc_index(self, scores: np.ndarray) -> np.ndarray:
        """The score bin of each row's probability of each class (rows by classes), -1 where missing."""
        index = np.full(scores.shape, -1, dtype=np.int64)
        for c, edges in enumerate(self.class_auc_edges):
            ok = np.isfinite(scores[:, c])
            index[ok, c] = bin_index(edges, scores[ok, c])
        return index

    def confidence_of(self, score: np.ndarray, class_proba: np.ndarray | None) -> np.ndarray:
        """Each row's confidence, NaN where unknown: the top class's calibrated probability (multiclass), or the
        raw score's distance from the decision threshold (binary: how far the decision was from going the
        other way)."""
        if self.task == "multiclass_classification":
            if class_proba is None or not class_proba.shape[1]:
                return np.full(score.size, np.nan)
            with np.errstate(invalid="ignore"):
                return np.where(np.isfinite(class_proba).all(axis=1), np.max(class_proba, axis=1), np.nan)
        return np.abs(score - self.decision_threshold)

    @cached_property
    def auc_binner(self) -> EdgeTable:
        """:func:`~exporter.stats.binning.bin_index` against ``auc_edges``, by table lookup (built on first use)."""
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
    est_error: np.ndarray | None = None  # (n, 2) estimated absolute and squared error, regression (DLE)
    class_scores: np.ndarray | None = None  # (n, classes) probabilities as logged, multiclass ROC AUC

    def take(self, rows: np.ndarray | slice) -> Targets:
        taken: dict[str, Any] = {name: None if getattr(self, name) is None else getattr(self, name)[rows]
                                 for name in self.__dataclass_fields__}
        return Targets(**taken)

    def labelled(self) -> np.ndarray:
        if self.label.dtype.kind == "f":
            return np.isfinite(self.label)
        return self.label >= 0


def label_column_of(model: ModelConfig) -> str | None:
    return model.label_column or (model.labels.label_column if model.labels else None)


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


