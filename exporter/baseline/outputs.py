"""The outputs of logged rows against the model's :class:`~exporter.baseline.targets.TargetSpec`: each row's
output bin, score, predicted class or value, and label, as :class:`~exporter.baseline.targets.Targets` arrays.

The one rule every row goes through: the rows of each batch (:mod:`exporter.prepare.preparer`), and the
reference's own rows when its predicted classes and performance are measured.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from exporter.baseline.classes import ClassRegistry
from exporter.baseline.targets import Targets, TargetSpec, label_column_of
from exporter.config import ModelConfig
from exporter.values.keys import UNKNOWN, binary_codes
from exporter.values.numbers import numeric_values
from exporter.values.vocabulary import RejectReason


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
    label_raw = column(label_column_of(model))
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
        return Targets(out_index, out_value, score, pred_class, pred_value, label, spec.class_probabilities(frame),
                       class_scores=spec.class_scores(frame))
    return Targets(out_index, out_value, score, pred_class, pred_value, label)


def _known(codes: np.ndarray, unknown: Counter[str] | None, reason: RejectReason) -> np.ndarray:
    """``codes`` with :data:`UNKNOWN` values counted under ``reason`` and made missing (-1)."""
    strange = codes == UNKNOWN
    if strange.any():
        if unknown is not None:
            unknown[reason] += int(strange.sum())
        codes = np.where(strange, -1, codes).astype(np.int32)
    return codes


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
