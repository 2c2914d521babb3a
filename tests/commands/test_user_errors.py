"""What a user sees when the input is wrong: one line naming what to fix, exit 2, never a traceback.

Every command (as a user runs it, in a child process) is fed a broken config, a missing file, a column
of the wrong type and an empty log. Inputs that are not the user's mistake to fix before starting (an
empty log, a log column holding text where numbers belong) are not errors: the command runs, and the
bad values are counted.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

COMMANDS = {
    "check": ["check"],
    "sagemaker-violations": ["check", "--format", "sagemaker-violations"],
    "report": ["report", "--out", "report.html"],
    "backtest": ["backtest", "--from", "1800000000", "--to", "1800003600"],
    "baseline": ["baseline", "--out", "baseline.json"],
    "serve": ["serve", "--port", "0"],
}

MODEL: dict[str, Any] = {
    "name": "m", "task": "binary_classification", "reference": "reference.parquet",
    "predictions": {"path": "logs/*.jsonl", "timestamp_column": "ts", "id_column": "id"},
    "features": {"numeric": ["age"], "categorical": ["country"]},
    "prediction_column": "prediction", "score_column": "score", "label_column": "label", "windows": ["1h"],
}


def _write(folder: Path, name: str, **model: Any) -> str:
    entry = {**MODEL, **model}
    entry = {k: v for k, v in entry.items() if v is not None}
    (folder / name).write_text(yaml.safe_dump({"models": [entry]}))
    return name


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("errors")
    rng = np.random.default_rng(0)
    n = 400
    reference = pd.DataFrame({"age": rng.normal(40, 10, n), "country": rng.choice(["a", "b"], n),
                              "score": rng.random(n), "prediction": rng.integers(0, 2, n),
                              "label": rng.integers(0, 2, n)})
    reference.to_parquet(folder / "reference.parquet")
    text = reference.assign(age=[f"x{v:.0f}" for v in reference["age"]])
    text.to_parquet(folder / "reference-text.parquet")
    reference.iloc[:0].to_parquet(folder / "reference-empty.parquet")
    (folder / "truncated.parquet").write_bytes((folder / "reference.parquet").read_bytes()[:200])
    (folder / "logs").mkdir()
    (folder / "logs" / "empty.jsonl").write_text("")
    (folder / "text-logs").mkdir()
    rows = reference.head(50).assign(ts=time.time() - 600 + np.arange(50), id=[f"r{i}" for i in range(50)],
                                     age="n/a")
    rows.to_json(folder / "text-logs" / "a.jsonl", orient="records", lines=True)
    (folder / "broken.yaml").write_text("models:\n  - name: m\n    task: [unclosed\n")
    _write(folder, "unknown-key.yaml", colour="red")
    _write(folder, "bad-duration.yaml", windows=["abc"])
    _write(folder, "missing-reference.yaml", reference="nope.parquet")
    _write(folder, "missing-baseline.yaml", reference=None, baseline="nope.json")
    _write(folder, "truncated-reference.yaml", reference="truncated.parquet")
    _write(folder, "empty-reference.yaml", reference="reference-empty.parquet")
    _write(folder, "text-feature.yaml", reference="reference-text.parquet")
    _write(folder, "missing-column.yaml", features={"numeric": ["age", "height"], "categorical": ["country"]})
    _write(folder, "empty-log.yaml")
    _write(folder, "text-in-log.yaml", predictions={"path": "text-logs/*.jsonl", "timestamp_column": "ts",
                                                    "id_column": "id"})
    return folder


#: config file -> what the one line must name.
ERRORS = {
    "broken.yaml": "broken.yaml: not valid YAML: line 4, column 1",
    "unknown-key.yaml": "models[0].colour: unknown key",
    "bad-duration.yaml": "models[0].windows[0]: 'abc' is not a duration",
    "missing-reference.yaml": "models[0].reference: file not found",
    "missing-baseline.yaml": "models[0].baseline: file not found",
    "truncated-reference.yaml": "models[m].reference: cannot read",
    "empty-reference.yaml": "models[m].reference:",
    "text-feature.yaml": "models[m].features.numeric: reference column 'age' holds no number (e.g. 'x",
    "missing-column.yaml": "models[m].features.numeric: column 'height' is not in the reference",
    "no-such-config.yaml": "config file not found: no-such-config.yaml",
}


def _run(folder: Path, command: str, config: str) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it: a child process."""
    args = [sys.executable, "-m", "exporter.cli", "--log-level", "ERROR", *COMMANDS[command], "--config", config]
    return subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=60)


def _run_here(folder: Path, command: str, config: str, capsys: pytest.CaptureFixture[str],
              monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """The command's ``main`` in this process (the same code, without a child's start-up): exit code, stderr.
    An exception it lets through fails the test with its traceback."""
    from exporter.cli import main

    monkeypatch.chdir(folder)
    capsys.readouterr()
    code = main(["--log-level", "ERROR", *COMMANDS[command], "--config", config])
    return code, capsys.readouterr().err


def _one_line_naming(command: str, config: str, code: int, stderr: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, f"{command} {config}: exit {code}\n{stderr[-2000:]}"
    assert "Traceback" not in stderr
    assert len(lines) == 1, f"{command} {config}: not one line:\n{stderr}"
    assert lines[0].startswith("model-monitor: configuration error: ") and ERRORS[config] in lines[0], lines[0]


@pytest.mark.parametrize("config", sorted(ERRORS))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_wrong_input_is_one_line_naming_it_and_exit_2(folder: Path, command: str, config: str,
                                                       capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _one_line_naming(command, config, *_run_here(folder, command, config, capsys, monkeypatch))


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_child_process_prints_the_same_one_line(folder: Path, command: str) -> None:
    done = _run(folder, command, "text-feature.yaml")
    _one_line_naming(command, "text-feature.yaml", done.returncode, done.stderr)


@pytest.mark.parametrize("config", ["empty-log.yaml", "text-in-log.yaml"])
@pytest.mark.parametrize("command", sorted(set(COMMANDS) - {"serve"}))
def test_an_empty_log_or_text_in_a_numeric_column_is_no_error(folder: Path, command: str, config: str,
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    code, stderr = _run_here(folder, command, config, capsys, monkeypatch)
    assert code in (0, 1), f"{command} {config}: exit {code}\n{stderr[-2000:]}"


def test_text_in_a_numeric_log_column_is_counted_as_type_violations(folder: Path) -> None:
    import json

    done = _run(folder, "check", "text-in-log.yaml")
    samples = {(s["name"], s["labels"].get("check"), s["labels"].get("feature")): s["value"]
               for s in json.loads(done.stdout)["metrics"]}
    assert samples[("model_data_quality_violations_total", "data_type", "age")] == 50
