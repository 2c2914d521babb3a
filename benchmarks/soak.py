"""Load and soak: stream rows through a real `model-monitor serve` while another process scrapes it.

    python -m benchmarks.soak [--rows 10000000] [--file-rows 100000] [--scrapes-per-second 20]

A writer drops Parquet files of fresh rows (20 numeric + 5 categorical features, 3 windows) into
the exporter's prediction folder; a separate scraper process GETs /metrics at a fixed rate; the
exporter's CPU time and resident memory are sampled from /proc every second. Prints a Markdown
report: rows/s, scrape latency p50/p99, CPU seconds per million rows, and RSS over time.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests
import yaml

from benchmarks.bench_exporter import workload

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MiB) of ``pid``."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    with open(f"/proc/{pid}/status") as handle:
        rss = next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:")) / 1024
    return cpu, rss


def _scraper(url: str, rate: float, stop: multiprocessing.Event, out: multiprocessing.Queue) -> None:
    latencies = []
    period = 1.0 / rate
    session = requests.Session()
    next_time = time.perf_counter()
    while not stop.is_set():
        start = time.perf_counter()
        try:
            session.get(url, timeout=10).raise_for_status()
            latencies.append(time.perf_counter() - start)
        except requests.RequestException:
            latencies.append(float("nan"))
        next_time += period
        time.sleep(max(0.0, next_time - time.perf_counter()))
    out.put(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--file-rows", type=int, default=100_000)
    parser.add_argument("--scrapes-per-second", type=float, default=20.0)
    parser.add_argument("--port", type=int, default=19199)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    folder = Path(tempfile.mkdtemp(prefix="model-monitor-soak-"))
    workload(rng, 20_000, 20, 5, 0.0).drop(columns=["ts", "request_id"]).to_parquet(folder / "reference.parquet")
    (folder / "predictions").mkdir()
    config = {
        "interval": "1s", "server": {"host": "127.0.0.1", "port": args.port}, "state_dir": "state",
        "models": [{"name": "soak", "task": "binary_classification", "reference": "reference.parquet",
                    "predictions": {"path": "predictions/*.parquet", "timestamp_column": "ts",
                                    "id_column": "request_id"},
                    "prediction_column": "prediction", "score_column": "score",
                    "windows": ["5m", "1h", "24h"], "drift": {"method": "ks", "threshold": 0.1}}],
    }
    (folder / "monitor.yaml").write_text(yaml.safe_dump(config))
    exporter = subprocess.Popen([sys.executable, "-m", "exporter.cli", "--log-level", "WARNING", "serve",
                                 "--config", str(folder / "monitor.yaml")])
    url = f"http://127.0.0.1:{args.port}/metrics"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if requests.get(url, timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        stop = multiprocessing.Event()
        results: multiprocessing.Queue = multiprocessing.Queue()
        scraper = multiprocessing.Process(target=_scraper, args=(url, args.scrapes_per_second, stop, results))
        scraper.start()
        samples: list[tuple[float, float, float, int]] = []
        ingested = 0
        cpu0, _ = _proc(exporter.pid)
        start = time.time()
        written = 0

        def write_files() -> None:
            nonlocal written
            index = 0
            while written < args.rows:
                n = min(args.file_rows, args.rows - written)
                frame = workload(np.random.default_rng(index), n, 20, 5, time.time())
                frame["request_id"] = [f"{index}-{i}" for i in range(n)]
                tmp = folder / f".part-{index:05d}.parquet"
                frame.to_parquet(tmp)
                tmp.rename(folder / "predictions" / f"part-{index:05d}.parquet")
                written += n
                index += 1

        writer = threading.Thread(target=write_files, daemon=True)
        writer.start()
        while ingested < args.rows:
            time.sleep(1.0)
            cpu, rss = _proc(exporter.pid)
            text = requests.get(url, timeout=10).text
            line = next((x for x in text.splitlines() if x.startswith("model_predictions_total{")), "x 0")
            ingested = int(float(line.rsplit(" ", 1)[1]))
            samples.append((time.time() - start, cpu - cpu0, rss, ingested))
            if time.time() - start > 3600:
                raise RuntimeError("soak did not finish within an hour")
        elapsed = time.time() - start
        stop.set()
        latencies = [x for x in results.get(timeout=30) if x == x]
        scraper.join(timeout=10)
    finally:
        exporter.terminate()
        exporter.wait(timeout=30)
    cpu_total = samples[-1][1]
    latencies.sort()
    print(f"# Soak: {args.rows:,} rows through `model-monitor serve`, scraped {args.scrapes_per_second:g}/s\n")
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}\n")
    print("| rows | seconds | rows/s | CPU s per million rows | scrapes | scrape p50 ms | scrape p99 ms |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {args.rows:,} | {elapsed:.1f} | {args.rows / elapsed:,.0f} | {cpu_total / (args.rows / 1e6):.2f} | "
          f"{len(latencies):,} | {statistics.median(latencies) * 1000:.1f} | "
          f"{latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} |")
    print("\nResident memory of the exporter while rows stream through:\n")
    print("| seconds | rows ingested | RSS MiB |\n| ---: | ---: | ---: |")
    step = max(1, len(samples) // 12)
    for t, _cpu, rss, done in [*samples[::step], samples[-1]]:
        print(f"| {t:.0f} | {done:,} | {rss:.0f} |")


if __name__ == "__main__":
    main()
