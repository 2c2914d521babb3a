"""Model Monitor side by side with Evidently and NannyML, on the same seeded workload, in one run.

    benchmarks/run-peers.sh [--sizes 100000,1000000[,10000000]] [--repeats 2]

(The script creates .venv-bench with `pip install -e .[bench]`: Evidently 0.7 needs pandas < 3, so the
peers never enter the exporter's own environment.)

For every size the workload is a reference and a current set of that many rows each: 20 numeric and
5 categorical features (5 numeric and 1 categorical feature drift in the current set), a calibrated
score, a prediction and a label. Each measurement runs in a fresh subprocess, the tools alternating
in rotated order, and reports wall time of the work (fitting on the reference included, loading the
files not) and the peak resident memory of its process:

- data drift of every feature: Model Monitor (bin the reference, ingest the current rows into window
  summaries, compute) against Evidently's DataDriftPreset and NannyML's UnivariateDriftCalculator,
  with each method the tools share (ks, psi, js, wasserstein) and each tool's default;
- estimated performance: Model Monitor's CBPE against NannyML's CBPE, estimates beside the realized
  values computed with sklearn.

Prints a Markdown report (ratios from this run), including the agreement of drift scores where the
definitions match and why they differ where they do not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

NUMERIC = [f"num_{i}" for i in range(20)]
CATEGORICAL = [f"cat_{j}" for j in range(5)]
DRIFTED = {"num_0", "num_1", "num_2", "num_3", "num_4", "cat_0"}
METHODS = ("ks", "psi", "js", "wasserstein", "default")
CBPE_METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def generate(n: int, seed: int, drifted: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        shift = 0.25 * (1 + i) if drifted and name in DRIFTED else 0.0
        kind = i % 4
        if kind == 0:
            data[name] = rng.normal(shift, 1.0, n)
        elif kind == 1:
            data[name] = rng.lognormal(0.2 * shift, 0.6, n)
        elif kind == 2:
            data[name] = rng.gamma(2.0 + shift, 1.0, n)
        else:
            data[name] = rng.uniform(shift, 1 + shift, n)
    for j, name in enumerate(CATEGORICAL):
        k = 4 + 2 * j
        p = np.ones(k) / k
        if drifted and name in DRIFTED:
            p = np.linspace(1, 3, k)
            p /= p.sum()
        data[name] = rng.choice([f"c{v}" for v in range(k)], n, p=p)
    logit = 0.8 * data["num_0"] - 0.5 * data["num_4"] + 0.3 * (data["cat_0"] == "c1") - 0.4
    score = _sigmoid(logit)
    data["score"] = score
    data["prediction"] = (score >= 0.5).astype(int)
    data["label"] = (rng.random(n) < score).astype(int)
    return pd.DataFrame(data)


def workload_files(out: Path, n: int) -> tuple[Path, Path]:
    reference, current = out / f"reference-{n}.parquet", out / f"current-{n}.parquet"
    if not reference.exists():
        generate(n, 1, False).to_parquet(reference)
        generate(n, 2, True).to_parquet(current)
    return reference, current


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the three tools, each in its own process ---------------------------------------------------------


def mm_monitor(reference_path: Path, reference: pd.DataFrame, drift: dict[str, Any], labels: bool):
    from exporter.baseline.reference import build_reference
    from exporter.baseline.target_spec import build_targets
    from exporter.config import parse_config
    from exporter.monitor.model import ModelMonitor

    config = parse_config({"models": [{
        "name": "bench", "task": "binary_classification", "reference": str(reference_path),
        "predictions": {"path": str(reference_path.parent / "none" / "*.jsonl"), "timestamp_column": "ts"},
        "features": {"numeric": NUMERIC, "categorical": CATEGORICAL},
        "score_column": "score", "prediction_column": "prediction", "label_column": "label" if labels else None,
        "windows": ["1d"], "drift": drift, "max_recent_ids": 0,
    }]}).models[0]
    return ModelMonitor(config, build_reference(config, reference), None, build_targets(config, reference))


def run_mm(task: str, method: str, reference_path: Path, reference: pd.DataFrame,
           current: pd.DataFrame) -> dict[str, Any]:
    now = float(current["ts"].iloc[0]) + 1  # the log's timestamps are set before the clock starts
    if task == "drift":
        drift = {"method": "auto"} if method == "default" else {
            "method": method, "categorical_method": "js" if method in ("ks", "wasserstein") else method}
        monitor = mm_monitor(reference_path, reference, drift, labels=False)
        monitor.ingest(current.drop(columns=["label"]), now)
        window = monitor.compute(now)[0]
        return {f.feature: {"method": f.drift.method, "score": f.drift.score} for f in window.features}
    monitor = mm_monitor(reference_path, reference, {"method": "psi"}, labels=True)
    monitor.ingest(current, now)
    window = monitor.compute(now)[0]
    return {"estimated": window.estimated_performance, "realized": window.performance}


EVIDENTLY_METHODS = {"ks": "ks", "psi": "psi", "js": "jensenshannon", "wasserstein": "wasserstein"}


def run_evidently(task: str, method: str, reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, Any]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    columns = NUMERIC + CATEGORICAL
    if method == "default":
        preset = DataDriftPreset(columns=columns)
    elif method in ("ks", "wasserstein"):
        preset = DataDriftPreset(columns=columns, num_method=EVIDENTLY_METHODS[method], cat_method="jensenshannon")
    else:
        preset = DataDriftPreset(columns=columns, method=EVIDENTLY_METHODS[method])
    snapshot = Report([preset]).run(Dataset.from_pandas(current[columns], data_definition=definition),
                                    Dataset.from_pandas(reference[columns], data_definition=definition))
    out = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            out[config["column"]] = {"method": config.get("method"), "score": float(metric["value"])}
    return out


NANNYML_METHODS = {"ks": "kolmogorov_smirnov", "js": "jensen_shannon", "wasserstein": "wasserstein",
                   "default": "jensen_shannon"}


def run_nannyml(task: str, method: str, reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, Any]:
    import nannyml as nml

    if task == "drift":
        calculator = nml.UnivariateDriftCalculator(
            column_names=NUMERIC + CATEGORICAL, continuous_methods=[NANNYML_METHODS[method]],
            categorical_methods=["jensen_shannon"], chunk_number=1)
        calculator.fit(reference[NUMERIC + CATEGORICAL])
        frame = calculator.calculate(current[NUMERIC + CATEGORICAL]).filter(period="analysis").to_df()
        out = {}
        for column in NUMERIC + CATEGORICAL:
            name = NANNYML_METHODS[method] if column in NUMERIC else "jensen_shannon"
            out[column] = {"method": name, "score": float(frame[(column, name, "value")].iloc[0])}
        return out
    estimator = nml.CBPE(y_pred_proba="score", y_pred="prediction", y_true="label", metrics=list(CBPE_METRICS),
                         problem_type="classification_binary", chunk_number=1)
    estimator.fit(reference)
    frame = estimator.estimate(current.drop(columns=["label"])).filter(period="analysis").to_df()
    return {"estimated": {m: float(frame[(m, "value")].iloc[0]) for m in CBPE_METRICS}}


def measure(tool: str, task: str, method: str, size: int, out: Path) -> dict[str, Any]:
    reference_path, current_path = workload_files(out, size)
    reference, current = pd.read_parquet(reference_path), pd.read_parquet(current_path)
    # Imports are not part of the work: load each tool's modules before the clock starts.
    if tool == "mm":
        import scipy.stats  # noqa: F401 - imported by the peers' own modules; Model Monitor imports it lazily (ks)


        current = current.assign(ts=time.time() - 1)  # a prediction log has timestamps; the peers need none
    elif tool == "evidently":
        import evidently.presets  # noqa: F401
    else:
        import nannyml  # noqa: F401
    baseline = _rss_mib()
    start = time.perf_counter()
    if tool == "mm":
        result = run_mm(task, method, reference_path, reference, current)
    elif tool == "evidently":
        result = run_evidently(task, method, reference, current)
    else:
        result = run_nannyml(task, method, reference, current)
    seconds = time.perf_counter() - start
    return {"tool": tool, "task": task, "method": method, "size": size, "seconds": seconds,
            "peak_mib": _rss_mib(), "baseline_mib": baseline, "result": result}


# --- the driver ----------------------------------------------------------------------------------------


def _tools(task: str, method: str) -> list[str]:
    if task == "cbpe":
        return ["mm", "nannyml"]
    return ["mm", "evidently"] + ([] if method == "psi" else ["nannyml"])


def _subprocess(tool: str, task: str, method: str, size: int, out: Path) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "benchmarks.peers", "measure", tool, task, method, str(size),
                             "--out", str(out)], capture_output=True, text=True, timeout=7200)
    if result.returncode != 0:
        return {"tool": tool, "task": task, "method": method, "size": size, "error": result.stderr[-2000:]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def realized(out: Path, size: int) -> dict[str, float]:
    from sklearn import metrics

    current = pd.read_parquet(workload_files(out, size)[1])
    y, p, s = current["label"], current["prediction"], current["score"]
    return {"roc_auc": metrics.roc_auc_score(y, s), "accuracy": metrics.accuracy_score(y, p),
            "precision": metrics.precision_score(y, p), "recall": metrics.recall_score(y, p),
            "f1": metrics.f1_score(y, p)}


def report(runs: list[dict[str, Any]], sizes: list[int], out: Path) -> None:
    import evidently
    import nannyml

    print("# Model Monitor, Evidently and NannyML on the same workload\n")
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"Evidently {evidently.__version__}, NannyML {nannyml.__version__}, pandas {pd.__version__}\n")
    print("Each cell: median seconds over the repeats (peak RSS MiB of the process); ratio = peer time / "
          "Model Monitor time, measured in this run.\n")
    print("| size | task | method | Model Monitor | Evidently | NannyML | Evidently / MM | NannyML / MM |")
    print("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    by_key: dict[tuple, list[dict[str, Any]]] = {}
    for run in runs:
        by_key.setdefault((run["size"], run["task"], run["method"], run["tool"]), []).append(run)
    for size in sizes:
        for task, method in [("drift", m) for m in METHODS] + [("cbpe", "cbpe")]:
            cells, times = [], {}
            for tool in ("mm", "evidently", "nannyml"):
                got = [r for r in by_key.get((size, task, method, tool), []) if "seconds" in r]
                errors = [r for r in by_key.get((size, task, method, tool), []) if "error" in r]
                if got:
                    times[tool] = statistics.median(r["seconds"] for r in got)
                    cells.append(f"{times[tool]:.2f} ({max(r['peak_mib'] for r in got):.0f})")
                else:
                    cells.append("error" if errors else "n/a")
            ratios = [f"{times[t] / times['mm']:.1f}x" if t in times and "mm" in times else "n/a"
                      for t in ("evidently", "nannyml")]
            print(f"| {size:,} | {task} | {method} | {' | '.join(cells)} | {' | '.join(ratios)} |")
    smallest = sizes[0]
    print(f"\n## Agreement of drift scores ({smallest:,} rows; numeric features, mean |difference| and max)\n")
    print("| method | peer | mean abs diff | max abs diff | note |\n| --- | --- | ---: | ---: | --- |")
    notes = {
        ("ks", "evidently"): "Evidently reports the KS p-value, not D: not comparable",
        ("ks", "nannyml"): "both D; NannyML bins on 10,000 equal-width reference bins above 10k rows",
        ("psi", "evidently"): "Evidently: Sturges bins on reference+current; ours: reference deciles + out-of-range",
        ("js", "evidently"): "Evidently: Sturges bins on reference+current, ln; ours: deciles + out-of-range, ln",
        ("js", "nannyml"): "NannyML: Doane bins on the reference, log base 2; ours: deciles, ln",
        ("wasserstein", "evidently"): "same definition (EMD / reference std): must agree within 1%",
        ("wasserstein", "nannyml"): "NannyML reports the raw EMD; shown divided by the reference std",
        ("default", "evidently"): "both pick wasserstein (numeric) above 1,000 rows",
        ("default", "nannyml"): "NannyML defaults to Jensen-Shannon; ours to wasserstein: not comparable",
    }
    reference = pd.read_parquet(workload_files(out, smallest)[0])
    for method in METHODS:
        mm = by_key.get((smallest, "drift", method, "mm"))
        for peer in ("evidently", "nannyml"):
            other = by_key.get((smallest, "drift", method, peer))
            if not mm or not other or "result" not in mm[0] or "result" not in other[0]:
                continue
            diffs = []
            for feature in NUMERIC:
                ours, theirs = mm[0]["result"][feature]["score"], other[0]["result"][feature]["score"]
                if method == "wasserstein" and peer == "nannyml":
                    theirs /= float(np.std(reference[feature]))
                diffs.append(abs(ours - theirs))
            note = notes.get((method, peer), "")
            print(f"| {method} | {peer} | {np.mean(diffs):.4f} | {np.max(diffs):.4f} | {note} |")
    print("\nPer-feature scores (first 6 numeric features, the first 5 drifted):\n")
    print("| method | feature | Model Monitor | Evidently | NannyML |\n| --- | --- | ---: | ---: | ---: |")
    for method in ("ks", "psi", "js", "wasserstein"):
        for feature in NUMERIC[:6]:
            row = []
            for tool in ("mm", "evidently", "nannyml"):
                got = by_key.get((smallest, "drift", method, tool))
                row.append(f"{got[0]['result'][feature]['score']:.4g}" if got and "result" in got[0] else "n/a")
            print(f"| {method} | {feature} | {' | '.join(row)} |")
    print("\n## CBPE: estimated against realized performance\n")
    print("| size | metric | realized (sklearn) | Model Monitor estimate | NannyML estimate |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for size in sizes:
        truth = realized(out, size)
        mm = by_key.get((size, "cbpe", "cbpe", "mm"))
        nml = by_key.get((size, "cbpe", "cbpe", "nannyml"))
        for metric in CBPE_METRICS:
            ours = mm[0]["result"]["estimated"].get(metric) if mm and "result" in mm[0] else None
            theirs = nml[0]["result"]["estimated"].get(metric) if nml and "result" in nml[0] else None
            cells = [f"{v:.4f}" if v is not None else "n/a" for v in (truth[metric], ours, theirs)]
            print(f"| {size:,} | {metric} | {' | '.join(cells)} |")
    errors = [r for r in runs if "error" in r]
    for run in errors:
        print(f"\nerror in {run['tool']} {run['task']} {run['method']} {run['size']}: "
              f"{run['error'].strip().splitlines()[-1] if run['error'].strip() else 'unknown'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    one = sub.add_parser("measure")
    one.add_argument("tool", choices=["mm", "evidently", "nannyml"])
    one.add_argument("task", choices=["drift", "cbpe"])
    one.add_argument("method")
    one.add_argument("size", type=int)
    one.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/peers"))
    args = parser.parse_args()
    if args.command == "measure":
        print(json.dumps(measure(args.tool, args.task, args.method, args.size, args.out)))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = []
    rotation = 0
    for size in sizes:
        workload_files(args.out, size)
        for repeat in range(args.repeats):
            for task, method in [("drift", m) for m in METHODS] + [("cbpe", "cbpe")]:
                tools = _tools(task, method)
                rotation += 1
                order = tools[rotation % len(tools):] + tools[: rotation % len(tools)]
                for tool in order:
                    run = _subprocess(tool, task, method, size, args.out.resolve())
                    runs.append(run)
                    status = f"{run['seconds']:.2f}s" if "seconds" in run else "error"
                    print(f"[{size} r{repeat}] {tool} {task} {method}: {status}", file=sys.stderr, flush=True)
    report(runs, sizes, args.out)


if __name__ == "__main__":
    main()
