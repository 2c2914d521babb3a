"""Regression performance estimated without labels: Model Monitor's DLE beside NannyML 0.13's, per chunk.

    .venv-bench/bin/python -m benchmarks.dle_nannyml [--fixture tests/data/nannyml_car_price]

Runs in the benchmark environment (benchmarks/run-peers.sh creates it: NannyML needs pandas < 3), on
NannyML's own regression example, the synthetic car prices shipped in its wheel (60,000 reference rows
with their prices, 60,000 analysis rows whose prices arrive separately; prices drift in the analysis half).
Both tools fit on the reference and estimate MAE, MSE and RMSE per chunk of 6,000 rows (NannyML's
``chunk_size``), without the analysis labels; the realized values are computed with sklearn on the same rows.

Model Monitor's estimate goes through the product's own path: the baseline is built from a reference file
as ``serve`` builds it (its nanny models fitted there), and each chunk's rows are binned and estimated as
logged rows are. ``--fixture DIR`` also writes the data (Parquet) and NannyML's per-chunk estimates (JSON)
that ``tests/baseline/test_nanny.py`` compares the exporter with, where NannyML itself is not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # NannyML reports usage over the network otherwise

FEATURES = ["car_age", "km_driven", "price_new", "accident_count", "door_count", "fuel", "transmission"]
METRICS = ("mae", "mse", "rmse")
CHUNK = 6000


def load() -> tuple[pd.DataFrame, pd.DataFrame]:
    """NannyML's car-price reference, and its analysis rows joined to their prices."""
    import nannyml as nml

    reference, analysis, targets = nml.load_synthetic_car_price_dataset()
    analysis = analysis.merge(targets, on="id")
    return reference, analysis


def nannyml_estimates(reference: pd.DataFrame, analysis: pd.DataFrame) -> dict[str, list[float]]:
    import nannyml as nml

    estimator = nml.DLE(feature_column_names=FEATURES, y_pred="y_pred", y_true="y_true", metrics=list(METRICS),
                        chunk_size=CHUNK)
    estimator.fit(reference)
    data = estimator.estimate(analysis.drop(columns=["y_true"])).filter(period="analysis").to_df()
    return {metric: [float(v) for v in data[(metric, "value")]] for metric in METRICS}


def realized(analysis: pd.DataFrame) -> dict[str, list[float]]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    out: dict[str, list[float]] = {m: [] for m in METRICS}
    for start in range(0, len(analysis), CHUNK):
        chunk = analysis.iloc[start:start + CHUNK]
        mse = mean_squared_error(chunk["y_true"], chunk["y_pred"])
        out["mae"].append(float(mean_absolute_error(chunk["y_true"], chunk["y_pred"])))
        out["mse"].append(float(mse))
        out["rmse"].append(float(np.sqrt(mse)))
    return out


def car_price_baseline(reference: pd.DataFrame, folder: Path, **settings: Any) -> Any:
    """The car-price model's baseline built as ``serve`` builds it, from ``reference`` written to ``folder``."""
    from exporter.config import parse_config
    from exporter.monitor.building import baseline_of_reference

    reference.to_parquet(folder / "reference.parquet", index=False)
    config = parse_config({"models": [{
        "name": "car_price", "task": "regression", "reference": str(folder / "reference.parquet"),
        "features": {"numeric": FEATURES[:5], "categorical": FEATURES[5:]},
        "prediction_column": "y_pred", "label_column": "y_true",
        "predictions": {"path": str(folder / "logs" / "*.jsonl"), "timestamp_column": "timestamp"}, **settings}]},
        base=folder).models[0]
    return baseline_of_reference(config)


def model_monitor_estimates(reference: pd.DataFrame, analysis: pd.DataFrame, folder: Path) -> dict[str, list[float]]:
    """Per-chunk estimates through the product's path: baseline from the reference file, rows binned as logged."""
    from exporter.baseline.nanny import metrics_from_sums
    from exporter.prepare.rows import Rejections, bin_features

    baseline = car_price_baseline(reference, folder)
    nanny = baseline.spec.nanny
    assert nanny is not None, "no nanny models were fitted"
    out: dict[str, list[float]] = {m: [] for m in METRICS}
    for start in range(0, len(analysis), CHUNK):
        chunk = analysis.iloc[start:start + CHUNK]
        inputs = bin_features(chunk, baseline.reference, Rejections()).inputs(chunk["y_pred"].to_numpy(float))
        errors = nanny.estimate(inputs)
        metrics = metrics_from_sums(len(chunk), float(errors[:, 0].sum()), float(errors[:, 1].sum()))
        for metric in METRICS:
            out[metric].append(metrics[metric])
    return out


def _relative(a: list[float], b: list[float]) -> float:
    return float(np.max(np.abs(np.array(a) - np.array(b)) / np.abs(np.array(b))))


def report(ours: dict[str, list[float]], theirs: dict[str, list[float]], truth: dict[str, list[float]],
           seconds: dict[str, float]) -> str:
    import nannyml
    import sklearn

    lines = [f"NannyML {nannyml.__version__}, scikit-learn {sklearn.__version__}, pandas {pd.__version__}; "
             f"fit and estimate: Model Monitor {seconds['mm']:.1f} s, NannyML {seconds['nannyml']:.1f} s\n",
             "| chunk | metric | Model Monitor | NannyML | realized | MM vs NannyML | MM vs realized | NannyML vs "
             "realized |", "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for metric in METRICS:
        for i, (a, b, c) in enumerate(zip(ours[metric], theirs[metric], truth[metric], strict=True)):
            lines.append(f"| {i} | {metric} | {a:.6g} | {b:.6g} | {c:.6g} | {(a - b) / b:+.2%} | {(a - c) / c:+.2%} | "
                         f"{(b - c) / c:+.2%} |")
    lines.append("")
    for metric in METRICS:
        lines.append(f"- {metric}: largest relative difference to NannyML {_relative(ours[metric], theirs[metric]):.2%}"
                     f", to realized {_relative(ours[metric], truth[metric]):.2%} (NannyML to realized "
                     f"{_relative(theirs[metric], truth[metric]):.2%})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", type=Path, help="write the data and NannyML's estimates for the tests here")
    args = parser.parse_args(argv)
    reference, analysis = load()
    started = time.perf_counter()
    theirs = nannyml_estimates(reference, analysis)
    seconds = {"nannyml": time.perf_counter() - started}
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        ours = model_monitor_estimates(reference, analysis, Path(folder))
        seconds["mm"] = time.perf_counter() - started
    truth = realized(analysis)
    print(report(ours, theirs, truth, seconds))
    if args.fixture:
        import nannyml

        args.fixture.mkdir(parents=True, exist_ok=True)
        columns = [*FEATURES, "y_pred", "y_true"]
        reference[columns].to_parquet(args.fixture / "reference.parquet", compression="zstd", index=False)
        analysis[columns].to_parquet(args.fixture / "analysis.parquet", compression="zstd", index=False)
        document: dict[str, Any] = {"nannyml": nannyml.__version__, "chunk_size": CHUNK, "estimates": theirs}
        (args.fixture / "nannyml_dle.json").write_text(json.dumps(document, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
