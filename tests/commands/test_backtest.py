"""``model-monitor backtest`` on a generated day with three injected incidents and quiet stretches between.

- 04:00-07:00 a drift that hurts: ``x`` shifts and the labels stop following the model (accuracy ~50%);
- 10:00-13:00 a drift that does not: ``z``, which the model ignores, shifts;
- 16:00-18:00 a broken column: half of ``x`` is logged as text.

Each must be found with the right severity (a page only for the first and the third), and nothing
may fire in the quiet stretches.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from exporter.cli import main
from tests.helpers import write_config
from tests.processes import require_binary

DAY0 = 1_800_000_000.0 - 1_800_000_000.0 % 86400  # a midnight, UTC
HOUR = 3600.0
EVERY = 5.0  # seconds between predictions
HURTS, HARMLESS, BROKEN = (4, 7), (10, 13), (16, 18)


def _rows(rng: np.random.Generator, stamps: np.ndarray) -> pd.DataFrame:
    hour = (stamps - DAY0) / HOUR
    n = stamps.size
    hurts = (hour >= HURTS[0]) & (hour < HURTS[1])
    harmless = (hour >= HARMLESS[0]) & (hour < HARMLESS[1])
    x = rng.normal(0, 1, n) + np.where(hurts, 1.5, 0.0)
    z = rng.normal(0, 1, n) + np.where(harmless, 1.5, 0.0)
    score = 1 / (1 + np.exp(-2 * x))
    truth = rng.random(n) < score
    label = np.where(hurts, rng.random(n) < 0.5, truth).astype(int)  # the world stops following the model
    frame = pd.DataFrame({"ts": stamps, "id": [f"r{int(t)}-{i}" for i, t in enumerate(stamps)], "x": x, "z": z,
                          "channel": rng.choice(["web", "app", "shop"], n, p=[0.5, 0.3, 0.2]), "score": score,
                          "prediction": (score >= 0.5).astype(int), "label": label})
    broken = (hour >= BROKEN[0]) & (hour < BROKEN[1]) & (rng.random(n) < 0.5)
    frame["x"] = frame["x"].astype(object)
    frame.loc[broken, "x"] = "n/a"
    return frame


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("backtest")
    rng = np.random.default_rng(11)
    reference = _rows(rng, np.full(6000, DAY0 - 86400.0)).drop(columns=["ts", "id"])
    reference["x"] = reference["x"].astype(float)
    reference.to_parquet(folder / "reference.parquet")
    (folder / "logs").mkdir()
    day = _rows(rng, DAY0 + np.arange(0, 24 * HOUR, EVERY))
    for part in range(4):  # a few files, as a rotated log would be
        rows = day.iloc[part * len(day) // 4:(part + 1) * len(day) // 4]
        rows.to_json(folder / "logs" / f"p{part}.jsonl", orient="records", lines=True)
    write_config(folder / "monitor.yaml", {"models": [{
        "name": "loans", "task": "binary_classification", "reference": "reference.parquet",
        "predictions": {"path": "logs/*.jsonl", "timestamp_column": "ts", "id_column": "id"},
        "features": {"numeric": ["x", "z"], "categorical": ["channel"]},
        "prediction_column": "prediction", "score_column": "score", "label_column": "label",
        "windows": ["15m", "1h"], "max_clock_skew": "100000d"}]})
    return folder


#: What a backtest printed, by its folder and options: the same replay is read by several tests.
_PRINTED: dict[tuple[str, ...], str] = {}


def _backtest(folder: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    key = (str(folder), *extra)
    if key not in _PRINTED or "--openmetrics" in extra:
        capsys.readouterr()
        assert main(["--log-level", "ERROR", "backtest", "--config", str(folder / "monitor.yaml"),
                     "--from", str(DAY0 + HOUR), "--to", str(DAY0 + 24 * HOUR), "--step", "5m", *extra]) == 0
        _PRINTED[key] = capsys.readouterr().out
    return _PRINTED[key]


def _during(alert: dict[str, Any], incident: tuple[int, int]) -> bool:
    """Started during the incident (or within the longest window after it) and ended by then."""
    start, end = DAY0 + incident[0] * HOUR, DAY0 + incident[1] * HOUR + HOUR + 600
    return start <= alert["start"] <= end and alert["end"] is not None and alert["end"] <= end


def test_each_incident_is_found_with_its_severity_and_the_quiet_stretches_stay_quiet(history: Path,
                                                                                       capsys) -> None:
    result = json.loads(_backtest(history, capsys, "--format", "json"))
    alerts = result["alerts"]
    critical = [a for a in alerts if a["severity"] == "critical"]
    pages = {a["alert"] for a in critical}
    assert {"ModelPerformanceDrop", "ModelTypeViolations"} <= pages, critical
    # The estimate may page too, for the drift that hurts: as scores rise, CBPE expects the negatives to be
    # flagged (specificity falls), before any label arrives.
    assert pages <= {"ModelPerformanceDrop", "ModelEstimatedPerformanceDrop", "ModelTypeViolations"}, critical
    assert all(_during(a, HURTS) for a in critical if "PerformanceDrop" in a["alert"])
    broken = [a for a in critical if a["alert"] == "ModelTypeViolations"]
    assert broken and all(_during(a, BROKEN) and a["labels"]["feature"] == "x" for a in broken)
    drift = [a for a in alerts if a["alert"] == "ModelFeatureDrift"]
    assert any(a["labels"]["feature"] == "x" and _during(a, HURTS) for a in drift)
    assert any(a["labels"]["feature"] == "z" and _during(a, HARMLESS) for a in drift)
    harmless = [a for a in alerts if _during(a, HARMLESS)]
    assert harmless and all(a["severity"] == "warning" for a in harmless)  # drift alone does not page
    # Every alert belongs to an incident: nothing starts in the quiet stretches.
    assert all(_during(a, HURTS) or _during(a, HARMLESS) or _during(a, BROKEN) for a in alerts), alerts
    summary = result["summary"]
    assert summary["pages"] == len(critical) and summary["alerts"] == len(alerts)
    assert summary["alerts_per_week"]["critical"] == pytest.approx(len(critical) / (23 / 168))
    assert {a["model"] for a in alerts} == {"loans"}


def test_table_and_csv_say_the_same(history: Path, capsys) -> None:
    as_json = json.loads(_backtest(history, capsys, "--format", "json"))
    rows = list(csv.DictReader(io.StringIO(_backtest(history, capsys, "--format", "csv"))))
    assert [(r["alert"], float(r["start"])) for r in rows] == [(a["alert"], a["start"]) for a in as_json["alerts"]]
    table = _backtest(history, capsys).splitlines()
    assert len(table) == len(as_json["alerts"]) + 1
    assert f"{as_json['summary']['pages']} would have paged" in table[-1]


@pytest.mark.integration
def test_the_openmetrics_history_becomes_prometheus_blocks(history: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "history.om"
    _backtest(history, capsys, "--openmetrics", str(out))
    text = out.read_text()
    assert text.endswith("# EOF\n") and 'model_feature_drift_score{job="model-monitor"' in text
    blocks = tmp_path / "blocks"
    done = subprocess.run([require_binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(out),
                           str(blocks)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert any(p.is_dir() for p in blocks.iterdir())  # at least one block written


def test_a_log_with_extra_columns_replays_and_only_a_missing_column_pages(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Almost every production log carries columns the model does not know (a request id, the raw
    prediction): the replay (with the mixin's ``for: 0m`` of the schema alert) must run, and page only
    once a configured column stops arriving."""
    rng = np.random.default_rng(5)
    stamps = DAY0 + np.arange(0, 4 * HOUR, EVERY)
    frame = _rows(rng, stamps)
    frame["x"] = frame["x"].astype(float).fillna(0.0)
    frame["request_id"], frame["y_pred"] = [f"q{i}" for i in range(len(frame))], frame["prediction"]
    reference = _rows(rng, np.full(3000, DAY0 - 86400.0)).drop(columns=["ts", "id"])
    reference["x"] = reference["x"].astype(float)
    reference.to_parquet(tmp_path / "reference.parquet")
    (tmp_path / "logs").mkdir()
    late = stamps >= DAY0 + 3 * HOUR
    frame[~late].to_json(tmp_path / "logs" / "a.jsonl", orient="records", lines=True)
    frame[late].drop(columns=["z"]).to_json(tmp_path / "logs" / "b.jsonl", orient="records", lines=True)
    write_config(tmp_path / "monitor.yaml", {"models": [{
        "name": "loans", "task": "binary_classification", "reference": "reference.parquet",
        "predictions": {"path": "logs/*.jsonl", "timestamp_column": "ts", "id_column": "id"},
        "features": {"numeric": ["x", "z"], "categorical": ["channel"]},
        "prediction_column": "prediction", "score_column": "score", "label_column": "label",
        "windows": ["15m", "1h"], "max_clock_skew": "100000d"}]})
    assert main(["--log-level", "ERROR", "backtest", "--config", str(tmp_path / "monitor.yaml"), "--from",
                 str(DAY0 + HOUR), "--to", str(DAY0 + 4 * HOUR), "--format", "json"]) == 0
    alerts = json.loads(capsys.readouterr().out)["alerts"]
    schema = [a for a in alerts if a["alert"] == "ModelSchemaViolations"]
    assert [(a["labels"]["check"], a["labels"]["feature"]) for a in schema] == [("missing_column", "z")]
    assert schema[0]["start"] == pytest.approx(DAY0 + 3 * HOUR + 300)  # at the first step that saw it: for 0m
