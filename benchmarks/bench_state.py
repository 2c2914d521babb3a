"""What persisting a model's state costs per update: a whole state file, or a journal record of what changed.

    python -m benchmarks.bench_state [--updates 60] [--rows 2000]

A 50-feature model (40 numeric, 10 categorical) with windows 5m, 1h and 24h is fed ``--rows`` rows per
update, one second apart (a live tail: each update touches the current bucket of each window). Each
update's state is written twice, side by side in the same run: as a whole file (what every update
wrote before the journal) and through the journal (exporter.state.store.StateStore). Prints the median bytes
and milliseconds per write; run on demand.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.bench_exporter import monitor_for, workload
from exporter.state import store as state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=60)
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-state-"))
    rng = np.random.default_rng(3)
    (folder / "logs").mkdir()
    monitor = monitor_for(folder, "state", str(folder / "logs" / "*.parquet"), 40, 10, rng)
    whole, journal = state.StateStore(folder / "whole.npz"), state.StateStore(folder / "journal.npz")
    written: dict[str, list[float]] = {"whole": [], "journal": []}
    took: dict[str, list[float]] = {"whole": [], "journal": []}
    now = time.time()
    for step in range(args.updates):
        at = now + step
        frame = workload(rng, args.rows, 40, 10, at, first_id=step * args.rows)
        monitor.ingest(frame, at)
        parts = {name: unit.state() for name, unit in monitor._stateful().items()}
        parts["rings"] = ({}, monitor.store.state())
        dirty = {f"rings/{name}": slots for name, slots in monitor.store.dirty().items()}
        for name, store in (("whole", whole), ("journal", journal)):
            if name == "whole":
                store.reset()  # every write a whole file, as before the journal
            started = time.perf_counter()
            store.save({"fingerprint": "bench"}, parts, dirty if name == "journal" else None)
            took[name].append(time.perf_counter() - started)
            written[name].append(store.last_write_bytes)
        monitor.store.saved()
    print(f"{args.updates} updates of {args.rows:,} rows, 50 features, windows 5m/1h/24h\n")
    print("| write | median bytes per update | median ms per update | total MB written |")
    print("| --- | ---: | ---: | ---: |")
    for name in ("whole", "journal"):
        print(f"| {name} | {statistics.median(written[name]):,.0f} | {statistics.median(took[name]) * 1000:.1f} | "
              f"{sum(written[name]) / 1e6:.1f} |")


if __name__ == "__main__":
    main()
