"""What the tests of each component share: a model built from a hand-made reference, hand-made batches
prepared from it, and one window of a component's fields: summarised in two buckets, merged, evaluated."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from exporter.baseline.reference import Reference, build_reference
from exporter.baseline.target_spec import build_targets
from exporter.baseline.targets import TargetSpec
from exporter.components import Component, PerformanceBaseline, build_components
from exporter.components.base import WindowContext
from exporter.config import ModelConfig, parse_config
from exporter.monitor.building import fitted_nanny, fitted_reconstruction
from exporter.prepare.preparer import PreparedBatch, Preparer
from exporter.summary.results import WindowBuilder
from exporter.summary.sketch import ONE_GROUP, Groups, Summary, merge
from tests.cases import binary_reference, regression_reference

NOW = 1_800_000_000.0


@dataclass
class Model:
    config: ModelConfig
    reference: Reference
    spec: TargetSpec
    frame: pd.DataFrame
    preparer: Preparer

    def component(self, name: str, baseline: PerformanceBaseline | None = None) -> Component:
        """The model's component registered as ``name``."""
        built = build_components(self.config, self.reference, self.spec, baseline or PerformanceBaseline(0.05))
        return next(c for c in built if c.name == name)

    def batch(self, frame: pd.DataFrame) -> PreparedBatch:
        """``frame`` (rows as logged, timestamps added) prepared as the exporter prepares it."""
        frame = frame.copy()
        frame.insert(0, "ts", NOW - 60.0)
        batch, _ = self.preparer.prepare(frame, NOW)
        assert len(batch) == len(frame)
        return batch


def _model(tmp_path: Path, frame: pd.DataFrame, **model: Any) -> Model:
    frame.to_parquet(tmp_path / "reference.parquet")
    data = {"state_dir": str(tmp_path / "state"), "models": [{
        "name": "m", "reference": str(tmp_path / "reference.parquet"),
        "predictions": {"path": str(tmp_path / "logs" / "*.jsonl"), "timestamp_column": "ts"},
        "windows": ["1h"], "min_window_rows": 10, **model}]}
    config = parse_config(data, base=tmp_path).models[0]
    reference = build_reference(config, frame)
    if config.multivariate_drift:  # as the monitor's baseline is built (the features' PCA reconstruction)
        reference = replace(reference, multivariate=fitted_reconstruction(config, reference, frame))
    spec = build_targets(config, frame)
    if spec.task == "regression" and config.dle:  # as the monitor's baseline is built (DLE's nanny models)
        spec = replace(spec, nanny=fitted_nanny(config, reference, spec, frame))
    return Model(config, reference, spec, frame, Preparer(config, reference, spec, {}, 3600.0))


@pytest.fixture()
def binary(tmp_path: Path) -> Model:
    return _model(tmp_path, binary_reference(), task="binary_classification", prediction_column="prediction",
                  score_column="score", label_column="label", latency_column="latency", latency_unit="s",
                  error_column="error",
                  drift={"method": "ks", "threshold": 0.1})


@pytest.fixture()
def regression(tmp_path: Path) -> Model:
    return _model(tmp_path, regression_reference(), task="regression", prediction_column="pred",
                  label_column="y", drift={"method": "psi", "threshold": 0.2})


def _summary(component: Component, batch: PreparedBatch, groups: Groups) -> Summary:
    return {**component.summarize(batch, groups), **component.summarize_labels(batch, groups)}


def one_window(component: Component, batch: PreparedBatch, min_rows: int = 10) -> WindowBuilder:
    """The window holding ``batch``: its rows summarised in two buckets (alternate rows), the buckets merged
    and the merge evaluated; returns what the component wrote (its part of the window's results). The merge
    is checked to equal the rows summarised at once."""
    n = len(batch)
    parts = _summary(component, batch, Groups(np.arange(n) % 2, 2))
    maxima = frozenset(name for name, spec in component.fields().items() if spec.reduce == "max")
    merged = merge({k: v[0] for k, v in parts.items()}, {k: v[1] for k, v in parts.items()}, maxima)
    whole = {k: v[0] for k, v in _summary(component, batch, ONE_GROUP).items()}
    assert merged.keys() == whole.keys() == component.fields().keys()
    for name in merged:
        np.testing.assert_allclose(merged[name], whole[name], rtol=1e-12, atol=0, err_msg=name)
    labelled = int(batch.outputs.labelled().sum())
    out = WindowBuilder("1h", "", n)
    component.evaluate(merged, WindowContext("1h", "", n, labelled, min_rows, NOW), out)
    return out


@pytest.fixture()
def window() -> Callable[..., WindowBuilder]:
    return one_window
