"""The concept-drift signal: realized minus estimated performance on the same labelled rows."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score

from exporter.components import PerformanceBaseline
from exporter.components.base import WindowContext
from exporter.prepare.label_join import LabelJoiner
from exporter.prepare.pending import PendingPredictions
from exporter.summary.results import WindowBuilder
from exporter.summary.sketch import ONE_GROUP
from tests.cases import CASES, binary_reference
from tests.components.conftest import NOW, Model, _model

#: Noise per metric on one row's worth of data, as performance_noise measures it on a reference.
NOISE = {"accuracy": 0.5, "f1": 0.6, "roc_auc": 0.4, "precision": 0.6, "recall": 0.6}


def _gap(model: Model, rows, labelled_rows=None, baseline: PerformanceBaseline | None = None) -> WindowBuilder:
    """Realized (its component) then CBPE evaluated on one window of ``rows`` (labels: ``labelled_rows``)."""
    baseline = baseline or PerformanceBaseline(0.01, noise=NOISE)
    realized, cbpe = (model.component(name, baseline) for name in (
        "classification", "cbpe"))
    labelled_rows = rows if labelled_rows is None else labelled_rows
    merged = {**{k: v[0] for k, v in cbpe.summarize(rows, ONE_GROUP).items()},
              **{k: v[0] for k, v in cbpe.summarize_labels(labelled_rows, ONE_GROUP).items()}}
    labels = {k: v[0] for k, v in realized.summarize_labels(labelled_rows, ONE_GROUP).items()}
    n, labelled = len(rows), int(labelled_rows.outputs.labelled().sum())
    out = WindowBuilder("1h", "", n)
    ctx = WindowContext("1h", "", n, labelled, 10, NOW)
    realized.evaluate(labels, ctx, out)
    cbpe.evaluate(merged, ctx, out)
    return out


def test_the_gap_is_realized_minus_the_estimate_of_the_same_rows(binary) -> None:
    frame = binary_reference(800, seed=21)
    out = _gap(binary, binary.batch(frame))
    calibration = binary.spec.calibration
    p = calibration.calibrator(frame["score"].to_numpy()) if calibration else frame["score"].to_numpy()
    predicted = frame["prediction"].to_numpy()
    estimated_accuracy = np.where(predicted == 1, p, 1 - p).mean()
    realized_accuracy = accuracy_score(frame["label"], predicted)
    gap = out.values["estimation_gap"]
    assert abs(gap["accuracy"] - (realized_accuracy - estimated_accuracy)) < 1e-12
    # Expected F1 from the expected confusion: 2 TP / (2 TP + FP + FN), each the sum of probabilities.
    tp, fp = p[predicted == 1].sum(), (1 - p[predicted == 1]).sum()
    fn = p[predicted == 0].sum()
    assert abs(gap["f1"] - (f1_score(frame["label"], predicted) - 2 * tp / (2 * tp + fp + fn))) < 1e-12
    # Labels drawn from the scores: no concept drift, every verdict recorded as passing.
    verdicts = {dict(v.subject)["metric"]: v for v in out.verdicts if v.check == "concept_drift"}
    assert set(verdicts) == set(gap) and not any(v.failed for v in verdicts.values())
    limits = out.values["estimation_gap_limits"]
    z = stats.norm.ppf(1 - PerformanceBaseline(0.01).alpha)
    assert abs(limits["accuracy"] - max(0.01, z * NOISE["accuracy"] / np.sqrt(800))) < 1e-9


def test_labels_that_no_longer_follow_the_scores_are_concept_drift(binary) -> None:
    frame = binary_reference(1000, seed=22)
    rng = np.random.default_rng(22)
    frame["label"] = np.where(rng.random(1000) < 0.35, 1 - frame["label"], frame["label"])  # the world changed
    out = _gap(binary, binary.batch(frame))
    accuracy = next(v for v in out.verdicts if v.check == "concept_drift" and dict(v.subject)["metric"] == "accuracy")
    assert accuracy.failed and accuracy.value < -accuracy.threshold
    # A realized value better than its estimate is not concept drift (the verdict reads the worse side only).
    frame["label"] = frame["prediction"]
    out = _gap(binary, binary.batch(frame))
    accuracy = next(v for v in out.verdicts if v.check == "concept_drift" and dict(v.subject)["metric"] == "accuracy")
    assert accuracy.value > accuracy.threshold and not accuracy.failed


def test_no_gap_without_the_same_rows_or_enough_labels(binary) -> None:
    frame = binary_reference(300, seed=23)
    frame.loc[frame.index[:5], "score"] = np.nan  # predicted, labelled, but without an estimate
    out = _gap(binary, binary.batch(frame))
    assert "estimation_gap" not in out.values and not [v for v in out.verdicts if v.check == "concept_drift"]
    few = binary_reference(300, seed=24)
    few["label"] = few["label"].astype(object)
    few.loc[few.index[9:], "label"] = None  # nine labels: below min_window_rows
    out = _gap(binary, binary.batch(few))
    assert "estimation_gap" not in out.values


def test_late_multiclass_labels_bring_their_predictions_probabilities(tmp_path: Path) -> None:
    make, settings = CASES["multiclass"]
    logs = str(tmp_path / "logs" / "*.jsonl")
    model = _model(tmp_path, make(np.random.default_rng(1), 3000), **{
        **settings, "label_column": None,
        "predictions": {"path": logs, "timestamp_column": "ts", "id_column": "id"},
        "labels": {"path": str(tmp_path / "labels" / "*.jsonl"), "id_column": "id", "label_column": "label"}})
    frame = make(np.random.default_rng(2), 500)
    frame["id"] = [f"r{i}" for i in range(500)]
    truth = frame.pop("label")
    batch, _ = model.preparer.prepare(frame.assign(ts=NOW - 60.0), NOW, with_ids=True)
    joiner = LabelJoiner((), 1000, 600.0, classification=True, classes=len(model.spec.class_score_columns))
    joiner.on_predictions(batch)
    # The joiner's state round trip keeps each prediction's probabilities (calibrated, and as logged).
    saved = joiner.pending.to_arrays()
    restored = PendingPredictions(1000)
    restored.restore(saved)
    for name, array in restored.to_arrays().items():
        np.testing.assert_array_equal(array, saved[name], err_msg=name)  # NaN scores compare equal here
    labels, _ = model.preparer.prepare_labels(pd.DataFrame({"id": frame["id"], "label": truth}))
    rows = joiner.on_labels(labels, NOW, Counter())
    assert rows is not None and rows.outputs.class_proba is not None
    np.testing.assert_array_equal(rows.outputs.class_proba, batch.outputs.class_proba)
    assert rows.outputs.class_scores is not None and batch.outputs.class_scores is not None
    np.testing.assert_array_equal(rows.outputs.class_scores, batch.outputs.class_scores)
    # The gap of the late labels is that of the same rows and labels, computed at once.
    late = _gap(model, batch, rows).values["estimation_gap"]
    batch.outputs.label[:] = rows.outputs.label
    assert late and late == _gap(model, batch).values["estimation_gap"]
    # A state saved before predictions kept their estimate: those rows have none, and the gap is left out.
    del saved["estimate"]
    restored.restore(saved)
    assert all(p.estimate == () for p in restored.items.values())
