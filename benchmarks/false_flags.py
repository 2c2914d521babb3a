"""How often drift is flagged on stable data, and how often real shifts are found, per window size.

    python -m benchmarks.false_flags [--nannyml DIR] [--river DIR] [--windows 200]

Compares release 2's fixed thresholds (the defaults of ``drift.method: auto`` on a large
reference: wasserstein 0.1, js 0.1) with the calibrated thresholds (``drift.alpha`` 0.005 and the
minimum effects), on the production code path: the reference is binned by ``build_reference``,
each window's values are binned against it, scored by ``exporter.baseline.drift`` and judged as the drift
component judges them.

Data sets, each split into a reference and a stable "production" stream from the same population:

- ``generated``: 6 numeric features (normal, lognormal, exponential, Poisson counts, a bimodal
  mixture, uniform integers) and 3 categorical ones, drawn fresh for each side.
- ``employment``: NannyML's US-census employment records (``employment_MA_reference.pq``, shipped
  in the nannyml wheel): its first half is the reference, its second half production. And the whole
  2015 file as the reference against the analysis file's 2016 rows, then its 2017-2018 rows, each in
  the order the file logs them (windows are always consecutive rows, never shuffled draws). The 2015
  and 2016 rows list group-quarters residents among the households (7.5% of any stretch); the
  2017-2018 rows list every household first, then every group-quarters resident in one block (rows
  with RELP 16 or 17: 0% of a window for most of that stretch, 100% in the block): windows of those
  years are not samples of the reference's population, and drift there is a real change of what
  the model sees, not a false flag.
- ``car_loan``: NannyML's synthetic car loans: the reference file, and the first half of the
  analysis file (its documented drift-free stretch) as production.
- ``agrawal``: river's Agrawal generator (seeded differently for each side).

The checks of the model's world (multivariate drift, label drift, prediction drift with the confidence, the
concept-drift gap, estimated performance) are counted through the monitor's own components, each window
prepared and evaluated as an update does, on models whose outputs and labels stay as the reference's: the
generated features with a calibrated score and its label (binary) or a prediction and a target
(regression), and NannyML's car loans, employment records and car prices over their stable stretches.

``--nannyml`` names a folder holding nannyml's ``datasets/data`` files and ``--river`` a folder where
river is importable (``pip download nannyml==0.13.1 river`` and unzip / ``pip install --target``);
a data set whose files are missing is skipped. Detection uses the generated data: a numeric feature
shifted to a KS distance of 0.2 and a categorical one to a JS distance of 0.16, at every window size.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from exporter.baseline import drift
from exporter.baseline.features import CategoricalFeature, NumericFeature, feature_codes
from exporter.baseline.reference import Reference, build_reference
from exporter.config import DEFAULT_THRESHOLDS, parse_config
from exporter.stats.binning import bin_index
from exporter.values.numbers import numeric_values

SIZES = (100, 300, 1000, 3000)


def _generated(rng: np.random.Generator, n: int) -> pd.DataFrame:
    bimodal = np.where(rng.random(n) < 0.3, rng.normal(-2, 0.5, n), rng.normal(1, 1, n))
    return pd.DataFrame({
        "normal": rng.normal(50, 10, n), "lognormal": rng.lognormal(3, 0.8, n), "exponential": rng.exponential(2, n),
        "visits": rng.poisson(3, n).astype(float), "bimodal": bimodal, "rating": rng.integers(1, 11, n).astype(float),
        "country": rng.choice(["US", "DE", "FR", "IT", "ES"], n, p=[0.4, 0.25, 0.15, 0.12, 0.08]),
        "device": rng.choice(["mobile", "desktop", "tablet"], n, p=[0.6, 0.3, 0.1]),
        "plan": rng.choice([f"p{i}" for i in range(20)], n, p=np.arange(20, 0, -1) / 210),
    })


def datasets(nannyml: Path | None, river: Path | None) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    rng = np.random.default_rng(0)
    out = {"generated": (_generated(rng, 50_000), _generated(rng, 600_000))}
    if nannyml is not None:
        data = nannyml / "nannyml" / "datasets" / "data"
        employment = data / "employment_MA_reference.pq"
        if employment.is_file():
            frame = pd.read_parquet(employment).drop(columns=["id", "partition", "timestamp", "y_pred_proba", "y_pred",
                                                              "y_true"], errors="ignore")
            half = len(frame) // 2
            out["employment"] = (frame.iloc[:half].reset_index(drop=True), frame.iloc[half:].reset_index(drop=True))
            analysis = data / "employment_MA_analysis.pq"
            if analysis.is_file():  # the 2015 file against the later years, each replayed as it is logged
                rows = pd.read_parquet(analysis)
                # The model's inputs: not its outputs, the label or the year (a constant of each file).
                outputs = {"year", "prediction", "predicted_probability", "employed"}
                columns = [c for c in frame.columns if c in rows.columns and c not in outputs]
                out["employment 2015 -> 2016 as logged"] = (
                    frame[columns], rows[rows["year"] == 2016][columns].reset_index(drop=True))
                out["employment 2015 -> 2017-18 as logged"] = (
                    frame[columns], rows[rows["year"] > 2016][columns].reset_index(drop=True))
        loans = data / "synthetic_car_loan_reference.csv"
        if loans.is_file():
            drop = ["id", "timestamp", "y_pred_proba", "y_pred", "repaid", "period"]
            reference = pd.read_csv(loans).drop(columns=drop, errors="ignore")
            analysis = pd.read_csv(data / "synthetic_car_loan_analysis.csv").drop(columns=drop, errors="ignore")
            out["car_loan"] = (reference, analysis.iloc[: len(analysis) // 2].reset_index(drop=True))
    if river is not None:
        sys.path.insert(0, str(river))
        try:
            from river.datasets import synth

            def agrawal(seed: int, n: int) -> pd.DataFrame:
                frame = pd.DataFrame([x for x, _ in synth.Agrawal(seed=seed).take(n)])
                for column in ("elevel", "car", "zipcode"):
                    frame[column] = frame[column].astype(str)  # codes, not quantities
                return frame

            out["agrawal"] = (agrawal(1, 50_000), agrawal(2, 300_000))
        except ImportError:
            pass
    return out


def _config(frame: pd.DataFrame, fixed: bool):
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and not
               pd.api.types.is_bool_dtype(frame[c])]
    categorical = [c for c in frame.columns if c not in numeric]
    drift_config = {"method": "auto"}
    if fixed:  # release 2: auto on a large reference meant wasserstein 0.1 and js 0.1, fixed
        drift_config = {"method": "wasserstein", "threshold": DEFAULT_THRESHOLDS["wasserstein"],
                        "categorical_method": "js", "categorical_threshold": DEFAULT_THRESHOLDS["js"]}
    return parse_config({"models": [{
        "name": "bench", "task": "regression", "reference": __file__,
        "predictions": {"path": "unused"}, "prediction_column": "__prediction",
        "features": {"numeric": numeric, "categorical": categorical}, "drift": drift_config}]}).models[0]


def _judges(reference: Reference) -> list[tuple[str, Callable[[pd.DataFrame], bool | None]]]:
    """For each feature: a function telling whether a window of rows drifted (None: too few values)."""

    def numeric(feature: NumericFeature) -> Callable[[pd.DataFrame], bool | None]:
        def judge(window: pd.DataFrame) -> bool | None:
            values, missing, invalid = numeric_values(window[feature.name])
            values = values[~missing & ~invalid]
            if values.size < 30:
                return None
            index = bin_index(feature.edges, values)
            counts = np.bincount(index, minlength=feature.n_bins)
            sums = np.bincount(index, weights=values, minlength=feature.n_bins)
            return _verdict(feature, drift.numeric_score(feature, counts, sums), values.size, counts)
        return judge

    def categorical(feature: CategoricalFeature) -> Callable[[pd.DataFrame], bool | None]:
        def judge(window: pd.DataFrame) -> bool | None:
            codes = feature_codes(window[feature.name], feature)
            codes = codes[codes >= 0]
            if codes.size < 30:
                return None
            counts = np.bincount(codes, minlength=feature.n_bins)
            return _verdict(feature, drift.categorical_score(feature, counts), codes.size, counts)
        return judge

    return [(f.name, numeric(f)) for f in reference.numeric if f.usable] + \
        [(c.name, categorical(c)) for c in reference.categorical if c.usable]


def _verdict(feature: NumericFeature | CategoricalFeature, score: float, n: int, counts: np.ndarray) -> bool:
    return drift.judge(feature, score, n, counts)[1]


def false_flags(reference: pd.DataFrame, production: pd.DataFrame, fixed: bool, windows: int) -> dict[int, tuple]:
    judges = _judges(build_reference(_config(reference, fixed), reference.assign(__prediction=0.0)))
    out = {}
    for n in SIZES:
        flagged = judged = dataset = 0
        count = min(windows, len(production) // n)
        for k in range(count):
            window = production.iloc[k * n:(k + 1) * n]
            verdicts = [v for _, judge in judges if (v := judge(window)) is not None]
            flagged += sum(verdicts)
            judged += len(verdicts)
            dataset += bool(verdicts) and sum(verdicts) / len(verdicts) >= 0.5
        out[n] = (flagged / max(judged, 1), dataset, count)
    return out


def detection(windows: int) -> dict[tuple[str, int], tuple[float, float]]:
    """Share of windows flagged per size: a normal feature shifted to KS 0.2, a categorical one to JS 0.15."""
    rng = np.random.default_rng(1)
    reference = _generated(rng, 50_000)
    weights = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
    shifted = 0.6 * weights + 0.4 * np.array([0.05, 0.1, 0.2, 0.3, 0.35])
    out = {}
    for name, fixed in (("fixed (release 2)", True), ("calibrated", False)):
        judges = dict(_judges(build_reference(_config(reference, fixed), reference.assign(__prediction=0.0))))
        for n in SIZES:
            found_num = found_cat = 0
            for _ in range(windows):
                window = _generated(rng, n)
                window["normal"] = window["normal"] + 0.51 * 10  # KS(N(0,1), N(0.51,1)) = 0.2
                window["country"] = rng.choice(["US", "DE", "FR", "IT", "ES"], n, p=shifted)
                found_num += bool(judges["normal"](window))
                found_cat += bool(judges["country"](window))
            out[(name, n)] = (found_num / windows, found_cat / windows)
    return out


#: The checks of the model's world counted on stable data (each a verdict the components record every window).
WORLD_CHECKS = ("multivariate_drift", "label_drift", "prediction_drift", "concept_drift", "estimated_performance")


def world_datasets(nannyml: Path | None) -> dict[str, tuple[dict, pd.DataFrame, pd.DataFrame]]:
    """Stable data with the model's outputs and labels: (model settings, reference, production)."""
    out: dict[str, tuple[dict, pd.DataFrame, pd.DataFrame]] = {}
    rng = np.random.default_rng(5)
    for task in ("binary", "regression"):
        reference, production = _generated_model(rng, 50_000, task), _generated_model(rng, 600_000, task)
        settings = {"task": "binary_classification", "score_column": "score", "prediction_column": "prediction",
                    "label_column": "label"} if task == "binary" else {
                        "task": "regression", "prediction_column": "prediction", "label_column": "label"}
        out[f"generated ({task})"] = (settings, reference, production)
    if nannyml is None:
        return out
    data = nannyml / "nannyml" / "datasets" / "data"
    loans = data / "synthetic_car_loan_reference.csv"
    if loans.is_file():
        drop = ["id", "timestamp", "period"]
        reference = pd.read_csv(loans).drop(columns=drop, errors="ignore")
        analysis = pd.read_csv(data / "synthetic_car_loan_analysis.csv").drop(columns=drop, errors="ignore")
        targets = pd.read_csv(data / "synthetic_car_loan_analysis_target.csv")
        analysis = analysis.assign(repaid=targets["repaid"].to_numpy()) if "repaid" not in analysis else analysis
        out["car_loan (binary)"] = ({"task": "binary_classification", "score_column": "y_pred_proba",
                                     "prediction_column": "y_pred", "label_column": "repaid"},
                                    reference, analysis.iloc[: len(analysis) // 2].reset_index(drop=True))
    employment = data / "employment_MA_reference.pq"
    if employment.is_file():
        frame = pd.read_parquet(employment).drop(columns=["id", "partition", "timestamp", "year"], errors="ignore")
        half = len(frame) // 2
        first, second = frame.iloc[:half].reset_index(drop=True), frame.iloc[half:].reset_index(drop=True)
        out["employment (binary)"] = ({"task": "binary_classification", "score_column": "predicted_probability",
                                       "prediction_column": "prediction", "label_column": "employed"}, first, second)
    prices = data / "regression_synthetic_reference.csv"
    if prices.is_file():
        reference = pd.read_csv(prices).drop(columns=["id", "timestamp"])
        analysis = pd.read_csv(data / "regression_synthetic_analysis.csv")
        analysis = analysis.merge(pd.read_csv(data / "regression_synthetic_analysis_targets.csv"), on="id")
        stable = analysis.iloc[: len(analysis) // 2].drop(columns=["id", "timestamp"]).reset_index(drop=True)
        out["car_price (regression)"] = ({"task": "regression", "prediction_column": "y_pred",
                                          "label_column": "y_true"}, reference, stable)
    return out


def _generated_model(rng: np.random.Generator, n: int, task: str) -> pd.DataFrame:
    """The generated features with a model's output and a label drawn as the output says: a calibrated score
    and its label (binary), or a prediction and a target whose noise grows with one feature (regression)."""
    frame = _generated(rng, n)
    signal = (frame["normal"] - 50) / 10 + np.log(frame["lognormal"]) - 3 + 0.2 * (frame["device"] == "mobile")
    if task == "binary":
        frame["score"] = 1 / (1 + np.exp(-signal))
        frame["prediction"] = (frame["score"] >= 0.5).astype(int)
        frame["label"] = (rng.random(n) < frame["score"]).astype(int)
    else:
        frame["prediction"] = 100 + 10 * signal
        frame["label"] = frame["prediction"] + rng.normal(0, 1 + frame["exponential"], n)
    return frame


def world_flags(settings: dict, reference: pd.DataFrame, production: pd.DataFrame,
                windows: int) -> dict[int, dict[str, tuple[int, int]]]:
    """Per window size and check of :data:`WORLD_CHECKS`: (failed verdicts, verdicts), on consecutive windows of
    ``production``, through the monitor's own components (baseline built as ``serve`` builds it)."""
    import tempfile

    from exporter.components import PerformanceBaseline, build_components, evaluate_window, namespaced
    from exporter.monitor.building import baseline_of_reference
    from exporter.prepare.preparer import Preparer
    from exporter.summary.sketch import ONE_GROUP

    with tempfile.TemporaryDirectory() as folder:
        reference.to_parquet(Path(folder) / "reference.parquet", index=False)
        config = parse_config({"models": [{"name": "bench", "reference": str(Path(folder) / "reference.parquet"),
                                           "predictions": {"path": "unused", "timestamp_column": "ts"},
                                           **settings}]}).models[0]
        base = baseline_of_reference(config)
    baseline = PerformanceBaseline(config.performance_tolerance, base.performance, base.performance_noise)
    components = build_components(config, base.reference, base.spec, baseline)
    preparer = Preparer(config, base.reference, base.spec, base.segments, 1e12)
    out: dict[int, dict[str, tuple[int, int]]] = {}
    for n in SIZES:
        counts = {check: [0, 0] for check in WORLD_CHECKS}
        for k in range(min(windows, len(production) // n)):
            window = production.iloc[k * n:(k + 1) * n].assign(ts=1.7e9)
            batch, _ = preparer.prepare(window, 1.7e9 + 1)
            merged: dict[str, np.ndarray] = {}
            for component in components:
                merged.update({key: value[0] for key, value in namespaced(component, {
                    **component.summarize(batch, ONE_GROUP), **component.summarize_labels(batch, ONE_GROUP)}).items()})
            result = evaluate_window(components, "w", "", merged, config.min_window_rows)
            for verdict in result.verdicts:
                if verdict.check in counts:
                    counts[verdict.check][0] += verdict.failed
                    counts[verdict.check][1] += 1
            # Only failures of the estimated-performance check are recorded: every estimated metric was judged.
            counts["estimated_performance"][1] += len(result.estimated_performance_limits) - sum(
                v.check == "estimated_performance" for v in result.verdicts)
        out[n] = {check: (failed, total) for check, (failed, total) in counts.items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nannyml", type=Path, help="folder holding nannyml/datasets/data (unzipped wheel)")
    parser.add_argument("--river", type=Path, help="folder where river is importable")
    parser.add_argument("--windows", type=int, default=200, help="windows per size")
    args = parser.parse_args()
    from exporter.stats.methods.jensen_shannon import jensen_shannon

    weights = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
    shifted = 0.6 * weights + 0.4 * np.array([0.05, 0.1, 0.2, 0.3, 0.35])
    print(f"categorical shift: JS distance {jensen_shannon(weights * 1e6, shifted * 1e6):.3f}")
    print("| data set | thresholds | " + " | ".join(f"{n} rows" for n in SIZES) + " |")
    print("| --- | --- | " + " | ".join("---:" for _ in SIZES) + " |")
    for name, (reference, production) in datasets(args.nannyml, args.river).items():
        for label, fixed in (("fixed (release 2)", True), ("calibrated", False)):
            rates = false_flags(reference, production, fixed, args.windows)
            cells = [f"{100 * rate:.2f}% ({dataset} of {count})" for rate, dataset, count in rates.values()]
            print(f"| {name} ({reference.shape[1]} features) | {label} | " + " | ".join(cells) + " |", flush=True)
    print()
    world = world_datasets(args.nannyml)
    if world:
        print("The model's world on stable data: failed verdicts of all judged, per check (consecutive windows)\n")
        print("| data set | check | " + " | ".join(f"{n} rows" for n in SIZES) + " |")
        print("| --- | --- | " + " | ".join("---:" for _ in SIZES) + " |")
        for name, (settings, reference, production) in world.items():
            flags = world_flags(settings, reference, production, args.windows)
            for check in WORLD_CHECKS:
                cells = [flags[n][check] for n in SIZES]
                if any(total for _, total in cells):
                    texts = [f"{100 * failed / total:.2f}% ({failed} of {total})" if total else "-"
                             for failed, total in cells]
                    print(f"| {name} | {check} | " + " | ".join(texts) + " |", flush=True)
        print()
    print("| thresholds | window rows | KS 0.2 shift found | JS 0.16 shift found |")
    print("| --- | ---: | ---: | ---: |")
    for (label, n), (numeric, categorical) in detection(args.windows).items():
        print(f"| {label} | {n} | {100 * numeric:.1f}% | {100 * categorical:.1f}% |")


if __name__ == "__main__":
    main()
