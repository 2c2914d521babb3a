"""How long the HTML report takes: a model with 50 features (40 numeric, 10 categorical of 30 values).

    python -m benchmarks.bench_report [--features 50] [--rows 100000] [--repeat 20]

Prints the time to render one report from a snapshot (what ``/report`` costs per request), the time
of the whole ``model-monitor report`` command, and the page's size.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml


def _workload(folder: Path, features: int, rows: int) -> Path:
    rng = np.random.default_rng(0)
    n_cat = features // 5
    columns: dict[str, np.ndarray] = {f"num_{i}": rng.normal(0, 1, rows) for i in range(features - n_cat)}
    columns |= {f"cat_{i}": rng.choice([f"v{k}" for k in range(30)], rows) for i in range(n_cat)}
    columns["score"] = rng.random(rows)
    columns["prediction"] = (columns["score"] > 0.5).astype(int)
    columns["label"] = (rng.random(rows) < columns["score"]).astype(int)
    pd.DataFrame(columns).to_parquet(folder / "reference.parquet")
    current = pd.DataFrame({k: v[: rows // 10] for k, v in columns.items()})
    current["num_0"] = current["num_0"] + 1.0
    current["ts"] = time.time() - 60
    (folder / "logs").mkdir()
    current.to_parquet(folder / "logs" / "a.parquet")
    config = folder / "monitor.yaml"
    config.write_text(yaml.safe_dump({"models": [{
        "name": "bench", "task": "binary_classification", "reference": "reference.parquet",
        "predictions": {"path": "logs/*.parquet", "timestamp_column": "ts"}, "prediction_column": "prediction",
        "score_column": "score", "label_column": "label", "windows": ["5m", "1h"]}]}))
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    from exporter.cli import main as cli
    from exporter.config import load_config
    from exporter.monitor.building import build_monitors
    from exporter.publish.report import render_report

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config_path = _workload(folder, args.features, args.rows)
        [monitor] = build_monitors(load_config(config_path), str(config_path), persist=False)
        snapshot = monitor.update(persist=False, budget=None)
        render_report(snapshot, "1h")  # the template is compiled once per process
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            page = render_report(snapshot, "1h")
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
        cli(["--log-level", "ERROR", "report", "--config", str(config_path), "--out", str(folder / "r.html")])
        command = time.perf_counter() - start
    print(f"features: {args.features}, reference rows: {args.rows}")
    print(f"render from a snapshot: median {1000 * statistics.median(times):.1f} ms, "
          f"max {1000 * max(times):.1f} ms over {args.repeat}")
    print(f"model-monitor report (reference read and binned, logs read, rendered): {command:.2f} s")
    print(f"page: {len(page.encode()) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
