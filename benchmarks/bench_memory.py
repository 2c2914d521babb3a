"""Resident memory of a serving exporter: one 50-feature model while 10 M rows stream through, and 20 models.

    python -m benchmarks.bench_memory [--rows 10000000] [--models 20]

Each measurement runs in a fresh process (this one spawns them), so it sees only what serving costs:
the imports, the models built from their references, then updates that read Parquet files (100,000
rows each) as `serve` does, each followed by serve's trim of freed memory. Prints RSS after each
stage and the process's peak (an update's working memory on top of what it keeps),
and what the window rings themselves hold, so the rest (libraries, the heap the allocator keeps) is
visible. Run on demand.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.proc import status_mib

CHUNK = 100_000
#: Distinct files written beforehand (by another process) and copied in turn: the measured process
#: holds no generated data of its own.
FILES = 10


def make(folder: Path, start: float) -> None:
    """Write the FILES Parquet files of CHUNK rows, stamped ``start + k`` seconds, ids distinct across files."""
    import numpy as np

    from benchmarks.bench_exporter import workload

    rng = np.random.default_rng(7)
    for k in range(FILES):
        workload(rng, CHUNK, 40, 10, start + k, first_id=k * CHUNK).to_parquet(folder / f"{k}.parquet")


def run(models: int, rows: int, source: Path, start: float) -> None:
    """In a fresh process: build ``models`` models and stream ``rows`` rows through each; print RSS stages."""
    stages = {"start": status_mib()}
    import numpy as np

    # What serve imports: the command line, then the server.
    import exporter.cli
    import exporter.commands.serve  # noqa: F401
    from benchmarks.bench_exporter import monitor_for
    from exporter.memory import lean_allocators, release_free_memory

    lean_allocators()  # as serve does

    stages["imports"] = status_mib()
    folder = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    rng = np.random.default_rng(5)
    monitors = []
    for k in range(models):
        (folder / f"logs{k}").mkdir()
        monitor = monitor_for(folder, f"m{k}", str(folder / f"logs{k}" / "*.parquet"), 40, 10, rng)
        monitors.append(monitor)
    stages["built"] = status_mib()
    samples = []
    for done in range(0, rows, CHUNK):
        step = done // CHUNK
        at = start + FILES + step  # every file stays inside the 1h and 24h windows
        for k, monitor in enumerate(monitors):
            path = folder / f"logs{k}" / f"{step}.parquet"
            shutil.copyfile(source / f"{step % FILES}.parquet", path)
            monitor.update(now=at, persist=False)
            release_free_memory()  # as serve does after each update
            path.unlink()
        if (done // CHUNK) % max(1, rows // CHUNK // 10) == 0:
            samples.append((done + CHUNK, status_mib()))
    stages["streamed"] = status_mib()
    stages["peak during updates (VmHWM)"] = status_mib("VmHWM")
    rings = sum(a.nbytes for m in monitors for rs in m.store.rings.values() for r in rs.values()
                for a in r.data.values()) / 2**20
    print(json.dumps({"stages": stages, "samples": samples, "rings_mib": rings}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--make", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run(int(args.one[0]), int(args.one[1]), Path(args.one[2]), float(args.one[3]))
        return
    if args.make:
        make(Path(args.make[0]), float(args.make[1]))
        return
    source = Path(tempfile.mkdtemp(prefix="bench-memory-files-"))
    start = time.time() - 600
    me = [sys.executable, "-m", "benchmarks.bench_memory"]
    subprocess.run([*me, "--make", str(source), str(start)], check=True)
    for models, rows in ((1, args.rows), (args.models, FILES * CHUNK)):
        done = subprocess.run([*me, "--one", str(models), str(rows), str(source), str(start)],
                              capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        stages = result["stages"]
        print(f"\n{models} model(s) of 50 features x 3 windows, {rows:,} rows each\n")
        print("| stage | RSS MiB |\n| --- | ---: |")
        for stage, value in stages.items():
            print(f"| {stage} | {value:.0f} |")
        print(f"| (of which window rings) | {result['rings_mib']:.0f} |")
        if models == 1:
            print("\n| rows streamed | RSS MiB |\n| ---: | ---: |")
            for streamed, value in result["samples"]:
                print(f"| {streamed:,} | {value:.0f} |")


if __name__ == "__main__":
    main()
