"""Realized performance against sklearn, late labels, CBPE estimates, prediction drift and segments."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as skm

from exporter.config import parse_config
from exporter.monitor.building import build_monitor
from exporter.monitor.model import ModelMonitor
from exporter.summary.results import ModelSnapshot, WindowResult
from tests.helpers import write_jsonl


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def binary_frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    """Calibrated by construction: the label is drawn with probability equal to the score."""
    x1 = rng.normal(shift, 1, n)
    x2 = rng.choice(["a", "b", "c"], n)
    score = _sigmoid(1.5 * x1 + 0.5 * (x2 == "a") - 0.3)
    label = (rng.random(n) < score).astype(int)
    return pd.DataFrame({"x1": x1, "x2": x2, "score": score, "prediction": (score >= 0.5).astype(int),
                         "label": label})


def _monitor(tmp: Path, reference: pd.DataFrame, **model: Any) -> ModelMonitor:
    reference.to_parquet(tmp / "reference.parquet")
    data = {"state_dir": str(tmp / "state"), "models": [{
        "name": "m", "task": "binary_classification", "reference": "reference.parquet",
        "predictions": {"path": "logs/*.jsonl", "timestamp_column": "ts", "id_column": "id"},
        "prediction_column": "prediction", "score_column": "score", "label_column": "label",
        "windows": ["5m", "1h"], "min_window_rows": 20, **model}]}
    return build_monitor(parse_config(data, base=tmp).models[0], tmp / "state")


def _records(frame: pd.DataFrame, ts: float, prefix: str = "r", drop: tuple[str, ...] = ()) -> list[dict]:
    out = []
    for i, row in enumerate(frame.drop(columns=list(drop)).to_dict("records")):
        out.append({"ts": ts, "id": f"{prefix}{i}", **{k: (v.item() if hasattr(v, "item") else v)
                                                       for k, v in row.items()}})
    return out


def _window(snapshot: ModelSnapshot, label: str = "5m", segment: str = "") -> WindowResult:
    return next(w for w in snapshot.windows if w.window == label and w.segment == segment)


def test_binary_metrics_match_sklearn(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    monitor = _monitor(tmp_path, binary_frame(rng, 5000))
    current = binary_frame(rng, 3000, shift=0.3)
    current.loc[current.sample(frac=0.3, random_state=1).index, "label"] = None  # unlabelled rows
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", _records(current, now - 5))
    window = _window(monitor.update(now=now))
    labelled = current.dropna(subset=["label"])
    y, p, s = labelled["label"].astype(int), labelled["prediction"], labelled["score"]
    expected = {
        "accuracy": skm.accuracy_score(y, p), "precision": skm.precision_score(y, p),
        "recall": skm.recall_score(y, p), "f1": skm.f1_score(y, p), "log_loss": skm.log_loss(y, s),
        "positive_rate": float(p.mean()), "specificity": skm.recall_score(y, p, pos_label=0),
    }
    for metric, value in expected.items():
        assert window.performance[metric] == pytest.approx(value, rel=1e-9), metric
    assert abs(window.performance["roc_auc"] - skm.roc_auc_score(y, s)) <= 1e-3
    assert abs(window.performance["average_precision"] - skm.average_precision_score(y, s)) <= 1e-3
    assert window.confusion_matrix is not None and window.confusion_matrix.classes == ("0", "1")
    np.testing.assert_array_equal(window.confusion_matrix.counts, skm.confusion_matrix(y, p))
    expected = window.estimated_confusion_matrix  # every row's calibrated probability, in its predicted column
    assert expected is not None and expected.counts.sum() == pytest.approx(len(current), rel=1e-12)
    assert np.trace(expected.counts) / expected.counts.sum() == pytest.approx(
        window.estimated_performance["accuracy"], rel=1e-12)
    np.testing.assert_allclose(expected.counts.sum(axis=0), np.bincount(current["prediction"], minlength=2))
    segment_windows = [w for w in monitor.update(now=now).windows if w.segment]
    assert all(w.confusion_matrix is None for w in segment_windows)
    assert window.label_coverage == len(labelled) / len(current)
    assert window.labelled_rows == len(labelled)


def test_decision_threshold_decides_when_no_prediction_is_logged(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    monitor = _monitor(tmp_path, binary_frame(rng, 3000), decision_threshold=0.3, prediction_column=None)
    current = binary_frame(rng, 1000)
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", _records(current, now - 5, drop=("prediction",)))
    window = _window(monitor.update(now=now))
    predicted = (current["score"] >= 0.3).astype(int)
    assert window.performance["recall"] == pytest.approx(skm.recall_score(current["label"], predicted))


@pytest.mark.parametrize("operating_point", [0.3, 0.41])
def test_the_logged_decision_is_the_decision(tmp_path: Path, operating_point: float) -> None:
    """A model that decides at its own operating point is judged on the decisions it logged, not on the
    score re-thresholded at decision_threshold; the score still serves ROC AUC and log loss."""
    rng = np.random.default_rng(12)
    reference = binary_frame(rng, 3000)
    reference["prediction"] = (reference["score"] >= operating_point).astype(int)
    monitor = _monitor(tmp_path, reference)
    current = binary_frame(rng, 2000, shift=0.2)
    current["prediction"] = (current["score"] >= operating_point).astype(int)
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", _records(current, now - 5))
    snapshot = monitor.update(now=now)
    window = _window(snapshot)
    y, p, s = current["label"], current["prediction"], current["score"]
    for name, metric in (("accuracy", skm.accuracy_score), ("precision", skm.precision_score),
                         ("recall", skm.recall_score), ("f1", skm.f1_score)):
        assert window.performance[name] == pytest.approx(metric(y, p), rel=1e-12), name
        assert snapshot.reference_performance[name] == pytest.approx(
            metric(reference["label"], reference["prediction"]), rel=1e-12), name
    assert window.performance["positive_rate"] == pytest.approx(p.mean(), rel=1e-12)
    assert abs(window.performance["roc_auc"] - skm.roc_auc_score(y, s)) <= 1e-3
    assert window.performance["log_loss"] == pytest.approx(skm.log_loss(y, s), rel=1e-9)


def test_multiclass_metrics_match_sklearn(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    classes = np.array(["cat", "dog", "bird"])
    truth = rng.choice(classes, 4000, p=[0.5, 0.3, 0.2])
    predicted = np.where(rng.random(4000) < 0.7, truth, rng.choice(classes, 4000))
    frame = pd.DataFrame({"x": rng.normal(0, 1, 4000), "prediction": predicted, "label": truth})
    monitor = _monitor(tmp_path, frame.iloc[:2000], task="multiclass_classification", score_column=None)
    current = frame.iloc[2000:].copy()
    current.loc[current.index[:5], "prediction"] = "fish"  # a class the reference never saw
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", _records(current, now - 5))
    window = _window(monitor.update(now=now))
    y, p = current["label"], current["prediction"]
    expected = {"accuracy": skm.accuracy_score(y, p)}
    for average in ("macro", "weighted"):
        expected[f"precision_{average}"] = skm.precision_score(y, p, average=average, zero_division=0)
        expected[f"recall_{average}"] = skm.recall_score(y, p, average=average, zero_division=0)
        expected[f"f1_{average}"] = skm.f1_score(y, p, average=average, zero_division=0)
    # NannyML's multiclass specificity: each class against the rest, averaged over the classes present.
    per_class = skm.multilabel_confusion_matrix(y, p, labels=sorted(set(y) | set(p)))
    # The confusion matrix by class name; "fish" (never in the reference) in the __other__ column.
    matrix = window.confusion_matrix
    assert matrix is not None and matrix.classes[-1] == "__other__"
    order = [*matrix.classes[:-1], "fish"]
    np.testing.assert_array_equal(matrix.counts, skm.confusion_matrix(y, p, labels=order))
    expected["specificity"] = float(np.mean(per_class[:, 0, 0] / (per_class[:, 0, 0] + per_class[:, 0, 1])))
    for metric, value in expected.items():
        assert window.performance[metric] == pytest.approx(value, rel=1e-9), metric


def multiclass_frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    """Three classes with softmax probabilities the labels are drawn from (calibrated by construction)."""
    x = rng.normal(shift, 1, (n, 2))
    logits = np.stack([1.2 * x[:, 0], 1.2 * x[:, 1], 0.3 * np.ones(n)], axis=1)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    classes = np.array(["cat", "dog", "fox"])
    label = classes[(rng.random(n)[:, None] > np.cumsum(proba, axis=1)).sum(axis=1)]
    return pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "p_cat": proba[:, 0], "p_dog": proba[:, 1],
                         "p_fox": proba[:, 2], "prediction": classes[proba.argmax(axis=1)], "label": label})


def test_multiclass_cbpe_one_vs_rest_estimates_land_near_realized(tmp_path: Path) -> None:
    rng = np.random.default_rng(31)
    columns = {"cat": "p_cat", "dog": "p_dog", "fox": "p_fox"}
    monitor = _monitor(tmp_path, multiclass_frame(rng, 20000), task="multiclass_classification", score_column=None,
                       class_score_columns=columns, features={"numeric": ["x0", "x1"]})
    current = multiclass_frame(rng, 20000, shift=0.4)
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", _records(current, now - 5))
    snapshot = monitor.update(now=now)
    window = _window(snapshot)
    assert snapshot.calibration_error is not None and snapshot.calibration_error < 0.05
    assert snapshot.violations == {}  # the probability columns are known columns
    for metric in ("accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_weighted", "specificity",
                   "roc_auc"):
        estimated, realized = window.estimated_performance[metric], window.performance[metric]
        assert abs(estimated - realized) <= 0.02, (metric, estimated, realized)
    # Realized ROC AUC: sklearn's one-vs-rest macro average on the probabilities as logged.
    scores = current[["p_cat", "p_dog", "p_fox"]].to_numpy()
    realized_auc = skm.roc_auc_score(current["label"], scores, multi_class="ovr", average="macro")
    assert abs(window.performance["roc_auc"] - realized_auc) <= 1e-3
    # Estimated: NannyML's estimate_roc_auc per class (nannyml/performance_estimation/confidence_based/
    # metrics.py) on the calibrated probability, ranked by the logged one, averaged over the classes.
    spec = monitor.targets
    calibrated = spec.class_probabilities(current)
    estimates = []
    for c in range(3):
        order = np.argsort(scores[:, c])[::-1]
        tps = np.r_[0, np.cumsum(calibrated[order, c])]
        fps = np.r_[0, 1 + np.arange(order.size) - tps[1:]]
        estimates.append(np.trapezoid(tps / tps[-1], fps / fps[-1]))
    assert abs(window.estimated_performance["roc_auc"] - float(np.mean(estimates))) <= 1e-3


def test_multiclass_class_score_columns_must_match_the_classes(tmp_path: Path) -> None:
    from exporter.config import ConfigError

    rng = np.random.default_rng(32)
    with pytest.raises(ConfigError, match="no probability column for classes"):
        _monitor(tmp_path, multiclass_frame(rng, 500), task="multiclass_classification", score_column=None,
                 class_score_columns={"cat": "p_cat", "dog": "p_dog"})


def test_regression_metrics_match_sklearn(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, 6000)
    truth = 3 * x + rng.normal(0, 1, 6000) + 10
    frame = pd.DataFrame({"x": x, "prediction": 3 * x + 10.5, "label": truth})
    monitor = _monitor(tmp_path, frame.iloc[:3000], task="regression", score_column=None)
    current = frame.iloc[3000:]
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", _records(current, now - 5))
    window = _window(monitor.update(now=now))
    y, p = current["label"], current["prediction"]
    expected = {
        "rmse": skm.root_mean_squared_error(y, p), "mae": skm.mean_absolute_error(y, p),
        "mape": skm.mean_absolute_percentage_error(y, p), "r2": skm.r2_score(y, p),
        "mean_error": float(np.mean(p - y)), "error_std": float(np.std(p - y, ddof=1)),
        "max_error": skm.max_error(y, p),
    }
    if (y > -1).all() and (p > -1).all():
        expected["msle"] = skm.mean_squared_log_error(y, p)
        expected["rmsle"] = skm.root_mean_squared_log_error(y, p)
    else:
        assert "msle" not in window.performance and "rmsle" not in window.performance
    for metric, value in expected.items():
        assert window.performance[metric] == pytest.approx(value, rel=1e-6), metric
    assert window.performance["mean_error"] > 0  # over-estimation shows as a positive sign
    # Prediction drift of the predicted value is there too.
    assert {d.output for d in window.prediction_drift} == {"value"}


def _label_monitor(tmp: Path, rng: np.random.Generator, **labels: Any) -> ModelMonitor:
    return _monitor(tmp, binary_frame(rng, 3000), label_column=None,
                    labels={"path": "labels/*.jsonl", "id_column": "id", "label_column": "label", **labels})


def test_late_labels_update_a_past_window(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    monitor = _label_monitor(tmp_path, rng)
    current = binary_frame(rng, 800)
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", _records(current, now - 600, drop=("label",)))
    first = _window(monitor.update(now=now), "1h")
    assert first.rows == 800 and first.performance == {} and first.label_coverage == 0
    assert first.estimated_performance  # CBPE needs no label
    # Labels arrive 10 minutes after their predictions, for 600 of the 800.
    labels = [{"id": f"r{i}", "label": int(v)} for i, v in enumerate(current["label"][:600])]
    write_jsonl(tmp_path / "labels" / "a.jsonl", labels)
    snapshot = monitor.update(now=now)
    second = _window(snapshot, "1h")
    assert second.label_coverage == 600 / 800
    y = current["label"][:600]
    assert second.performance["accuracy"] == pytest.approx(skm.accuracy_score(y, current["prediction"][:600]))
    # The 5m window does not hold those predictions: their labels do not land there.
    assert _window(snapshot, "5m").labelled_rows == 0
    delay = snapshot.label_delay
    assert delay is not None and delay.count == 600
    assert delay.total == pytest.approx(600 * 600, rel=0.01)
    # Per window: every delay is 600 s, in the (300, 900] bucket; quantiles interpolate inside it.
    quantiles = second.label_delay_quantiles
    assert 300 < quantiles["50"] <= 900 and quantiles["50"] <= quantiles["90"] <= quantiles["99"] <= 900
    assert _window(snapshot, "5m").label_delay_quantiles == {}
    assert snapshot.pending_labels == (200, 0)


def test_labels_that_arrive_before_their_prediction_wait_for_it(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    monitor = _label_monitor(tmp_path, rng)
    current = binary_frame(rng, 100)
    now = time.time()
    write_jsonl(tmp_path / "labels" / "a.jsonl", [{"id": f"r{i}", "label": int(v)}
                                                  for i, v in enumerate(current["label"])])
    assert monitor.update(now=now).pending_labels == (0, 100)
    write_jsonl(tmp_path / "logs" / "a.jsonl", _records(current, now - 5, drop=("label",)))
    snapshot = monitor.update(now=now)
    assert _window(snapshot).labelled_rows == 100
    assert snapshot.pending_labels == (0, 0)


def test_waiting_is_bounded_and_what_is_dropped_is_counted(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    monitor = _label_monitor(tmp_path, rng, max_pending=50, early_label_retention="1m")
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", _records(binary_frame(rng, 120), now - 5, drop=("label",)))
    write_jsonl(tmp_path / "labels" / "a.jsonl", [{"id": f"nobody{i}", "label": 1} for i in range(10)])
    snapshot = monitor.update(now=now)
    assert snapshot.pending_labels == (50, 10)
    assert snapshot.join_dropped["pending_overflow"] == 70
    snapshot = monitor.update(now=now + 120)  # early labels outlive their retention
    assert snapshot.pending_labels[1] == 0 and snapshot.join_dropped["label_expired"] == 10


def test_retained_memory_does_not_grow_with_traffic(tmp_path: Path) -> None:
    """With labels in the rows nothing is kept per row: only fixed-size summaries grow in count, not size."""
    rng = np.random.default_rng(8)
    monitor = _monitor(tmp_path, binary_frame(rng, 2000))
    now = time.time()
    sizes = []
    for round_ in range(3):
        monitor.ingest(pd.DataFrame(_records(binary_frame(rng, 20000), now - 5, prefix=f"x{round_}-")), now)
        sizes.append(sum(a.nbytes for rings in monitor.store.rings.values() for r in rings.values()
                         for a in r.data.values()))
    assert sizes[0] == sizes[1] == sizes[2]
    assert len(monitor.joiner.pending) == 0 and len(monitor.joiner.early) == 0
    assert _window(monitor.snapshot(monitor.compute(now), True)).rows == 60000


def test_cbpe_estimates_land_within_002_of_realized_on_calibrated_data(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    monitor = _monitor(tmp_path, binary_frame(rng, 20000))
    current = binary_frame(rng, 20000, shift=0.5)  # covariate shift: CBPE's home ground
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", _records(current, now - 5))
    snapshot = monitor.update(now=now)
    window = _window(snapshot)
    assert snapshot.calibration_error is not None and snapshot.calibration_error < 0.05
    for metric in ("accuracy", "precision", "recall", "specificity", "f1", "roc_auc", "average_precision"):
        estimated, realized = window.estimated_performance[metric], window.performance[metric]
        assert abs(estimated - realized) <= 0.02, (metric, estimated, realized)
    # Estimated average precision as NannyML's estimate_ap computes it (nannyml/performance_estimation/
    # confidence_based/metrics.py), per row on the same calibrated probabilities: the bins tie a bin's rows.
    score = current["score"].to_numpy()
    calibration = monitor.targets.calibration
    calibrated = calibration.calibrator(score) if calibration is not None else score
    descending = calibrated[np.argsort(score)[::-1]]
    tps = np.round(np.cumsum(descending), 5)
    precision = np.r_[1, tps / np.arange(1, tps.size + 1)][::-1]
    recall = (np.r_[0, tps] / tps[-1])[::-1]
    nannyml_ap = -np.sum(np.diff(recall) * precision[:-1])
    assert abs(window.estimated_performance["average_precision"] - nannyml_ap) <= 1e-3


def test_cbpe_calibrates_overconfident_scores(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    reference = binary_frame(rng, 20000)
    reference["score"] = _sigmoid(3 * np.log(reference["score"] / (1 - reference["score"])))  # overconfident
    monitor = _monitor(tmp_path, reference)
    assert monitor.targets.calibration is not None and monitor.targets.calibration.calibrated
    current = binary_frame(rng, 20000)
    current["score"] = _sigmoid(3 * np.log(current["score"] / (1 - current["score"])))
    current["prediction"] = (current["score"] >= 0.5).astype(int)
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", _records(current, now - 5))
    window = _window(monitor.update(now=now))
    assert abs(window.estimated_performance["accuracy"] - window.performance["accuracy"]) <= 0.02


def test_score_drift_matches_scipy_ks(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    reference = binary_frame(rng, 5000)
    monitor = _monitor(tmp_path, reference, drift={"prediction_method": "ks", "prediction_threshold": 0.1})
    current = binary_frame(rng, 3000, shift=0.8)
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", _records(current, now - 5))
    window = _window(monitor.update(now=now))
    score = next(d for d in window.prediction_drift if d.output == "score")
    exact = stats.ks_2samp(reference["score"], current["score"]).statistic
    assert abs(score.score - exact) <= 0.005 and score.drifted
    assert {d.output for d in window.prediction_drift} == {"score", "class", "confidence"}
    outside = ((current["score"] < reference["score"].min()) | (current["score"] > reference["score"].max())).mean()
    assert window.prediction_out_of_range == pytest.approx(outside)


def test_segments_split_windows_and_cap_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    monitor = _monitor(tmp_path, binary_frame(rng, 3000), segments=["x2"], max_segment_values=2)
    current = binary_frame(rng, 900)
    current.loc[current.index[:50], "x2"] = "zzz"  # unseen in the reference
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", _records(current, now - 5))
    snapshot = monitor.update(now=now)
    kept = monitor.segments["x2"]
    assert len(kept) == 2
    by_segment = {w.segment: w for w in snapshot.windows if w.window == "5m"}
    assert set(by_segment) == {"", *(f"x2={v}" for v in kept), "x2=__other__"}
    assert sum(w.rows for s, w in by_segment.items() if s) == by_segment[""].rows == 900
    for value in kept:
        part = current[current["x2"] == value]
        assert by_segment[f"x2={value}"].rows == len(part)
        assert by_segment[f"x2={value}"].performance["accuracy"] == pytest.approx(
            skm.accuracy_score(part["label"], part["prediction"]))
    assert snapshot.segment_other["x2"] == by_segment["x2=__other__"].rows


def test_service_health_from_the_log(tmp_path: Path) -> None:
    rng = np.random.default_rng(13)
    monitor = _monitor(tmp_path, binary_frame(rng, 1000), latency_column="latency_ms", error_column="status",
                       version="2.1.0", trained_at="2026-01-01T00:00:00Z")
    now = time.time()
    records = _records(binary_frame(rng, 100), now - 5)
    for i, record in enumerate(records):
        record["latency_ms"] = [0.5, 20, 700, 12000][i % 4]
        record["status"] = "error" if i % 10 == 0 else "ok"
    write_jsonl(tmp_path / "logs" / "a.jsonl", records)
    snapshot = monitor.update(now=now)
    assert snapshot.prediction_errors == 10
    assert snapshot.version == "2.1.0" and snapshot.trained_at.startswith("2026-01-01T00:00:00")
    assert snapshot.age_seconds == pytest.approx(now - 1767225600.0)
    buckets = dict(snapshot.latency.buckets)
    assert buckets[0.001] == 25 and buckets[0.025] == 50 and buckets[1.0] == 75 and buckets[float("inf")] == 100
    assert snapshot.latency.total == pytest.approx(25 * (0.0005 + 0.02 + 0.7 + 12.0))


def test_the_model_age_limit_is_exported_with_its_training_time_only(tmp_path: Path) -> None:
    from exporter.publish.exposition import build_families, families_as_json

    rng = np.random.default_rng(15)
    now = time.time()
    (tmp_path / "aged").mkdir()
    (tmp_path / "untimed").mkdir()
    aged = _monitor(tmp_path / "aged", binary_frame(rng, 1000), trained_at="2026-01-01T00:00:00Z",
                    max_model_age="30d").update(now=now)
    assert aged.max_age_seconds == 30 * 86400 and aged.age_seconds == pytest.approx(now - 1767225600.0)
    samples = {s["name"]: s["value"] for s in families_as_json(build_families([aged]))}
    assert samples["model_max_age_seconds"] == 30 * 86400
    # Without a training time there is no age, and no limit to compare it with (absent, not 0).
    untimed = _monitor(tmp_path / "untimed", binary_frame(rng, 1000), max_model_age="30d").update(now=now)
    names = {s["name"] for s in families_as_json(build_families([untimed]))}
    assert untimed.max_age_seconds is None and "model_max_age_seconds" not in names


def test_check_json_has_performance(tmp_path: Path) -> None:
    rng = np.random.default_rng(14)
    _monitor(tmp_path, binary_frame(rng, 1000))
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", _records(binary_frame(rng, 200), now - 5))
    from exporter.publish.exposition import build_families, families_as_json

    monitor = _monitor(tmp_path, binary_frame(rng, 1000))
    samples = families_as_json(build_families([monitor.update(now=now, persist=False)]))
    names = {s["name"] for s in samples}
    assert {"model_performance", "model_estimated_performance", "model_label_coverage_ratio",
            "model_prediction_drift_score", "model_score_calibration_error"} <= names
    assert json.dumps(samples)


def test_bucket_quantile_interpolates_like_histogram_quantile() -> None:
    from exporter.stats.histograms import bucket_quantile

    bounds = (1.0, 2.0, 4.0)
    assert bucket_quantile(0.5, bounds, np.array([0, 10, 0, 0])) == pytest.approx(1.5)
    assert bucket_quantile(0.25, bounds, np.array([4, 0, 0, 0])) == pytest.approx(0.25)  # first bucket from 0
    assert bucket_quantile(0.9, bounds, np.array([5, 0, 0, 5])) == 4.0  # beyond the last bound: the last bound
    assert bucket_quantile(0.5, bounds, np.zeros(4)) is None
    # On values spread uniformly inside their buckets it approaches the exact quantile.
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 4, 100_000)
    counts = np.bincount(np.searchsorted(np.asarray(bounds), values, side="left"), minlength=4)
    for q in (0.1, 0.5, 0.9):
        assert bucket_quantile(q, bounds, counts) == pytest.approx(np.quantile(values, q), abs=0.02)


def test_each_metric_has_its_sampling_error_at_the_window_s_rows(tmp_path: Path) -> None:
    """NannyML's errors from the reference's own confusion counts: realized at the labelled rows, estimated at all."""
    rng = np.random.default_rng(9)
    reference = binary_frame(rng, 5000)
    monitor = _monitor(tmp_path, reference)
    current = binary_frame(rng, 2000)
    current.loc[current.sample(frac=0.4, random_state=2).index, "label"] = None
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", _records(current, now - 5))
    window = _window(monitor.update(now=now))
    y, p = reference["label"], reference["prediction"]
    accuracy, precision = skm.accuracy_score(y, p), skm.precision_score(y, p)
    positive_predictions = float(p.mean())
    labelled, rows = window.labelled_rows, window.rows
    assert labelled == 1200 and rows == 2000
    realized, estimated = window.performance_sampling_error, window.estimated_performance_sampling_error
    assert realized["accuracy"] == pytest.approx(np.sqrt(accuracy * (1 - accuracy) / labelled), rel=1e-12)
    assert estimated["accuracy"] == pytest.approx(np.sqrt(accuracy * (1 - accuracy) / rows), rel=1e-12)
    assert realized["precision"] == pytest.approx(
        np.sqrt(precision * (1 - precision) / (labelled * positive_predictions)), rel=1e-12)
    assert set(realized) == set(window.performance) and set(estimated) == set(window.estimated_performance)


def test_msle_is_left_out_where_sklearn_refuses_it_or_a_row_was_not_counted() -> None:
    from exporter.stats.performance import log_error_metrics, log_error_terms

    truth, predicted = np.array([1.0, 3.0, 0.0]), np.array([2.0, 2.5, 0.2])
    sums = log_error_terms(truth, predicted).sum(axis=0)
    assert log_error_metrics(sums, 3) == pytest.approx({"msle": skm.mean_squared_log_error(truth, predicted),
                                                        "rmsle": skm.root_mean_squared_log_error(truth, predicted)})
    assert log_error_metrics(sums, 4) == {}  # a row summed before msle was counted (a bucket of an older release)
    below = log_error_terms(np.array([1.0, -1.0]), np.array([1.0, 0.5])).sum(axis=0)
    assert log_error_metrics(below, 2) == {}  # -1 is out of the logarithm's domain
