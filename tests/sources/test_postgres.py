"""The SQL source against a real PostgreSQL cluster: timestamp types, a live exporter, an outage.

The cluster (tests/postgres.py) is started once for the module on a loopback port and stopped by
PID at the end.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from exporter.monitor.model import ModelMonitor
from tests.helpers import (
    check_samples,
    model_config,
    reference_for,
    rows_at,
    scrape,
    value_of,
    without_row_only,
    write_config,
    write_jsonl,
)
from tests.postgres import PASSWORD, Cluster
from tests.processes import free_port, start_exporter, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster():
    cluster = Cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def engine(cluster: Cluster):
    engine = sa.create_engine(cluster.url(with_password=True))
    yield engine
    engine.dispose()


def _create(engine: sa.Engine, table: str, ts_type: str) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        connection.execute(sa.text(
            f"CREATE TABLE {table} (id text NOT NULL, ts {ts_type}, age double precision, income double precision, "
            "country text, score double precision, prediction integer, label integer)"))
        connection.execute(sa.text(f"CREATE INDEX ON {table} (ts, id)"))


def _insert(connection: Any, table: str, rows: list[dict[str, Any]], convert=lambda ts: ts) -> None:
    connection.execute(sa.text(
        f"INSERT INTO {table} (id, ts, age, income, country, score, prediction) "
        "VALUES (:id, :ts, :age, :income, :country, :score, :prediction)"),
        [{**row, "ts": convert(row["ts"])} for row in rows])


def _pg_config(tmp: Path, cluster: Cluster, table: str, **sql: Any) -> Any:
    (tmp / "pgpass").write_text(PASSWORD + "\n")
    return model_config(tmp, predictions={"sql": {"url": cluster.url(), "table": table, "password_file": "pgpass",
                                                  **sql}, "timestamp_column": "ts", "id_column": "id"})


@pytest.mark.parametrize("ts_type, convert", [
    ("timestamptz", lambda ts: pd.Timestamp(round(ts * 1000), unit="ms", tz="UTC").to_pydatetime()),
    ("timestamp", lambda ts: pd.Timestamp(round(ts * 1000), unit="ms").to_pydatetime()),  # without zone: UTC
    ("bigint", lambda ts: int(ts * 1000)),  # epoch milliseconds
    ("double precision", lambda ts: ts),  # epoch seconds
])
def test_timestamps_of_every_sql_type_give_the_same_windows(tmp_path: Path, cluster: Cluster, engine,
                                                              ts_type: str, convert) -> None:
    now = time.time()
    rows = rows_at(now, 300, seed=4, shift=3.0)
    for i, row in enumerate(rows):
        row["ts"] = round(now - 3400 + 11.0 * i, 3)  # whole milliseconds survive every type
    _create(engine, "typed", ts_type)
    with engine.begin() as connection:
        _insert(connection, "typed", rows, convert)
    config = _pg_config(tmp_path, cluster, "typed", batch_rows=77)
    monitor = ModelMonitor(config, reference_for(config), None)
    for _ in range(5):
        snapshot = monitor.update(now, persist=False)
    assert snapshot.up and snapshot.predictions_total == 300
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows)
    by_file = model_config(tmp_path)
    expected = ModelMonitor(by_file, reference_for(by_file), None).update(now, persist=False)

    def drift(result: Any) -> dict[tuple[str, str, str], float]:
        return {(w.window, w.segment, f.feature): f.drift.score for w in result.windows for f in w.features
                if f.drift is not None}

    assert [w.rows for w in snapshot.windows] == [w.rows for w in expected.windows]
    assert drift(snapshot) == pytest.approx(drift(expected), rel=1e-12)


def _rows(start: int, n: int, at: float) -> list[dict[str, Any]]:
    rows = rows_at(at, n, seed=start)
    for i, row in enumerate(rows):
        row["id"] = f"p{start + i:07d}"
        row["ts"] = pd.Timestamp(round(at * 1e6), unit="us", tz="UTC").to_pydatetime()  # rows share a timestamp
    return rows


def test_a_live_exporter_counts_each_row_once_through_late_commits_and_an_outage(tmp_path: Path, cluster: Cluster,
                                                                                 engine) -> None:
    _create(engine, "live", "timestamptz")
    config = _pg_config(tmp_path, cluster, "live", grace="30s", batch_rows=500)
    files = model_config(tmp_path, name="files")
    data = {"interval": "1s", "state_dir": str(tmp_path / "state"),
            "models": [json.loads(config.model_dump_json()), json.loads(files.model_dump_json())]}
    path = write_config(tmp_path / "monitor.yaml", data)
    port = free_port()
    exporter = start_exporter(path, port, tmp_path / "exporter.log")
    inserted = 0

    def counted(expected: int):
        def check():
            samples = scrape(port)
            return value_of(samples, "model_predictions_total", model="m") == expected and samples
        return check

    try:
        with engine.begin() as connection:
            _insert(connection, "live", _rows(0, 1200, time.time()))
        inserted += 1200
        wait_for(counted(inserted), 30, "1200 rows")

        # A transaction that stamps its rows, then commits after later rows were committed and read.
        slow = engine.connect()
        slow_tx = slow.begin()
        _insert(slow, "live", _rows(10_000, 40, time.time() - 2))
        with engine.begin() as connection:
            _insert(connection, "live", _rows(20_000, 60, time.time()))
        inserted += 60
        wait_for(counted(inserted), 30, "rows committed after the slow transaction began")
        slow_tx.commit()
        slow.close()
        inserted += 40
        wait_for(counted(inserted), 30, "the late commit")

        # The database goes away under load; the file model carries on.
        with engine.begin() as connection:
            _insert(connection, "live", _rows(30_000, 300, time.time()))
        inserted += 300
        engine.dispose()
        cluster.stop()
        before = scrape(port)
        errors = value_of(before, "model_monitor_errors_total", model="m", stage="read") or 0.0
        wait_for(lambda: (value_of(scrape(port), "model_monitor_errors_total", model="m", stage="read") or 0)
                 >= errors + 2, 30, "read errors while the database is down")
        down = scrape(port)
        write_jsonl(tmp_path / "logs" / "a.jsonl", rows_at(time.time(), 20))
        wait_for(lambda: value_of(scrape(port), "model_predictions_total", model="files") == 20, 30,
                 "the file model, while the database is down")
        later = scrape(port)
        assert value_of(later, "model_monitor_last_success_timestamp_seconds", model="m") == \
            value_of(down, "model_monitor_last_success_timestamp_seconds", model="m")
        assert value_of(later, "model_monitor_last_run_success", model="m") == 0
        assert value_of(later, "model_monitor_last_success_timestamp_seconds", model="files") > \
            value_of(down, "model_monitor_last_success_timestamp_seconds", model="files")

        cluster.start()
        with engine.begin() as connection:
            _insert(connection, "live", _rows(40_000, 250, time.time()))
        inserted += 250
        final = wait_for(counted(inserted), 60, "every row once after the database came back")
        assert value_of(final, "model_monitor_last_run_success", model="m") == 1
        assert (value_of(final, "model_monitor_rejected_rows_total", model="m", reason="duplicate_id") or 0) == 0
        time.sleep(3)  # a few more updates: nothing is read twice
        assert value_of(scrape(port), "model_predictions_total", model="m") == inserted
        assert PASSWORD not in exporter.output()
        assert PASSWORD not in json.dumps(list(scrape(port)))
    finally:
        exporter.stop()
        cluster.start() if cluster.pid is None else None


def test_pg_late_rows_beyond_the_watermark_are_read_once_with_ties(tmp_path: Path, cluster: Cluster, engine) -> None:
    """Thousands of rows on a handful of timestamps, in batches smaller than a tie group."""
    _create(engine, "ties", "timestamptz")
    now = time.time()
    with engine.begin() as connection:
        for k in range(5):
            _insert(connection, "ties", _rows(k * 1000, 900, now - 50 + k))
    config = _pg_config(tmp_path, cluster, "ties", batch_rows=400)
    monitor = ModelMonitor(config, reference_for(config), tmp_path / "state")
    totals = [monitor.update(now).predictions_total for _ in range(14)]
    assert totals[-1] == 4500 and np.all(np.diff(totals) <= 400)


@pytest.mark.parametrize("ts_type, methods", [("timestamptz", ("wasserstein", "ks", "psi")),
                                               ("timestamp", ("ks",)), ("bigint", ("psi",))])
def test_pushdown_gives_exactly_the_metrics_of_the_rows_on_postgres(tmp_path: Path, cluster: Cluster, engine,
                                                                     capsys, monkeypatch, ts_type: str,
                                                                     methods: tuple[str, ...]) -> None:
    """Every metric `check` prints, on data with missing values, NaN and infinities, new categories, values
    out of range, labels, a score and segments, with bins of every method."""
    from tests.helpers import reference_frame

    reference_frame().to_parquet(tmp_path / "reference.parquet")
    (tmp_path / "pgpass").write_text(PASSWORD + "\n")
    rng = np.random.default_rng(21)
    now = time.time()
    rows = pd.DataFrame(rows_at(now, 6000, seed=22, shift=2.0))
    stamps = np.round((now - rng.uniform(1, 3500, len(rows))) * 1e6).astype(np.int64)  # whole microseconds
    rows["ts"] = {"timestamptz": pd.to_datetime(stamps, unit="us", utc=True), "bigint": stamps // 1000,  # epoch ms
                  "timestamp": pd.to_datetime(stamps, unit="us")}[ts_type]
    rows["label"] = rng.integers(0, 2, len(rows))
    rows.loc[rows.index[::11], "income"] = None
    rows.loc[rows.index[::97], "income"] = float("nan")  # missing, as in the row path
    rows.loc[rows.index[::89], "age"] = float("inf")  # a type violation
    rows.loc[rows.index[::41], "age"] = -300.0  # out of range
    rows.loc[rows.index[::23], "country"] = "BR"
    rows.loc[rows.index[::53], "country"] = ""  # blank: missing
    _create(engine, "pushed", ts_type)
    with engine.begin() as connection:
        rows.sample(frac=1.0, random_state=4).to_sql("pushed", connection, if_exists="append", index=False)
    model = {"name": "m", "task": "binary_classification", "reference": "reference.parquet",
             "prediction_column": "prediction", "score_column": "score", "label_column": "label",
             "windows": ["5m", "1h"], "segments": ["country"]}

    def config(name: str, pushdown: bool, drift: str) -> Path:
        sql = {"url": cluster.url(), "table": "pushed", "password_file": "pgpass", "batch_rows": 2500,
               "pushdown": pushdown}
        return write_config(tmp_path / f"{name}.yaml", {"models": [{
            **model, "drift": {"method": drift}, "predictions": {"sql": sql, "timestamp_column": "ts",
                                                                 "id_column": "id"}}]})

    for drift in methods:
        by_rows = check_samples(config("rows", False, drift), now, capsys)
        with monkeypatch.context() as patch:
            patch.setattr(ModelMonitor, "ingest", lambda *_: pytest.fail("a batch was read as rows"))
            pushed = check_samples(config("pushed", True, drift), now, capsys)
        by_rows = without_row_only(by_rows)  # multivariate drift needs the rows' features: absent under pushdown
        assert pushed.keys() == by_rows.keys()
        assert pushed == pytest.approx(by_rows, rel=1e-12, abs=1e-15, nan_ok=True)
        violations = json.dumps(["model_data_quality_violations_total",
                                 [("check", "data_type"), ("feature", "age"), ("model", "m")]])
        assert by_rows.get(violations) == pushed.get(violations) == int(np.isinf(rows["age"]).sum())
