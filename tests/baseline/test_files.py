"""Baselines as files: starting from a baseline gives exactly the metrics of starting from its reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from exporter.cli import main
from tests.cases import CASES, binary_frame
from tests.helpers import check_samples, write_config

NOW = 1_800_000_000.0


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
    binary_frame(rng, 2000).to_parquet(tmp_path / "reference.parquet")
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


def test_the_baseline_command_opens_no_source_and_writes_the_monitors_fingerprint(tmp_path: Path) -> None:
    """``baseline`` needs the reference and the config, not the logs: a database whose table does not exist yet
    (which a monitor refuses at start, as bad SQL) does not stop it, and the fingerprint it writes is the one
    a monitor built from the same reference has."""
    from exporter.config import load_config
    from exporter.monitor.building import baseline_of_reference
    from exporter.monitor.layout import performance_baseline
    from exporter.monitor.model import ModelMonitor

    make, model = CASES["binary"]
    make(np.random.default_rng(3), 2000).to_parquet(tmp_path / "reference.parquet")
    config = write_config(tmp_path / "monitor.yaml", {"models": [{
        "name": "m", "reference": "reference.parquet", **model,
        "predictions": {"sql": {"url": "sqlite:///predictions.db", "table": "not_there_yet"},
                        "timestamp_column": "ts", "id_column": "id"}}]})
    assert main(["baseline", "--config", str(config), "--out", str(tmp_path / "baseline.json")]) == 0
    written = json.loads((tmp_path / "baseline.json").read_text())
    # The same model reading files: its monitor's fingerprint is the baseline's.
    files = write_config(tmp_path / "files.yaml", {"models": [{
        "name": "m", "reference": "reference.parquet", **model,
        "predictions": {"path": "logs/*.jsonl", "timestamp_column": "ts", "id_column": "id"}}]})
    chosen = load_config(files).models[0]
    base = baseline_of_reference(chosen)
    monitor = ModelMonitor(chosen, base.reference, None, base.spec, base.segments, performance_baseline(chosen, base))
    assert written["fingerprint"] == monitor.layout_fingerprint()


def test_settings_of_the_config_win_over_the_baseline_file(tmp_path: Path, capsys) -> None:
    """low_confidence, multivariate_drift and dle are the config's to decide, not the reference's: a baseline
    file built with the defaults follows a config that changes them."""
    make, model = CASES["binary"]
    make(np.random.default_rng(1), 3000).to_parquet(tmp_path / "reference.parquet")
    current = make(np.random.default_rng(2), 500)
    current.insert(0, "ts", NOW - 60)
    (tmp_path / "logs").mkdir()
    current.to_parquet(tmp_path / "logs" / "current.parquet")
    entry = {"name": "m", "reference": "reference.parquet", "predictions": {"path": "logs/*.parquet"},
             "windows": ["1h"], **model}
    built = write_config(tmp_path / "reference.yaml", {"models": [entry]})
    assert main(["baseline", "--config", str(built), "--out", str(tmp_path / "baseline.json")]) == 0
    changed = {k: v for k, v in entry.items() if k != "reference"} | {
        "baseline": "baseline.json", "low_confidence": 0.3, "multivariate_drift": False}
    samples = check_samples(write_config(tmp_path / "baseline.yaml", {"models": [changed]}), NOW, capsys)
    names = {json.loads(key)[0]: value for key, value in samples.items()}
    assert names["model_low_confidence_threshold"] == 0.3
    assert not any(name.startswith("model_multivariate") for name in names)
