"""Baselines as files: starting from a baseline gives exactly the metrics of starting from its reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from exporter.cli import main
from tests.helpers import check_samples, write_config

NOW = 1_800_000_000.0


def _binary(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    score = 1 / (1 + np.exp(-rng.normal(shift, 1.5, n)))
    return pd.DataFrame({"age": rng.normal(40 + 5 * shift, 10, n).round(0), "income": rng.lognormal(10, 0.5, n),
                         "country": rng.choice([f"c{i}" for i in range(150)], n),
                         "device": rng.choice(["mobile", "desktop"], n), "score": score,
                         "prediction": (score >= 0.4).astype(int), "label": (rng.random(n) < score).astype(int)})


def _multiclass(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    truth = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    proba = rng.dirichlet([2, 2, 2], n)
    return pd.DataFrame({"x": rng.normal(shift, 1, n), "k": rng.integers(0, 9, n), "label": truth,
                         "prediction": np.where(rng.random(n) < 0.7, truth, "b"),
                         "p_a": proba[:, 0], "p_b": proba[:, 1], "p_c": proba[:, 2]})


def _regression(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    y = 1e6 + rng.normal(shift, 1, n)
    return pd.DataFrame({"x": rng.normal(shift, 1, n), "y": y, "pred": y + rng.normal(0, 0.5, n)})


CASES: dict[str, tuple[Any, dict[str, Any]]] = {
    "binary": (_binary, {"task": "binary_classification", "prediction_column": "prediction",
                         "score_column": "score", "label_column": "label", "segments": ["device"],
                         "max_categories": 50, "drift": {"method": "wasserstein"}}),
    "multiclass": (_multiclass, {"task": "multiclass_classification", "prediction_column": "prediction",
                                 "label_column": "label", "class_score_columns": {"a": "p_a", "b": "p_b", "c": "p_c"},
                                 "drift": {"method": "ks"}}),
    "regression": (_regression, {"task": "regression", "prediction_column": "pred", "label_column": "y",
                                 "drift": {"method": "psi"}}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_baseline_gives_exactly_the_metrics_of_its_reference(tmp_path: Path, case: str, capsys) -> None:
    make, model = CASES[case]
    rng = np.random.default_rng(len(case))
    make(rng, 4000).to_parquet(tmp_path / "reference.parquet")
    current = make(rng, 1500, shift=0.3)
    current.insert(0, "ts", NOW - rng.uniform(0, 3000, len(current)))
    (tmp_path / "logs").mkdir()
    current.to_parquet(tmp_path / "logs" / "current.parquet")
    entry = {"name": case, "reference": "reference.parquet", "predictions": {"path": "logs/*.parquet"},
             "windows": ["5m", "1h"], "min_window_rows": 20, **model}
    from_reference = write_config(tmp_path / "reference.yaml", {"models": [entry]})
    assert main(["baseline", "--config", str(from_reference), "--out", str(tmp_path / "baseline.json")]) == 0
    baseline_entry = {k: v for k, v in entry.items() if k != "reference"} | {"baseline": "baseline.json"}
    from_baseline = write_config(tmp_path / "baseline.yaml", {"models": [baseline_entry]})
    expected = check_samples(from_reference, NOW, capsys)
    assert len(expected) > 50
    assert check_samples(from_baseline, NOW, capsys) == expected


def test_a_baseline_for_another_configuration_is_refused_saying_what_differs(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(1)
    _binary(rng, 2000).to_parquet(tmp_path / "reference.parquet")
    entry = {"name": "m", "task": "binary_classification", "reference": "reference.parquet",
             "predictions": {"path": "logs/*.jsonl"}, "features": {"numeric": ["age", "income"],
                                                                  "categorical": ["country"]}}
    config = write_config(tmp_path / "monitor.yaml", {"models": [entry]})
    assert main(["baseline", "--config", str(config), "--out", str(tmp_path / "baseline.json")]) == 0
    changed = {k: v for k, v in entry.items() if k != "reference"} | {
        "baseline": "baseline.json", "features": {"numeric": ["age"], "categorical": ["country"]},
        "drift": {"features": {"income": {"method": "ks"}}}}
    write_config(tmp_path / "changed.yaml", {"models": [changed]})
    capsys.readouterr()
    assert main(["check", "--config", str(tmp_path / "changed.yaml")]) == 2
    message = capsys.readouterr().err
    assert "built for another configuration" in message and "numeric features" in message
    document = json.loads((tmp_path / "baseline.json").read_text())
    document["version"] = 99
    (tmp_path / "baseline.json").write_text(json.dumps(document))
    unchanged = {k: v for k, v in entry.items() if k != "reference"} | {"baseline": "baseline.json"}
    write_config(tmp_path / "unchanged.yaml", {"models": [unchanged]})
    assert main(["check", "--config", str(tmp_path / "unchanged.yaml")]) == 2
    assert "baseline format 99" in capsys.readouterr().err


def test_exactly_one_of_reference_and_baseline(tmp_path: Path, capsys) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump({"models": [{"name": "m", "task": "regression",
                                                "predictions": {"path": "logs/*.jsonl"}}]}))
    assert main(["check", "--config", str(path)]) == 2
    assert "exactly one of reference" in capsys.readouterr().err
