"""Exporter performance on a seeded workload: ingest by format, window recompute, scrape, memory.

    python -m benchmarks.bench_exporter [--rows 1000000] [--stream-rows 10000000] [--out benchmarks/out]

Measures, on 20 numeric + 5 categorical features:
- ingest rows/s (read + validate + bin + add to 3 windows) from Parquet, CSV and JSON Lines;
- recompute time of every window of a 50-feature model as its window grows from 10 thousand to 10 million rows;
- resident memory while 10 million rows stream through (must stay flat);
- scrape latency over HTTP of 1, 5, 20 and 50 models x 50 features x 3 windows.
Prints a Markdown report; run on demand, never as part of the tests.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import requests

from benchmarks.proc import status_mib
from exporter.baseline.reference import build_reference
from exporter.config import parse_config
from exporter.monitor.model import ModelMonitor
from exporter.publish.exposition import SnapshotStore

CATEGORIES = [f"c{i}" for i in range(12)]


def rss_mib() -> float:
    return status_mib("VmRSS")


def workload(
    rng: np.random.Generator, n: int, n_num: int, n_cat: int, ts: float, shift: float = 0.0, first_id: int = 0
) -> pd.DataFrame:
    """``n`` prediction rows stamped ``ts`` with unique ids from ``first_id``."""
    data: dict[str, object] = {"ts": np.full(n, ts), "request_id": np.arange(first_id, first_id + n).astype(str)}
    for i in range(n_num):
        data[f"num_{i}"] = rng.normal(shift + i % 5, 1 + i % 3, n)
    for j in range(n_cat):
        data[f"cat_{j}"] = rng.choice(CATEGORIES, n)
    data["score"] = rng.random(n)
    data["prediction"] = (data["score"] > 0.5).astype(int)  # type: ignore[operator]
    return pd.DataFrame(data)


def monitor_for(
    folder: Path, name: str, pattern: str, n_num: int, n_cat: int, rng: np.random.Generator
) -> ModelMonitor:
    reference = workload(rng, 20_000, n_num, n_cat, 0.0).drop(columns=["ts", "request_id"])
    ref_path = folder / f"{name}-reference.parquet"
    reference.to_parquet(ref_path)
    config = parse_config({
        "models": [{
            "name": name, "task": "binary_classification", "reference": str(ref_path),
            "predictions": {"path": pattern, "timestamp_column": "ts", "id_column": "request_id"},
            "prediction_column": "prediction", "score_column": "score",
            "windows": ["5m", "1h", "24h"], "drift": {"method": "ks", "threshold": 0.1},
        }],
    }, base=folder)
    model = config.models[0]
    return ModelMonitor(model, build_reference(model, reference), state_dir=None)


def bench_ingest(folder: Path, rows: int, rng: np.random.Generator) -> list[tuple[str, int, float, float]]:
    now = time.time()
    frame = workload(rng, rows, 20, 5, now - 10)
    out = []
    for fmt, limit in (("parquet", rows), ("csv", rows), ("jsonl", min(rows, 300_000))):
        part = frame.iloc[:limit]
        path = folder / fmt / f"predictions.{fmt}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            part.to_parquet(path)
        elif fmt == "csv":
            part.to_csv(path, index=False)
        else:
            part.to_json(path, orient="records", lines=True)
        monitor = monitor_for(folder, f"ingest-{fmt}", str(path), 20, 5, rng)
        start = time.perf_counter()
        snapshot = monitor.update(now=now, persist=False, budget=None)
        elapsed = time.perf_counter() - start
        assert snapshot.predictions_total == limit, (fmt, snapshot.predictions_total)
        out.append((fmt, limit, elapsed, limit / elapsed))
    return out


def _median_compute(monitor: ModelMonitor, now: float, repeats: int = 15) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        monitor.compute(now)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_recompute_and_memory(folder: Path, stream_rows: int, rng: np.random.Generator):
    """Recompute time of every window as the window grows from 10k to ``stream_rows`` rows, and RSS."""
    monitor = monitor_for(folder, "recompute", str(folder / "none" / "*.jsonl"), 40, 10, rng)
    now = time.time()
    recompute: list[tuple[int, float]] = []
    memory: list[tuple[int, float]] = []
    done = 0
    for target in sorted({10_000, 100_000, 1_000_000, stream_rows}):  # ids stay unique: no duplicate_id
        while done < target:
            n = min(1_000_000, target - done)
            monitor.ingest(workload(rng, n, 40, 10, now - 5, shift=0.1, first_id=done), now)
            done += n
            memory.append((done, rss_mib()))
        rows_in_window = int(monitor.store.rings[""]["1h"].merged(now)["volume/rows"])
        recompute.append((rows_in_window, _median_compute(monitor, now)))
    return recompute, memory


def bench_scrape(folder: Path, rng: np.random.Generator, models: int) -> tuple[int, float, float]:
    from exporter.publish.http import metrics_app, serve

    store = SnapshotStore()
    now = time.time()
    for m in range(models):
        monitor = monitor_for(folder, f"scrape-{m}", str(folder / "none" / "*.jsonl"), 40, 10, rng)
        monitor.ingest(workload(rng, 2_000, 40, 10, now - 5), now)
        store.publish(monitor.snapshot(monitor.compute(now), ok=True))
    server, _ = serve(metrics_app(store), "127.0.0.1", 0)
    port = server.server_address[1]
    url = f"http://127.0.0.1:{port}/metrics"
    series = sum(1 for line in requests.get(url, timeout=10).text.splitlines() if line and not line.startswith("#"))
    times = []
    with requests.Session() as session:
        for _ in range(100):
            start = time.perf_counter()
            session.get(url, timeout=10).raise_for_status()
            times.append(time.perf_counter() - start)
    server.shutdown()
    server.server_close()
    times.sort()
    return series, statistics.median(times), times[int(len(times) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--stream-rows", type=int, default=10_000_000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    args = parser.parse_args()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2026)
    print(f"# Exporter benchmark\n\nmachine: {platform.platform()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}\n")
    print("## Ingest (read + validate + bin + add to 3 windows), 20 numeric + 5 categorical features\n")
    print("| format | rows | seconds | rows/s |\n| --- | ---: | ---: | ---: |")
    for fmt, rows, seconds, rate in bench_ingest(args.out, args.rows, rng):
        print(f"| {fmt} | {rows:,} | {seconds:.2f} | {rate:,.0f} |")
    recompute, memory = bench_recompute_and_memory(args.out, args.stream_rows, rng)
    print("\n## Recompute every window (3) of a 50-feature model\n")
    print("| rows in window | median ms | ratio to 10k |\n| ---: | ---: | ---: |")
    for rows, seconds in recompute:
        print(f"| {rows:,} | {seconds * 1000:.2f} | {seconds / recompute[0][1]:.2f} |")
    print("\n## Resident memory while rows stream through (50 features, 3 windows)\n")
    print("| rows ingested | RSS MiB |\n| ---: | ---: |")
    for done, mib in memory:
        print(f"| {done:,} | {mib:.0f} |")
    print("\n## Scrape over HTTP as series grow (50 features x 3 windows per model)\n")
    print("| models | series | p50 ms | p99 ms |\n| ---: | ---: | ---: | ---: |")
    for models in (1, 5, 20, 50):
        series, p50, p99 = bench_scrape(args.out, rng, models)
        print(f"| {models} | {series:,} | {p50 * 1000:.1f} | {p99 * 1000:.1f} |")


if __name__ == "__main__":
    main()
