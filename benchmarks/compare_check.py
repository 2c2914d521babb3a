"""Do two versions of the exporter print the same metrics? ``check --format json`` of both, side by side.

    python -m benchmarks.compare_check --base REV [--rows 200000] [--repeat 1] [--keep DIR]

Builds three seeded workloads in a temporary folder: the demo's (a fraud model with a labels
log, segments, latency and errors, drifting halfway through an hour), the benchmark's
(20 numeric and 5 categorical features, 3 windows, Parquet) and the conformance matrix's data
(tests/conformance.py: a messy log for every task, from JSON Lines, CSV, Parquet and SQLite). Runs ``model-monitor check
--format json --now T`` on each with the working tree and with ``REV`` (checked out with
``git worktree``), and compares every sample: same series, same values. Series that only the
new version has are listed (e.g. new zero-valued counters) and allowed; a changed or missing
value fails (exit 1); values within ``--rtol`` (1e-12 relative: the same sums added in another
order) are counted apart. Wall time of each run is printed too; ``--repeat N`` runs N pairs, alternating
which tree goes first, and prints each tree's median (on a shared machine, compare only the pairs of one
run). Run on demand, not in the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from benchmarks.bench_exporter import workload
from exporter.commands.demo import TrafficWriter, prepare_demo
from tests.conformance import FILE_SOURCES, write_matrix

ROOT = Path(__file__).resolve().parents[1]
NOW = 1_800_000_000.0
VOLATILE = {"model_monitor_last_success_timestamp_seconds", "model_monitor_last_run_duration_seconds"}


def demo_workload(folder: Path) -> Path:
    config = prepare_demo(folder)
    writer = TrafficWriter(folder, rate=20.0, drift_after=1800.0, label_delay=60.0, seed=11)
    writer.started = NOW - 3600
    (folder / "predictions").mkdir(exist_ok=True)
    (folder / "labels").mkdir(exist_ok=True)
    for step in range(0, 3600, 5):
        writer.write_once(NOW - 3600 + step, int(writer.rng.poisson(100)))
    data = yaml.safe_load(config.read_text())
    data["state_dir"] = str(folder / "state")
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def benchmark_workload(folder: Path, rows: int) -> Path:
    rng = np.random.default_rng(5)
    workload(rng, 20_000, 20, 5, 0.0).drop(columns=["ts", "request_id"]).to_parquet(folder / "reference.parquet")
    (folder / "logs").mkdir()
    current = workload(rng, rows, 20, 5, 0.0, shift=0.05)
    current["ts"] = NOW - rng.uniform(0, 7200, rows)
    current.to_parquet(folder / "logs" / "current.parquet")
    config = {"models": [{
        "name": "bench", "task": "binary_classification", "reference": "reference.parquet",
        "predictions": {"path": "logs/*.parquet", "timestamp_column": "ts", "id_column": "request_id"},
        "prediction_column": "prediction", "score_column": "score", "windows": ["5m", "1h", "24h"],
        "drift": {"method": "wasserstein", "categorical_method": "js"},
    }]}
    path = folder / "monitor.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_check(tree: Path, config: Path) -> tuple[dict[str, float | None], float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "exporter.cli", "--log-level", "ERROR", "check", "--config",
                             str(config), "--format", "json", "--now", str(NOW)],
                            capture_output=True, text=True, cwd=tree, env=env, timeout=1800, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"check failed in {tree}:\n{result.stderr}")
    samples = json.loads(result.stdout)["metrics"]
    return ({json.dumps([s["name"], sorted(s["labels"].items())]): s["value"] for s in samples
             if s["name"] not in VOLATILE}, elapsed)


def _close(a: float | None, b: float | None, rtol: float) -> bool:
    if a is None or b is None or a != a or b != b:
        return a is b or (a != a and b != b)
    return abs(a - b) <= rtol * max(abs(a), abs(b))


def compare(name: str, old: dict[str, float | None], new: dict[str, float | None], rtol: float) -> bool:
    common = old.keys() & new.keys()
    changed = {k: (old[k], new[k]) for k in common if not _close(old[k], new[k], rtol)}
    rounding = sum(1 for k in common if old[k] != new[k] and k not in changed)
    missing = sorted(old.keys() - new.keys())
    added = sorted(new.keys() - old.keys())
    print(f"{name}: {len(old)} samples before, {len(new)} after; {len(common) - len(changed) - rounding} "
          f"identical, {rounding} equal within {rtol:g} relative (summation order), {len(changed)} changed, "
          f"{len(missing)} missing, {len(added)} added")
    for key, (before, after) in sorted(changed.items())[:20]:
        print(f"  changed {key}: {before} -> {after}")
    for key in missing[:20]:
        print(f"  missing {key}")
    for key in added[:20]:
        print(f"  added {key} = {new[key]}")
    return not changed and not missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the git revision to compare with")
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the benchmark workload")
    parser.add_argument("--repeat", type=int, default=1, help="pairs of runs per workload, alternating the order")
    parser.add_argument("--keep", type=Path, help="build the workloads here and keep them")
    parser.add_argument("--rtol", type=float, default=1e-12,
                        help="relative difference allowed (sums in another order differ in the last bits)")
    args = parser.parse_args(argv)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="compare-check-"))
    folder.mkdir(parents=True, exist_ok=True)
    base_tree = folder / "base"
    subprocess.run(["git", "worktree", "add", "--detach", "-f", str(base_tree), args.base], cwd=ROOT, check=True,
                   capture_output=True)
    try:
        (folder / "demo").mkdir(exist_ok=True)
        (folder / "bench").mkdir(exist_ok=True)
        (folder / "conformance").mkdir(exist_ok=True)
        configs = {"demo": demo_workload(folder / "demo"), "benchmark": benchmark_workload(folder / "bench", args.rows),
                   "conformance": write_matrix(folder / "conformance", NOW, (*FILE_SOURCES, "sqlite"))}
        same = True
        for name, config in configs.items():
            old_times, new_times = [], []
            for pair in range(args.repeat):
                if pair % 2:
                    new, new_time = run_check(ROOT, config)
                    old, old_time = run_check(base_tree, config)
                else:
                    old, old_time = run_check(base_tree, config)
                    new, new_time = run_check(ROOT, config)
                old_times.append(old_time)
                new_times.append(new_time)
            same = compare(name, old, new, args.rtol) and same
            print(f"  wall time of check (median of {args.repeat}): {np.median(old_times):.2f} s before, "
                  f"{np.median(new_times):.2f} s after; each pair: "
                  + ", ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(old_times, new_times, strict=True)))
        return 0 if same else 1
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT, check=False,
                       capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
