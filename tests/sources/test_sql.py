"""The SQL source on SQLite (the embedded default): order, ties, grace, restarts, labels, errors, config."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from exporter.cli import main
from exporter.config import ConfigError
from exporter.monitor.building import build_monitor
from exporter.monitor.model import ModelMonitor
from exporter.sources.sql_engine import redacted
from exporter.sources.sql_watermark import Watermark
from tests.helpers import (
    check_samples,
    model_config,
    reference_for,
    reference_frame,
    rows_at,
    without_row_only,
    write_config,
)

NOW = 1_790_000_000.0


def _insert(db: Path, frame: pd.DataFrame, table: str = "predictions") -> None:
    with sqlite3.connect(db) as connection:
        frame.to_sql(table, connection, index=False, if_exists="append")


def _sql_config(tmp: Path, **sql: Any) -> Any:
    return model_config(tmp, predictions={"sql": {"url": "sqlite:///preds.db", "table": "predictions", **sql},
                                          "timestamp_column": "ts", "id_column": "id"})


def _monitor(tmp: Path, **sql: Any) -> ModelMonitor:
    config = _sql_config(tmp, **sql)
    return ModelMonitor(config, reference_for(config), tmp / "state")


def test_a_relative_sqlite_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    config = _sql_config(tmp_path)
    assert config.predictions.sql.url == f"sqlite:///{tmp_path / 'preds.db'}"


def test_rows_sharing_a_timestamp_are_each_read_once_across_batches(tmp_path: Path) -> None:
    # 7 rows per timestamp, batches of 5: every batch boundary falls inside a group of ties.
    rows = pd.DataFrame(rows_at(NOW - 100, 70))
    rows["ts"] = NOW - 100 + np.repeat(np.arange(10), 7)
    _insert(tmp_path / "preds.db", rows.sample(frac=1.0, random_state=1))  # inserted out of order
    monitor = _monitor(tmp_path, batch_rows=5)
    totals = [monitor.update(NOW).predictions_total for _ in range(16)]
    assert totals[:3] == [5, 10, 15]  # one bounded batch per update
    assert totals[-1] == 70 and totals[-2] == 70
    assert monitor.counters.rejected.get("duplicate_id", 0) == 0


def test_a_restart_continues_at_the_saved_watermark(tmp_path: Path) -> None:
    db = tmp_path / "preds.db"
    _insert(db, pd.DataFrame(rows_at(NOW - 50, 30)))
    first = _monitor(tmp_path, batch_rows=20)
    assert first.update(NOW).predictions_total == 20
    again = _monitor(tmp_path, batch_rows=20)
    assert again.counters.predictions_total == 20
    assert again.source.watermark == first.source.watermark
    _insert(db, pd.DataFrame(rows_at(NOW - 40, 10, seed=2)))
    assert again.update(NOW).predictions_total == 40  # the 10 left, and the 10 new
    assert again.update(NOW).predictions_total == 40


def test_rows_committed_late_within_grace_are_read_once_and_later_ones_are_not(tmp_path: Path) -> None:
    db = tmp_path / "preds.db"
    _insert(db, pd.DataFrame(rows_at(NOW - 100, 20)))
    monitor = _monitor(tmp_path, grace="30s")
    assert monitor.update(NOW).predictions_total == 20
    # Committed after the watermark passed their timestamps: 10 s behind (within grace), 60 s (beyond).
    _insert(db, pd.DataFrame(rows_at(NOW - 110, 4, seed=3)))
    _insert(db, pd.DataFrame(rows_at(NOW - 160, 3, seed=4)))
    assert monitor.update(NOW).predictions_total == 24
    assert monitor.update(NOW).predictions_total == 24  # and never again
    restarted = _monitor(tmp_path, grace="30s")
    assert restarted.update(NOW).predictions_total == 24
    _insert(db, pd.DataFrame(rows_at(NOW - 95, 2, seed=5)))  # a late row after the restart, and new rows
    _insert(db, pd.DataFrame(rows_at(NOW - 90, 5, seed=6)))
    assert restarted.update(NOW).predictions_total == 31


def test_rows_without_timestamp_are_counted_once_as_missing_timestamp(tmp_path: Path) -> None:
    db = tmp_path / "preds.db"
    rows = pd.DataFrame(rows_at(NOW - 10, 12))
    rows.loc[:2, "ts"] = None
    _insert(db, rows)
    monitor = _monitor(tmp_path)
    snapshot = monitor.update(NOW)
    assert snapshot.predictions_total == 9 and snapshot.rejected["missing_timestamp"] == 3
    _insert(db, pd.DataFrame(rows_at(NOW - 5, 2, seed=9)).assign(ts=None))
    assert monitor.update(NOW).rejected["missing_timestamp"] == 5
    assert monitor.update(NOW).rejected["missing_timestamp"] == 5


def test_a_table_gives_exactly_the_metrics_of_the_same_rows_in_files(tmp_path: Path, capsys) -> None:
    reference_frame().to_parquet(tmp_path / "reference.parquet")
    rng = np.random.default_rng(5)
    current = pd.DataFrame(rows_at(NOW, 3000, seed=11, shift=4.0))
    current["ts"] = NOW - rng.uniform(0, 3500, len(current))
    current["label"] = rng.integers(0, 2, len(current))
    current.loc[current.index[::17], "income"] = None
    (tmp_path / "logs").mkdir()
    current.to_parquet(tmp_path / "logs" / "current.parquet")
    _insert(tmp_path / "preds.db", current.sample(frac=1.0, random_state=2))
    model = {"name": "m", "task": "binary_classification", "reference": "reference.parquet",
             "prediction_column": "prediction", "score_column": "score", "label_column": "label",
             "windows": ["5m", "1h"], "segments": ["country"], "drift": {"method": "wasserstein"}}
    files = {"path": "logs/*.parquet", "timestamp_column": "ts", "id_column": "id"}
    table = {"sql": {"url": "sqlite:///preds.db", "table": "predictions", "batch_rows": 700},
             "timestamp_column": "ts", "id_column": "id"}
    by_files = check_samples(write_config(tmp_path / "files.yaml", {"models": [{**model, "predictions": files}]}),
                             NOW, capsys)
    by_table = check_samples(write_config(tmp_path / "table.yaml", {"models": [{**model, "predictions": table}]}),
                             NOW, capsys)
    # Equal up to the order of floating-point sums (the table is read in timestamp order, the file in
    # file order): 1e-12 relative is a few ulps of the float64 sums behind log loss and Wasserstein.
    assert by_table.keys() == by_files.keys()
    assert by_table == pytest.approx(by_files, rel=1e-12, abs=1e-15, nan_ok=True)
    assert by_files[json.dumps(["model_predictions_total", [("model", "m")]])] == 3000


def test_labels_from_a_table_join_predictions_from_a_table(tmp_path: Path) -> None:
    db = tmp_path / "preds.db"
    predictions = pd.DataFrame(rows_at(NOW - 600, 200))
    _insert(db, predictions)
    labels = pd.DataFrame({"id": predictions["id"][:150], "label": predictions["prediction"][:150],
                           "labelled_at": NOW - 300.0})
    _insert(db, labels, "labels")
    config = model_config(tmp_path, label_column=None,
                          predictions={"sql": {"url": "sqlite:///preds.db", "table": "predictions"},
                                       "timestamp_column": "ts", "id_column": "id"},
                          labels={"sql": {"url": "sqlite:///preds.db", "query": "SELECT * FROM labels",
                                          "timestamp_column": "labelled_at"},
                                  "id_column": "id", "label_column": "label"})
    monitor = ModelMonitor(config, reference_for(config), tmp_path / "state")
    snapshot = monitor.update(NOW)
    window = next(w for w in snapshot.windows if w.window == "1h" and not w.segment)
    assert window.labelled_rows == 150
    assert window.performance["accuracy"] == 1.0  # every label equals its prediction


def test_bad_sql_in_query_is_a_configuration_error_naming_the_model_and_the_database(tmp_path: Path) -> None:
    _insert(tmp_path / "preds.db", pd.DataFrame(rows_at(NOW, 3)))
    config = _sql_config(tmp_path, table=None, query="SELEKT * FROM predictions")
    with pytest.raises(ConfigError, match=r"model m: predictions.sql: the database refused the query: .*syntax"):
        build_monitor(config, None)
    config = _sql_config(tmp_path, table=None, query="SELECT id, age FROM predictions")
    with pytest.raises(ConfigError, match=r"model m: predictions.sql: the query has no column 'ts'"):
        build_monitor(config, None)
    config = _sql_config(tmp_path, table="no_such_table")
    with pytest.raises(ConfigError, match="no such table"):
        build_monitor(config, None)


def test_a_database_that_cannot_be_opened_is_an_error_of_each_update_not_a_crash(tmp_path: Path, caplog) -> None:
    (tmp_path / "db").mkdir()  # a folder where the database file should be: SQLite cannot open it
    config = model_config(tmp_path, predictions={"sql": {"url": "sqlite:///db", "table": "predictions"},
                                                 "timestamp_column": "ts", "id_column": "id"})
    monitor = ModelMonitor(config, reference_for(config), None)
    with caplog.at_level(logging.ERROR):
        snapshot = monitor.update(NOW)
    assert not snapshot.up and snapshot.errors == {"read": 1}
    assert "cannot read" in caplog.text


@pytest.mark.parametrize("sql, message", [
    ({"url": "sqlite:///x.db"}, "exactly one of table and query"),
    ({"url": "sqlite:///x.db", "table": "t", "query": "SELECT 1"}, "exactly one of table and query"),
    ({"url": "sqlite:///x.db", "table": "t", "password_env": "A", "password_file": "f"}, "at most one"),
    ({"url": "sqlite:///x.db", "table": "t", "batch_rows": 0}, "batch_rows"),
])
def test_sql_settings_are_validated(tmp_path: Path, sql: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        model_config(tmp_path, predictions={"sql": sql, "timestamp_column": "ts", "id_column": "id"})


def test_a_sql_source_needs_an_id_column_and_one_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"needs predictions\.id_column"):
        model_config(tmp_path, predictions={"sql": {"url": "sqlite:///x.db", "table": "t"}})
    with pytest.raises(ConfigError, match="exactly one of path"):
        model_config(tmp_path, predictions={"path": "a/*.jsonl", "sql": {"url": "sqlite:///x.db", "table": "t"},
                                            "id_column": "id"})


def test_the_password_comes_from_the_environment_or_a_file_and_is_never_shown(tmp_path: Path, monkeypatch) -> None:
    from exporter.config import SqlConfig
    from exporter.sources.sql_engine import engine_url

    url = "postgresql+psycopg://monitor@db.internal:5432/app"
    monkeypatch.setenv("MM_TEST_PASSWORD", "hunter2")
    assert engine_url(SqlConfig(url=url, table="t", password_env="MM_TEST_PASSWORD")).password == "hunter2"
    (tmp_path / "pw").write_text("from-a-file\nignored\n")
    assert engine_url(SqlConfig(url=url, table="t", password_file=tmp_path / "pw")).password == "from-a-file"
    with pytest.raises(ConfigError, match="MM_TEST_UNSET is not set"):
        engine_url(SqlConfig(url=url, table="t", password_env="MM_TEST_UNSET"))
    shown = redacted("postgresql+psycopg://monitor:hunter2@db.internal:5432/app")
    assert "hunter2" not in shown and "monitor" in shown


def test_watermarks_of_every_type_survive_their_json_form() -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    for ts, key in [(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), 17),
                    (datetime(2026, 1, 2, 3, 4, 5, 678901), "abc"), (1.7e9, b"\x00\xff"), (Decimal("12.50"), 3)]:
        mark = Watermark(ts, key)
        assert Watermark.from_json(json.loads(json.dumps(mark.to_json()))) == mark


@pytest.mark.parametrize("duplicates", [False, True])
def test_pushdown_gives_exactly_the_metrics_of_the_rows_on_sqlite(tmp_path: Path, capsys, monkeypatch,
                                                                  duplicates: bool) -> None:
    reference_frame().to_parquet(tmp_path / "reference.parquet")
    rng = np.random.default_rng(8)
    current = pd.DataFrame(rows_at(NOW, 4000, seed=12, shift=3.0))
    current["ts"] = NOW - rng.uniform(0, 3500, len(current)).round(3)
    current["label"] = rng.integers(0, 2, len(current))
    current.loc[current.index[::13], "income"] = None
    current.loc[current.index[::29], "country"] = "BR"  # a new category
    current.loc[current.index[::31], "country"] = None
    current.loc[current.index[::37], "age"] = 250.0  # out of range
    if duplicates:  # logged twice: the row path rejects them, so their batches are read as rows
        current = pd.concat([current, current.iloc[::400]], ignore_index=True)
    _insert(tmp_path / "preds.db", current.sample(frac=1.0, random_state=3))
    model = {"name": "m", "task": "binary_classification", "reference": "reference.parquet",
             "prediction_column": "prediction", "score_column": "score", "label_column": "label",
             "windows": ["5m", "1h"], "segments": ["country"], "drift": {"method": "wasserstein"}}

    def table(pushdown: bool) -> dict[str, Any]:
        return {"sql": {"url": "sqlite:///preds.db", "table": "predictions", "batch_rows": 900, "pushdown": pushdown},
                "timestamp_column": "ts", "id_column": "id"}

    rows = check_samples(write_config(tmp_path / "rows.yaml", {"models": [{**model, "predictions": table(False)}]}),
                         NOW, capsys)
    if not duplicates:  # every batch pushed down: reading full rows would fail
        monkeypatch.setattr(ModelMonitor, "ingest", lambda *_: pytest.fail("a batch was read as rows"))
    pushed = check_samples(write_config(tmp_path / "push.yaml", {"models": [{**model, "predictions": table(True)}]}),
                           NOW, capsys)
    rows = without_row_only(rows)  # multivariate drift needs the rows' features: absent under pushdown
    assert pushed.keys() == rows.keys()
    assert pushed == pytest.approx(rows, rel=1e-12, abs=1e-15, nan_ok=True)
    rejected = rows[json.dumps(["model_monitor_rejected_rows_total", [("model", "m"), ("reason", "duplicate_id")]])]
    assert rejected == (10 if duplicates else 0)


def test_backtest_replays_a_pushed_down_table_from_its_full_rows(tmp_path: Path, capsys) -> None:
    reference_frame().to_parquet(tmp_path / "reference.parquet")
    rows = pd.DataFrame(rows_at(NOW, 600, seed=14, shift=25.0))  # age far off the reference: drift
    rows["ts"] = NOW - 3000 + np.arange(600) * 5.0
    _insert(tmp_path / "preds.db", rows)
    model = {"name": "m", "task": "binary_classification", "reference": "reference.parquet",
             "prediction_column": "prediction", "score_column": "score", "label_column": "label",
             "windows": ["5m", "1h"],
             "predictions": {"sql": {"url": "sqlite:///preds.db", "table": "predictions", "pushdown": True},
                             "timestamp_column": "ts", "id_column": "id"}}
    config = write_config(tmp_path / "m.yaml", {"models": [model]})
    capsys.readouterr()
    assert main(["--log-level", "ERROR", "backtest", "--config", str(config), "--from", str(NOW - 3000),
                 "--to", str(NOW), "--format", "json"]) == 0
    alerts = json.loads(capsys.readouterr().out)["alerts"]
    assert any(a["alert"] == "ModelFeatureDrift" and a["labels"].get("feature") == "age" for a in alerts), alerts


def test_text_timestamps_are_a_read_error_and_nothing_is_counted(tmp_path: Path, caplog) -> None:
    rows = pd.DataFrame(rows_at(NOW - 10, 5))
    rows["ts"] = "2026-01-01T00:00:00Z"  # text: its order is not time order, so no watermark can follow it
    _insert(tmp_path / "preds.db", rows)
    monitor = _monitor(tmp_path)
    with caplog.at_level(logging.ERROR):
        for _ in range(2):
            snapshot = monitor.update(NOW)
    assert snapshot.predictions_total == 0 and snapshot.errors == {"read": 2}
    assert "must be a SQL timestamp" in caplog.text
