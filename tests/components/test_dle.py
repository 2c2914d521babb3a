"""The DLE component: a window's estimated MAE, MSE and RMSE from the nanny models' per-row estimates."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from exporter.components import PerformanceBaseline, build_components
from exporter.components.base import WindowContext
from exporter.monitor.building import performance_noise, realized_performance
from exporter.prepare.label_join import LabelJoiner
from exporter.summary.results import WindowBuilder
from exporter.summary.sketch import ONE_GROUP
from tests.components.conftest import NOW, Model, _model


def _frame(n: int, seed: int, centre: float = 0.0, noise: float = 0.3) -> pd.DataFrame:
    """Prices whose error grows with |x| (the model is sure near 0 and unsure far from it)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(centre, 1, n)
    pred = 3 * x
    return pd.DataFrame({"x": x, "kind": rng.choice(["a", "b"], n), "pred": pred,
                         "y": pred + rng.normal(0, noise * (1 + np.abs(x)), n)})


def _model_of(tmp_path: Path, **extra) -> Model:
    return _model(tmp_path, _frame(5000, 0), **{"task": "regression", "prediction_column": "pred",
                                                "label_column": "y", **extra})


def _window(model: Model, frame: pd.DataFrame) -> WindowBuilder:
    """Regression then DLE evaluated on one window of ``frame`` (labels in the log), against the thresholds the
    monitor sets from the model's reference (its realized performance and sampling noise)."""
    baseline = PerformanceBaseline(0.05, realized_performance(model.config, model.reference, model.spec, model.frame),
                                   performance_noise(model.config, model.reference, model.spec, model.frame))
    regression, dle = (model.component(name, baseline) for name in ("regression", "dle"))
    batch = model.batch(frame)
    merged = {**{k: v[0] for k, v in dle.summarize(batch, ONE_GROUP).items()},
              **{k: v[0] for k, v in dle.summarize_labels(batch, ONE_GROUP).items()}}
    labels = {k: v[0] for k, v in regression.summarize_labels(batch, ONE_GROUP).items()}
    out = WindowBuilder("1h", "", len(frame))
    ctx = WindowContext("1h", "", len(frame), int(batch.outputs.labelled().sum()), 10, NOW)
    regression.evaluate(labels, ctx, out)
    dle.evaluate(merged, ctx, out)
    return out


def test_the_window_estimate_is_the_mean_of_the_rows_estimates(tmp_path: Path) -> None:
    model = _model_of(tmp_path)
    frame = _frame(700, 1)
    estimated = _window(model, frame).values["estimated_performance"]
    rows = model.batch(frame).outputs.est_error
    assert rows is not None and (rows >= 0).all()
    assert abs(estimated["mae"] - rows[:, 0].mean()) < 1e-12
    assert abs(estimated["mse"] - rows[:, 1].mean()) < 1e-12
    assert abs(estimated["rmse"] - np.sqrt(rows[:, 1].mean())) < 1e-12


def test_the_estimate_follows_the_error_where_the_inputs_move(tmp_path: Path) -> None:
    model = _model_of(tmp_path)
    # Inputs moved away from 0, where the errors are larger (within the reference's range: trees do not
    # extrapolate beyond it, and there the gap below says the estimate no longer holds).
    near, far = _frame(2000, 2), _frame(2000, 3, centre=1.0)
    estimated_near = _window(model, near).values["estimated_performance"]["mae"]
    out = _window(model, far)
    estimated_far, realized_far = out.values["estimated_performance"]["mae"], out.values["performance"]["mae"]
    assert estimated_far > 1.15 * estimated_near
    assert abs(estimated_far - realized_far) / realized_far < 0.05
    # The estimate is of the same rows as the realized errors: no concept drift where the world did not change.
    assert out.values["estimation_gap"]["mae"] == realized_far - estimated_far
    assert not any(v.failed for v in out.verdicts if v.check == "concept_drift")


def test_labels_noisier_than_the_inputs_explain_are_concept_drift(tmp_path: Path) -> None:
    model = _model_of(tmp_path)
    out = _window(model, _frame(2000, 4, noise=0.9))
    verdicts = {dict(v.subject)["metric"]: v for v in out.verdicts if v.check == "concept_drift"}
    assert verdicts["mae"].failed and verdicts["mae"].value > verdicts["mae"].threshold  # an error: worse is above
    reference = realized_performance(model.config, model.reference, model.spec, model.frame)["mae"]
    assert out.values["estimated_performance_limits"]["mae"] > reference  # an error's threshold lies above it


def test_late_labels_bring_their_predictions_estimates(tmp_path: Path) -> None:
    logs = str(tmp_path / "logs" / "*.jsonl")
    model = _model_of(tmp_path, label_column=None,
                      predictions={"path": logs, "timestamp_column": "ts", "id_column": "id"},
                      labels={"path": str(tmp_path / "labels" / "*.jsonl"), "id_column": "id", "label_column": "y"})
    frame = _frame(300, 5)
    frame["id"] = [f"r{i}" for i in range(300)]
    batch, _ = model.preparer.prepare(frame.drop(columns=["y"]).assign(ts=NOW - 60.0), NOW, with_ids=True)
    joiner = LabelJoiner((), 1000, 600.0, classification=False)
    joiner.on_predictions(batch)
    labels, _ = model.preparer.prepare_labels(frame[["id", "y"]])
    rows = joiner.on_labels(labels, NOW, Counter())
    assert rows is not None and rows.outputs.est_error is not None
    np.testing.assert_array_equal(rows.outputs.est_error, batch.outputs.est_error)


def test_dle_off_or_without_labels_in_the_reference_estimates_nothing(tmp_path: Path) -> None:
    (tmp_path / "off").mkdir()
    (tmp_path / "none").mkdir()
    off = _model(tmp_path / "off", _frame(1000, 6), task="regression", prediction_column="pred", label_column="y",
                 dle=False)
    unlabelled = _model(tmp_path / "none", _frame(1000, 7).drop(columns=["y"]), task="regression",
                        prediction_column="pred", label_column="y")
    for model in (off, unlabelled):
        assert model.spec.nanny is None
        names = {c.name for c in build_components(model.config, model.reference, model.spec, PerformanceBaseline(0))}
        assert "dle" not in names and "regression" in names
