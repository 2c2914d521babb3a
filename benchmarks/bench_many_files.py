"""Many small log files against the same rows in one file: how long `serve` takes to catch up, and its memory.

    python -m benchmarks.bench_many_files [--files 10000] [--rows-per-file 10] [--pairs 2]
                                          [--commit REV ...] [--venv-prefix DIR]

Writes the rows once (JSON Lines: ``--files`` files of ``--rows-per-file`` rows, and the same rows in one
file, each under its own glob), installs the product as a user does (``benchmarks.installed``: the working
tree, or each ``--commit``, into its own virtual environment; versions printed), then, pair after pair,
starts the installed ``model-monitor serve`` (interval 1 s) on each folder in turn and polls ``/metrics``
until ``model_predictions_total`` has every row. Prints for each run the seconds from start to caught up
(the start itself, building the model from its reference, measured apart by the time to the first answer
of /metrics), the updates that took, the serve process's peak resident memory (VmHWM) and its resident
memory once caught up. Run on demand; the figures go to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.installed import checkout, describe, install, versions


def _reference(n: int = 5000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.normal(40, 10, n), "income": rng.lognormal(10, 0.5, n),
                         "country": rng.choice(["US", "DE", "FR"], n), "score": rng.random(n),
                         "prediction": rng.integers(0, 2, n), "label": rng.integers(0, 2, n)})


def write_workload(folder: Path, files: int, per_file: int) -> int:
    """The rows as ``files`` small files in ``many/`` and as one file in ``one/``; returns the row count."""
    rng = np.random.default_rng(1)
    now = time.time()
    lines = [json.dumps({"ts": now - 300 + i * 200 / (files * per_file), "id": f"r{i}",
                         "age": float(rng.normal(40, 10)), "income": float(rng.lognormal(10, 0.5)),
                         "country": ["US", "DE", "FR"][i % 3], "score": float(rng.random()),
                         "prediction": i % 2}) + "\n" for i in range(files * per_file)]
    (folder / "many").mkdir(parents=True)
    (folder / "one").mkdir()
    for k in range(files):
        (folder / "many" / f"part-{k:06d}.jsonl").write_text("".join(lines[k * per_file:(k + 1) * per_file]))
    (folder / "one" / "all.jsonl").write_text("".join(lines))
    _reference().to_parquet(folder / "reference.parquet")
    return len(lines)


def _config(folder: Path, name: str, state: Path) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps({
        "interval": "1s", "state_dir": str(state),
        "models": [{"name": "m", "task": "binary_classification", "reference": str(folder / "reference.parquet"),
                    "predictions": {"path": str(folder / name / "*.jsonl"), "timestamp_column": "ts",
                                    "id_column": "id"},
                    "prediction_column": "prediction", "score_column": "score", "label_column": "label",
                    "windows": ["5m", "1h"], "min_window_rows": 10}]}))
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _scrape(port: int) -> dict[str, float]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith(("model_predictions_total{", "model_monitor_last_success_timestamp_seconds{")):
            name, value = line.rsplit(" ", 1)
            out[name.split("{")[0]] = float(value)
    return out


def run(python: Path, folder: Path, name: str, rows: int) -> dict[str, float]:
    """Start the installed serve on ``folder/name`` with a fresh state folder; measure until every row is in."""
    state = Path(tempfile.mkdtemp(prefix="bench-many-state-"))
    port = _free_port()
    log = open(folder / f"serve-{name}.log", "wb")  # noqa: SIM115 - closed below
    started = time.monotonic()
    process = subprocess.Popen([str(python), "-m", "exporter.cli", "serve", "--config",
                                str(_config(folder, name, state)), "--port", str(port)], stdout=log,
                               stderr=subprocess.STDOUT, cwd=tempfile.gettempdir(), start_new_session=True)
    try:
        up = caught = None
        successes: set[float] = set()
        while time.monotonic() - started < 600:
            try:
                samples = _scrape(port)
            except OSError:
                time.sleep(0.05)
                continue
            up = up or time.monotonic() - started
            if "model_monitor_last_success_timestamp_seconds" in samples:
                successes.add(samples["model_monitor_last_success_timestamp_seconds"])
            if samples.get("model_predictions_total") == rows:
                caught = time.monotonic() - started
                break
            time.sleep(0.05)
        if caught is None:
            raise RuntimeError(f"{name}: not caught up within 600 s; see {log.name}")
        rss, peak = _memory_mib(process.pid)
        return {"serving_s": round(up, 2), "caught_up_s": round(caught, 2), "updates": len(successes) or 1,
                "peak_mib": round(peak), "rss_mib": round(rss)}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rows-per-file", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--commit", action="append", help="install this commit (repeatable); default: this tree")
    parser.add_argument("--venv-prefix", type=Path, default=Path(tempfile.gettempdir()) / "model-monitor-bench")
    args = parser.parse_args()
    pythons = {}
    for commit in args.commit or [None]:
        label = commit or "working tree"
        python = install(checkout(commit), Path(f"{args.venv_prefix}-{(commit or 'tree')[:10]}"))
        print(f"{label}: {describe(versions(python))}", flush=True)
        pythons[label] = python
    folder = Path(tempfile.mkdtemp(prefix="bench-many-files-"))
    rows = write_workload(folder, args.files, args.rows_per_file)
    print(f"{rows} rows: {args.files} files of {args.rows_per_file} rows, and one file", flush=True)
    for pair in range(args.pairs):
        for label, python in pythons.items():
            for name in ("one", "many") if pair % 2 == 0 else ("many", "one"):
                print(json.dumps({"pair": pair, "install": label, "logs": name, **run(python, folder, name, rows)}),
                      flush=True)


if __name__ == "__main__":
    main()
