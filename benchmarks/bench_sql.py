"""The SQL source on PostgreSQL: fetching rows against pushing the aggregation down, at 1 M and 10 M rows.

    python -m benchmarks.bench_sql [--rows 1000000 10000000] [--features 20 5]

Starts a throwaway PostgreSQL cluster (tests/postgres.py: Debian's postgresql, loopback port, stopped
by PID), loads a table of predictions (numeric and categorical features, score, prediction, stamped over
the last 55 minutes, an index on (ts, id)) with COPY, then runs one `check`-like pass (every row read
once, windows 5m and 1h) per path, each in a fresh process so that time and peak memory are its own,
and checks that both paths give the same metrics. Time and memory are those of the reading pass alone
(after the reference is built): its seconds, the CPU seconds the exporter's process spent (the rest
is the database's work and waiting for it), and how far its peak resident memory rose above the
resident memory before it (the peak is reset through /proc/self/clear_refs). Prints a Markdown table;
run on demand.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from benchmarks.proc import status_mib

CATEGORIES = [f"c{i}" for i in range(12)]
#: Rows generated and copied per chunk, so loading 10 M rows stays within a few hundred MiB.
LOAD_CHUNK = 500_000


def _frame(rng: np.random.Generator, n: int, n_num: int, n_cat: int, first: int, now: float) -> pd.DataFrame:
    data: dict[str, object] = {
        "id": np.char.add("r", np.arange(first, first + n).astype(str)),
        "ts": pd.to_datetime(np.round((now - rng.uniform(1, 3300, n)) * 1e6), unit="us", utc=True),
    }
    for i in range(n_num):
        data[f"num_{i}"] = rng.normal(0.3 + i % 5, 1 + i % 3, n)
    for j in range(n_cat):
        data[f"cat_{j}"] = rng.choice(CATEGORIES, n)
    data["score"] = rng.random(n)
    data["prediction"] = (data["score"] > 0.5).astype(int)  # type: ignore[operator]
    return pd.DataFrame(data)


def load(engine: object, rows: int, n_num: int, n_cat: int, now: float) -> float:
    """Create and fill the predictions table with COPY; returns the seconds it took."""
    import sqlalchemy as sa

    started = time.perf_counter()
    columns = ["id text NOT NULL", "ts timestamptz"] + [f"num_{i} double precision" for i in range(n_num)]
    columns += [f"cat_{j} text" for j in range(n_cat)] + ["score double precision", "prediction integer"]
    with engine.begin() as connection:  # type: ignore[attr-defined]
        connection.execute(sa.text("DROP TABLE IF EXISTS predictions"))
        connection.execute(sa.text(f"CREATE TABLE predictions ({', '.join(columns)})"))
    rng = np.random.default_rng(1)
    raw = engine.raw_connection()  # type: ignore[attr-defined]
    try:
        for first in range(0, rows, LOAD_CHUNK):
            chunk = _frame(rng, min(LOAD_CHUNK, rows - first), n_num, n_cat, first, now)
            buffer = io.StringIO()
            chunk.to_csv(buffer, index=False, header=False)
            with raw.cursor() as cursor, cursor.copy("COPY predictions FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(buffer.getvalue())
            raw.commit()
    finally:
        raw.close()
    with engine.begin() as connection:  # type: ignore[attr-defined]
        connection.execute(sa.text("CREATE INDEX ON predictions (ts, id)"))
        connection.execute(sa.text("ANALYZE predictions"))
    return time.perf_counter() - started


def run_one(config: Path, now: float) -> None:
    """In a fresh process: read every row once and evaluate the windows; print time, peak RSS and metrics."""
    from exporter.config import load_config
    from exporter.monitor.building import build_monitor
    from exporter.publish.exposition import build_families, families_as_json

    model = load_config(config).models[0]
    monitor = build_monitor(model, None)  # the reference: the same for both paths
    before = status_mib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current RSS
    started, cpu = time.perf_counter(), time.process_time()
    snapshot = monitor.update(now, persist=False, budget=None)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    samples = {json.dumps([s["name"], sorted(s["labels"].items())]): s["value"]
               for s in families_as_json(build_families([snapshot]))
               if s["name"] not in ("model_monitor_last_success_timestamp_seconds",
                                    "model_monitor_last_run_duration_seconds")}
    print(json.dumps({"seconds": seconds, "cpu": cpu, "rss_mib": status_mib("VmHWM") - before,
                      "rows": snapshot.predictions_total, "errors": snapshot.errors, "samples": samples}))


def measure(folder: Path, url: str, pushdown: bool, now: float, n_num: int, n_cat: int) -> dict[str, object]:
    config = {"models": [{
        "name": "bench", "task": "binary_classification", "reference": "reference.parquet",
        "prediction_column": "prediction", "score_column": "score", "windows": ["5m", "1h"],
        "drift": {"method": "wasserstein"},
        "predictions": {"sql": {"url": url, "table": "predictions", "password_file": "pgpass", "pushdown": pushdown},
                        "timestamp_column": "ts", "id_column": "id"}}]}
    path = folder / f"{'pushdown' if pushdown else 'rows'}.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, "-m", "benchmarks.bench_sql", "--one", str(path), "--now", str(now)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--features", type=int, nargs=2, default=[20, 5], metavar=("NUMERIC", "CATEGORICAL"))
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--now", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        run_one(args.one, args.now)
        return

    import sqlalchemy as sa

    from tests.postgres import PASSWORD, Cluster

    n_num, n_cat = args.features
    folder = Path(tempfile.mkdtemp(prefix="bench-sql-"))
    (folder / "pgpass").write_text(PASSWORD + "\n")
    now = time.time()
    reference = _frame(np.random.default_rng(0), 50_000, n_num, n_cat, 0, now).drop(columns=["id", "ts"])
    reference.to_parquet(folder / "reference.parquet")
    cluster = Cluster()
    lines = ["| rows | load (COPY + index) | fetch rows: s | exporter CPU s | RSS growth | pushdown: s | "
             "exporter CPU s | RSS growth | same metrics |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    try:
        cluster.start()
        engine = sa.create_engine(cluster.url(with_password=True))
        for rows in args.rows:
            loaded = load(engine, rows, n_num, n_cat, now)
            by_rows = measure(folder, cluster.url(), False, now, n_num, n_cat)
            pushed = measure(folder, cluster.url(), True, now, n_num, n_cat)
            same = by_rows["samples"].keys() == pushed["samples"].keys() and all(  # type: ignore[union-attr]
                np.isclose(by_rows["samples"][k], pushed["samples"][k], rtol=1e-12, atol=1e-15, equal_nan=True)
                for k in by_rows["samples"])  # type: ignore[union-attr]
            assert by_rows["rows"] == pushed["rows"] == rows, (by_rows["rows"], pushed["rows"], by_rows["errors"])
            lines.append(f"| {rows:,} | {loaded:.0f} s | {by_rows['seconds']:.1f} | {by_rows['cpu']:.1f} | "
                         f"{by_rows['rss_mib']:.0f} MiB | {pushed['seconds']:.1f} | {pushed['cpu']:.1f} | "
                         f"{pushed['rss_mib']:.0f} MiB | {'yes' if same else 'NO'} |")
            print(lines[-1], flush=True)
        engine.dispose()
    finally:
        cluster.remove()
    print(f"\n{n_num} numeric + {n_cat} categorical features, score and prediction, windows 5m and 1h, PostgreSQL "
          f"15 on loopback, one `check`-like pass per path in its own process.\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
