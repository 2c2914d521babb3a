"""The large batch check, whole process: ``model-monitor check`` against Evidently's default preset.

    python -m benchmarks.bench_check [--rows 1000000] [--repeats 3] [--samples 3] [--peers] [--profile DIR]

Writes a reference and a current Parquet file of ``--rows`` rows each (20 numeric and 5 categorical
features, a score and a prediction; :func:`benchmarks.peers.generate`, 6 features drifted), and a config
with one window of 1h, wasserstein for numbers and Jensen-Shannon for categories. Each run is a fresh
process, timed from start to exit (interpreter start and imports included), with its peak resident
memory (``ru_maxrss`` of the child). Model Monitor runs two checks: building the reference from the
reference file, and from a baseline file written beforehand by ``model-monitor baseline`` (the
reference's bins, built once). Each of ``--repeats`` rounds runs each check ``--samples`` times and
Evidently once, alternating, so a slow moment of the machine falls on both; the table gives medians.

``--installed VENV`` times the product installed as a user installs it (:mod:`benchmarks.installed`:
``pip install`` of this checkout into VENV, the versions pip resolves today, printed), run from outside
the checkout. ``--peers`` also times Evidently's DataDriftPreset on the same two files, whole process too (reading
both files, the report, its drift verdicts), in ``.venv-bench`` (``benchmarks/run-peers.sh`` creates
it). ``--profile DIR`` records a flame graph (py-spy, the ``profile`` extra; SVG) and a text profile
(cProfile, top functions by cumulative and own time; the main thread only) of one check into DIR.

Prints a Markdown table. Run on demand, not in the tests.
"""

from __future__ import annotations

import argparse
import compileall
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml

from benchmarks.peers import CATEGORICAL, NUMERIC, generate

ROOT = Path(__file__).resolve().parents[1]
NOW = 1_800_000_000.0

EVIDENTLY = """
import sys, pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
reference = pd.read_parquet(sys.argv[1]).drop(columns=["ts"], errors="ignore")
current = pd.read_parquet(sys.argv[2]).drop(columns=["ts"])
result = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
drifted = [m for m in result.dict()["metrics"] if m["metric_name"].startswith("ValueDrift")]
print(len(drifted), "drift verdicts", file=sys.stderr)
"""


def write_files(reference: Path, current: Path, rows: int) -> None:
    generate(rows, 1, False).drop(columns=["label"]).to_parquet(reference, index=False)
    frame = generate(rows, 2, True).drop(columns=["label"])
    frame.insert(0, "ts", NOW - 3000 + np.random.default_rng(3).uniform(0, 3000, rows))
    frame.to_parquet(current, index=False)


def workload(folder: Path, rows: int) -> Path:
    """The two Parquet files and the config (written once per folder and size)."""
    folder.mkdir(parents=True, exist_ok=True)
    reference, current = folder / f"reference-{rows}.parquet", folder / f"current-{rows}.parquet"
    if not current.exists():
        # In a child process: a forked child's peak RSS (ru_maxrss) starts from its parent's
        # high-water mark (Linux keeps it across exec), so a parent that had built 2M rows in memory
        # would inflate every timed check's peak.
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            pool.submit(write_files, reference, current, rows).result()
    config = folder / f"monitor-{rows}.yaml"
    config.write_text(yaml.safe_dump({"models": [{
        "name": "large", "task": "binary_classification", "reference": reference.name,
        "predictions": {"path": current.name, "timestamp_column": "ts"},
        "features": {"numeric": NUMERIC, "categorical": CATEGORICAL},
        "score_column": "score", "prediction_column": "prediction", "windows": ["1h"],
        "drift": {"method": "wasserstein", "categorical_method": "js"},
    }]}, sort_keys=False))
    return config


#: The Python that runs ``model-monitor``: this one (the checkout), or an environment where the product was
#: installed as a user installs it (``--installed``).
PYTHON = sys.executable
#: Where the checks run: the checkout, or (installed) a folder outside it, so the installed package is imported.
CWD = ROOT


def with_baseline(config: Path, rows: int) -> Path:
    """A copy of ``config`` whose reference is a baseline file built from it."""
    baseline = config.parent / f"baseline-{rows}.json"
    if not baseline.exists():
        subprocess.run([PYTHON, "-m", "exporter.cli", "--log-level", "ERROR", "baseline", "--config",
                        str(config), "--out", str(baseline)], check=True, cwd=CWD)
    data = yaml.safe_load(config.read_text())
    del data["models"][0]["reference"]
    data["models"][0]["baseline"] = baseline.name
    out = config.parent / f"monitor-{rows}-baseline.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def timed(command: list[str], cwd: Path, ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of ``command`` in a fresh process, which must exit with one of ``ok``."""
    started = time.perf_counter()
    pid = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL).pid
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in ok:
        raise SystemExit(f"{command} failed with exit code {os.waitstatus_to_exitcode(status)}")
    return elapsed, usage.ru_maxrss / 1024


