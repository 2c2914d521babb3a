"""Configuration: the documented keys, relative paths, and one clear error for every mistake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from exporter.baseline.reference import load_reference
from exporter.config import ConfigError, load_config
from tests.helpers import reference_frame, write_config


def _base(tmp: Path) -> dict[str, Any]:
    reference_frame().to_parquet(tmp / "reference.parquet")
    return {
        "interval": "5s",
        "server": {"host": "127.0.0.1", "port": 9108},
        "state_dir": "./state",
        "models": [{
            "name": "fraud",
            "task": "binary_classification",
            "reference": "reference.parquet",
            "predictions": {"path": "data/predictions/*.jsonl", "timestamp_column": "ts", "id_column": "request_id"},
            "labels": {"path": "data/labels/*.jsonl", "id_column": "request_id", "label_column": "label"},
            "features": {"numeric": ["age", "income"], "categorical": ["country"]},
            "prediction_column": "prediction",
            "score_column": "score",
            "label_column": "label",
            "latency_column": "latency_ms",
            "latency_unit": "ms",
            "windows": ["5m", "1h"],
            "drift": {"method": "ks", "threshold": 0.1},
        }],
    }


def _load(tmp: Path, data: dict[str, Any]):
    config = load_config(write_config(tmp / "monitor.yaml", data))
    for model in config.models:
        load_reference(model, str(tmp / "monitor.yaml"))
    return config


def test_the_documented_example_loads_with_paths_relative_to_the_config(tmp_path: Path) -> None:
    config = _load(tmp_path, _base(tmp_path))
    model = config.models[0]
    assert config.interval == 5.0
    assert config.state_dir == tmp_path / "state"
    assert model.reference == tmp_path / "reference.parquet"
    assert model.predictions.path == str(tmp_path / "data/predictions/*.jsonl")
    assert [(w.label, w.seconds) for w in model.windows] == [("5m", 300.0), ("1h", 3600.0)]
    reference, _ = load_reference(model)
    assert [(f.name, f.method, f.threshold) for f in reference.numeric] == [("age", "ks", 0.1), ("income", "ks", 0.1)]
    # ks is numeric-only: the categorical feature uses categorical_method (js), calibrated by default
    # (categorical_threshold unset): at least the minimum effect of js, alpha 0.002.
    [country] = reference.categorical
    assert (country.name, country.method, country.threshold) == ("country", "js", 0.05)
    assert country.calibration is not None and country.calibration.alpha == 0.002
    assert all(f.calibration is None for f in reference.numeric)  # a configured threshold is fixed


def test_default_features_are_the_columns_without_a_role(tmp_path: Path) -> None:
    data = _base(tmp_path)
    del data["models"][0]["features"]
    reference, _ = load_reference(_load(tmp_path, data).models[0])
    assert [f.name for f in reference.numeric] == ["age", "income"]
    assert [f.name for f in reference.categorical] == ["country"]


def test_per_feature_overrides(tmp_path: Path) -> None:
    data = _base(tmp_path)
    data["models"][0]["drift"] = {"method": "psi", "threshold": 0.25, "categorical_method": "chi2",
                                  "features": {"age": {"method": "wasserstein", "threshold": 0.3},
                                               "country": {"threshold": 0.01}}}
    reference, _ = load_reference(_load(tmp_path, data).models[0])
    methods = {f.name: (f.method, f.threshold) for f in (*reference.numeric, *reference.categorical)}
    assert methods == {"age": ("wasserstein", 0.3), "income": ("psi", 0.25), "country": ("psi", 0.01)}


def test_auto_uses_tests_on_small_references_and_distances_on_large_ones(tmp_path: Path) -> None:
    data = _base(tmp_path)
    data["models"][0]["drift"] = {"method": "auto"}
    reference, _ = load_reference(_load(tmp_path, data).models[0])  # 2000 rows: large
    assert {f.method for f in reference.numeric} == {"wasserstein"}
    assert {f.method for f in reference.categorical} == {"js"}
    reference_frame(500).to_parquet(tmp_path / "small.parquet")
    data["models"][0]["reference"] = "small.parquet"
    reference, _ = load_reference(_load(tmp_path, data).models[0])
    assert {f.method for f in reference.numeric} == {"ks"}
    # Calibrated chi2: a p-value below alpha (0.002), and a JS distance of at least 0.05.
    assert {(f.method, f.threshold, f.calibration.min_effect) for f in reference.categorical} == {("chi2", 0.002, 0.05)}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["models"][0].update(colour="red"), "models[0].colour: unknown key"),
        (lambda d: d.update(intervall="5s"), "intervall: unknown key"),
        (lambda d: d["models"][0]["drift"].update(method="magic"), "models[0].drift.method"),
        (lambda d: d.update(interval="soon"), "interval"),
        (lambda d: d["server"].update(port="http"), "server.port"),
        (lambda d: d["models"][0].update(windows=["5 minutes"]), "models[0].windows[0]"),
        (lambda d: d["models"][0].update(reference="missing.parquet"), "missing.parquet"),
        (lambda d: d["models"][0]["features"].update(numeric=["age", "agee"]), "'agee'"),
        (lambda d: d["models"][0].update(score_column="proba"), "'proba'"),
        (lambda d: d["models"][0].pop("task"), "models[0].task: required key is missing"),
        (lambda d: d["models"].append(dict(d["models"][0])), "model names must be unique"),
        (lambda d: d["models"][0]["drift"].update(features={"nope": {"threshold": 1}}), "nope"),
        (lambda d: d["models"][0]["drift"].update(features={"country": {"method": "ks"}}),
         "ks is only defined for numeric features"),
    ],
)
def test_config_errors_name_the_key_path_or_column(tmp_path: Path, change, expected: str) -> None:
    data = _base(tmp_path)
    change(data)
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, data)
    assert expected in str(error.value)


def test_missing_predictions_folder_is_not_an_error(tmp_path: Path) -> None:
    data = _base(tmp_path)
    data["models"][0]["predictions"]["path"] = "not/there/yet/*.jsonl"
    _load(tmp_path, data)


@pytest.mark.parametrize("command", ["check", "serve"])
def test_cli_exits_non_zero_with_one_clear_message(tmp_path: Path, command: str) -> None:
    data = _base(tmp_path)
    data["models"][0]["features"]["categorical"] = ["country", "colour"]
    config = write_config(tmp_path / "monitor.yaml", data)
    result = subprocess.run([sys.executable, "-m", "exporter.cli", command, "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "'colour' is not in the reference" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_reports_invalid_yaml(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("models: [\n")
    result = subprocess.run([sys.executable, "-m", "exporter.cli", "check", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "not valid YAML" in result.stderr and "Traceback" not in result.stderr