def check_command(config: Path) -> list[str]:
    return [PYTHON, "-m", "exporter.cli", "--log-level", "ERROR", "check", "--config", str(config),
            "--now", str(NOW), "--fail-on-alert"]


def profile(config: Path, out: Path, label: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    command = check_command(config)
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        raise SystemExit("--profile needs py-spy: pip install -e '.[profile]'")
    subprocess.run([str(py_spy), "record", "--rate", "250", "--subprocesses",
                    "--format", "flamegraph", "-o", str(out / f"check-{label}.svg"), "--", *command],
                   cwd=ROOT, check=False, stdout=subprocess.DEVNULL)
    stats = Path(tempfile.mkdtemp()) / "check.pstats"
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(stats), "-m", "exporter.cli", *command[3:]],
                   cwd=ROOT, check=False, stdout=subprocess.DEVNULL)
    import pstats

    with (out / f"check-{label}.txt").open("w") as text:
        for order in ("cumulative", "tottime"):
            pstats.Stats(str(stats), stream=text).sort_stats(order).print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=3, help="runs of each check per repeat")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "check")
    parser.add_argument("--peers", action="store_true")
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--label", default="now")
    parser.add_argument("--installed", type=Path, metavar="VENV",
                        help="pip install this checkout into VENV (made if missing; the versions pip resolves "
                             "today) and time that installed product")
    args = parser.parse_args()
    global PYTHON, CWD
    if args.installed:
        from benchmarks.installed import checkout, describe, install, versions

        PYTHON, CWD = str(install(checkout(None), args.installed)), Path(tempfile.gettempdir())
        print(f"installed: {describe(versions(Path(PYTHON)))}")
    config = workload(args.out, args.rows)
    baseline = with_baseline(config, args.rows)
    # Bytecode as an installed package has it (pip compiles at install; the peers' are compiled): a
    # checkout run with PYTHONDONTWRITEBYTECODE=1 would compile the exporter's modules in every run.
    compileall.compile_dir(ROOT / "exporter", quiet=1)
    if args.profile:
        profile(config, args.profile, args.label)
        return
    runs: dict[str, list[tuple[float, float]]] = {"reference file": [], "baseline file": []}
    evidently = ROOT / ".venv-bench" / "bin" / "python"
    if args.peers:
        runs["Evidently DataDriftPreset"] = []
    for _ in range(args.repeats):
        # --fail-on-alert: the check exits 1 when it finds drift, as it must on this workload. A run of
        # one second feels the machine's moment-to-moment noise more than one of a hundred: each repeat
        # runs the checks --samples times, next to one run of Evidently.
        for _ in range(args.samples):
            runs["reference file"].append(timed(check_command(config), CWD, ok=(1,)))
            runs["baseline file"].append(timed(check_command(baseline), CWD, ok=(1,)))
        if args.peers:
            runs["Evidently DataDriftPreset"].append(timed(
                [str(evidently), "-c", EVIDENTLY, str(config.parent / f"reference-{args.rows}.parquet"),
                 str(config.parent / f"current-{args.rows}.parquet")], ROOT))
    ours = statistics.median(t for t, _ in runs["reference file"])
    peer = statistics.median(t for t, _ in runs["Evidently DataDriftPreset"]) if args.peers else None
    rounds = f"{args.repeats} rounds of {args.samples} runs of each check" + (" and one of Evidently" if peer else "")
    print(f"{args.rows:,} reference + {args.rows:,} current rows, 20 numeric + 5 categorical features, "
          f"{rounds}, medians, each run a fresh process, {os.cpu_count()} cores\n")
    print("| run | seconds (median) | range | peak RSS MiB (max) | time / Model Monitor (reference file) |"
          + (" Evidently time / this |" if peer else ""))
    print("| --- | ---: | ---: | ---: | ---: |" + (" ---: |" if peer else ""))
    for name, values in runs.items():
        seconds = statistics.median(t for t, _ in values)
        times = [t for t, _ in values]
        print(f"| {name} | {seconds:.2f} | {min(times):.2f}-{max(times):.2f} | {max(m for _, m in values):.0f} | "
              f"{seconds / ours:.1f}x |" + (f" {peer / seconds:.0f}x |" if peer else ""))


if __name__ == "__main__":
    main()
