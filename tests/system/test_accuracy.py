"""Right numbers on ordinary data, through the public path: real files in every format, a real
config, ``model-monitor check``, compared with scipy and sklearn on the very same rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sklearn import metrics as skm

from exporter.cli import main
from tests.helpers import write_config

NOW = 1_800_000_000.0
FORMATS = ("csv", "jsonl", "parquet")


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> Path:
    """``frame`` as a file: None is an empty CSV cell, null in JSON and Parquet."""
    path = path.with_suffix(f".{fmt}")
    path.parent.mkdir(parents=True, exist_ok=True)
    records = [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
               for row in frame.to_dict("records")]
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r, default=lambda v: v.item()) + "\n" for r in records))
    elif fmt == "csv":
        frame.to_csv(path, index=False, na_rep="")
    else:  # Parquet columns have one type: a column mixing types is written as text, as an upstream would
        columns = {}
        for name in frame.columns:
            values = [r[name] for r in records]
            kinds = {type(v) for v in values if v is not None}
            if len(kinds) > 1:
                values = [None if v is None else str(v).lower() if isinstance(v, bool | np.bool_) else str(v)
                          for v in values]
            columns[name] = values
        pq.write_table(pa.table(columns), path)
    return path


def check(tmp: Path, reference: pd.DataFrame, current: pd.DataFrame, fmt: str, capsys: pytest.CaptureFixture[str],
          reference_fmt: str | None = None, **model: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Run ``model-monitor check`` on ``current`` logged at NOW - 10 and return its samples by name and labels."""
    reference_path = _write(reference, tmp / "reference", reference_fmt or fmt)
    current = current.copy()
    if "ts" not in current.columns:
        current.insert(0, "ts", NOW - 10)
    _write(current, tmp / "logs" / "log", fmt)
    config = {"models": [{"name": "m", "task": "binary_classification", "reference": reference_path.name,
                          "predictions": {"path": f"logs/*.{fmt}", "timestamp_column": "ts"},
                          "windows": ["5m"], "min_window_rows": 10, **model}]}
    path = write_config(tmp / "monitor.yaml", config)
    capsys.readouterr()
    assert main(["--log-level", "ERROR", "check", "--config", str(path), "--now", str(NOW)]) == 0
    samples = json.loads(capsys.readouterr().out)["metrics"]
    return {(s["name"], tuple(sorted((k, v) for k, v in s["labels"].items() if k != "model"))): s["value"]
            for s in samples}


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


# --- categorical values: rare reference values are not new ------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_a_value_is_new_only_if_the_reference_never_had_it(tmp_path: Path, fmt: str, capsys) -> None:
    rng = np.random.default_rng(1)
    universe = np.array([f"v{i}" for i in range(5000)])
    weights = 1 / np.arange(1, 5001) ** 0.8
    weights /= weights.sum()
    codes = np.concatenate([universe[:4000], rng.choice(universe, 16000, p=weights)])  # 4,000+ values, most rare
    reference = pd.DataFrame({"code": codes, "x": rng.normal(0, 1, 20000)})
    current_codes = rng.choice(universe, 3000, p=weights)
    current_codes[rng.random(3000) < 0.01] = "brand-new"
    current = pd.DataFrame({"code": current_codes, "x": rng.normal(0, 1, 3000)})
    samples = check(tmp_path, reference, current, fmt, capsys,
                    features={"numeric": ["x"], "categorical": ["code"]}, drift={"method": "ks"})
    truly_new = float((~current["code"].isin(set(reference["code"]))).mean())
    assert value(samples, "model_feature_new_category_ratio", window="5m", feature="code") == truly_new
    assert 0.01 < truly_new < 0.05  # brand-new, and the universe's tail the reference never had


# --- discrete numeric features ----------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_discrete_features_drift_exactly_as_scipy_says(tmp_path: Path, fmt: str, capsys) -> None:
    rng = np.random.default_rng(2)
    reference = pd.DataFrame({"flag": (rng.random(2000) < 0.3).astype(int), "stars": rng.choice([1, 2, 3, 4, 5], 2000),
                              "n": rng.integers(0, 90, 2000)})
    stars = rng.choice([1, 2, 3, 4, 5], 1000)
    current = pd.DataFrame({"flag": (rng.random(1000) < 0.5).astype(int), "stars": np.where(stars == 4, 5, stars),
                            "n": rng.integers(20, 110, 1000)})
    samples = check(tmp_path, reference, current, fmt, capsys, drift={"method": "ks"})
    for feature in ("flag", "stars", "n"):
        exact = stats.ks_2samp(reference[feature], current[feature]).statistic
        got = value(samples, "model_feature_drift_score", window="5m", feature=feature, method="ks")
        assert got == pytest.approx(exact, abs=1e-12), feature
    samples = check(tmp_path, reference, current, fmt, capsys, drift={"method": "js"})
    for feature in ("flag", "stars"):  # at most 10 values: a bin per value for JS too
        values = sorted(set(reference[feature]) | set(current[feature]))
        p = reference[feature].value_counts().reindex(values, fill_value=0)
        q = current[feature].value_counts().reindex(values, fill_value=0)
        got = value(samples, "model_feature_drift_score", window="5m", feature=feature, method="js")
        assert got == pytest.approx(float(jensenshannon(p, q)), abs=1e-12), feature


def test_ks_is_at_most_one_when_every_value_is_out_of_range(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 3000)})
    current = pd.DataFrame({"x": rng.normal(100, 1, 500)})
    samples = check(tmp_path, reference, current, "jsonl", capsys, drift={"method": "ks"})
    assert value(samples, "model_feature_drift_score", window="5m", feature="x", method="ks") == 1.0


# --- empty cells and codes -------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_an_empty_cell_is_missing_in_every_reader_and_type(tmp_path: Path, fmt: str, capsys) -> None:
    rng = np.random.default_rng(4)
    n = 400
    reference = pd.DataFrame({"country": rng.choice(["US", "DE", "FR"], 2000), "age": rng.normal(40, 10, 2000)})
    country = rng.choice(["US", "DE", "FR"], n).astype(object)
    country[:40] = "" if fmt != "csv" else None  # an empty string in JSON and Parquet, an empty cell in CSV
    age = rng.normal(40, 10, n).astype(object)
    age[40:70] = "" if fmt != "csv" else None
    age[70] = "abc"  # one unparseable value makes the CSV column text: its empty cells stay missing
    current = pd.DataFrame({"country": country, "age": age})
    samples = check(tmp_path, reference, current, fmt, capsys, features={"numeric": ["age"],
                                                                         "categorical": ["country"]})
    assert value(samples, "model_feature_missing_ratio", window="5m", feature="country") == 40 / n
    assert value(samples, "model_feature_new_category_ratio", window="5m", feature="country") == 0.0
    assert value(samples, "model_feature_missing_ratio", window="5m", feature="age") == 30 / n
    assert value(samples, "model_feature_type_violation_ratio", window="5m", feature="age") == 1 / n


@pytest.mark.parametrize(("reference_fmt", "fmt"), [("csv", "jsonl"), ("csv", "csv"), ("jsonl", "csv"),
                                                     ("parquet", "csv")])
def test_codes_are_text_on_both_sides(tmp_path: Path, reference_fmt: str, fmt: str, capsys) -> None:
    rng = np.random.default_rng(5)
    codes = ["01234", "00501", "10001", "02139"]
    reference = pd.DataFrame({"zip": rng.choice(codes, 1000), "x": rng.normal(0, 1, 1000)})
    current = pd.DataFrame({"zip": rng.choice(codes, 200), "x": rng.normal(0, 1, 200)})
    samples = check(tmp_path, reference, current, fmt, capsys, reference_fmt=reference_fmt,
                    features={"numeric": ["x"], "categorical": ["zip"]})
    assert value(samples, "model_feature_new_category_ratio", window="5m", feature="zip") == 0.0
    assert value(samples, "model_feature_missing_ratio", window="5m", feature="zip") == 0.0


# --- labels and decisions --------------------------------------------------------------------------------------

def _labelled(rng: np.random.Generator, n: int) -> pd.DataFrame:
    score = rng.random(n)
    label = rng.random(n) < score
    return pd.DataFrame({"x": rng.normal(0, 1, n), "score": score, "prediction": score >= 0.4, "label": label})


@pytest.mark.parametrize("fmt", FORMATS)
def test_boolean_labels_with_positive_label_true_match_sklearn(tmp_path: Path, fmt: str, capsys) -> None:
    rng = np.random.default_rng(6)
    reference, current = _labelled(rng, 3000), _labelled(rng, 1000)
    current["label"] = current["label"].astype(object)
    current.loc[current.index[:7], "label"] = "maybe"  # matches no class: counted, never taken as negative
    samples = check(tmp_path, reference, current, fmt, capsys, positive_label=True, prediction_column="prediction",
                    score_column="score", label_column="label", features={"numeric": ["x"]})
    known = current.iloc[7:]
    y, p = known["label"].astype(bool), known["prediction"]
    for name, metric in (("accuracy", skm.accuracy_score), ("precision", skm.precision_score),
                         ("recall", skm.recall_score), ("f1", skm.f1_score)):
        assert value(samples, "model_performance", window="5m", metric=name) == pytest.approx(metric(y, p),
                                                                                           rel=1e-12), name
    auc = value(samples, "model_performance", window="5m", metric="roc_auc")
    assert auc == pytest.approx(skm.roc_auc_score(y, known["score"]), abs=1e-3)
    assert value(samples, "model_reference_performance", metric="recall") == pytest.approx(
        skm.recall_score(reference["label"], reference["prediction"]), rel=1e-12)
    assert value(samples, "model_monitor_rejected_rows_total", reason="unknown_label") == 7


@pytest.mark.parametrize(("positive", "labels"), [("yes", ["Yes", "no", "YES", "No"]), (1, [1.0, "0", True, 0]),
                                                  ("1", [1, 0, "1", "0.0"])])
def test_labels_match_by_value_as_documented(tmp_path: Path, positive: Any, labels: list, capsys) -> None:
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 400), "label": [labels[i % 2] for i in range(400)],
                              "prediction": [labels[(i // 3) % 2] for i in range(400)]})
    current = pd.DataFrame({"x": rng.normal(0, 1, 400), "label": [labels[i % 4] for i in range(400)],
                            "prediction": [labels[(i // 3) % 4] for i in range(400)]})
    samples = check(tmp_path, reference, current, "jsonl", capsys, positive_label=positive,
                    prediction_column="prediction", label_column="label", features={"numeric": ["x"]})
    truth = [i % 4 in (0, 2) for i in range(400)]
    decided = [(i // 3) % 4 in (0, 2) for i in range(400)]
    assert value(samples, "model_performance", window="5m", metric="accuracy") == skm.accuracy_score(truth, decided)
    assert value(samples, "model_monitor_rejected_rows_total", reason="unknown_label") == 0


def test_multiclass_uses_the_actual_classes_whatever_the_reference_saw(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(8)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 600), "label": rng.choice(["a", "b", "c"], 600)})
    reference["prediction"] = reference["label"]
    truth = rng.choice(["a", "b", "x", "y"], 500)
    predicted = np.where(rng.random(500) < 0.6, truth, rng.choice(["a", "x", "y", "z"], 500))
    current = pd.DataFrame({"x": rng.normal(0, 1, 500), "label": truth, "prediction": predicted})
    samples = check(tmp_path, reference, current, "csv", capsys, task="multiclass_classification",
                    prediction_column="prediction", label_column="label", features={"numeric": ["x"]})
    assert value(samples, "model_performance", window="5m", metric="accuracy") == pytest.approx(
        skm.accuracy_score(truth, predicted), rel=1e-12)
    assert value(samples, "model_performance", window="5m", metric="f1_macro") == pytest.approx(
        skm.f1_score(truth, predicted, average="macro"), rel=1e-12)


# --- precision -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("offset", [0.0, 1e6, 1e9])
def test_r2_keeps_its_precision_far_from_zero(tmp_path: Path, offset: float, capsys) -> None:
    rng = np.random.default_rng(9)
    y_ref = offset + rng.normal(0, 1, 2000)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 2000), "y": y_ref, "pred": y_ref + rng.normal(0, 0.5, 2000)})
    y = offset + rng.normal(0, 1, 1000)
    current = pd.DataFrame({"x": rng.normal(0, 1, 1000), "y": y, "pred": y + rng.normal(0, 0.5, 1000)})
    samples = check(tmp_path, reference, current, "parquet", capsys, task="regression", prediction_column="pred",
                    label_column="y", features={"numeric": ["x"]})
    assert value(samples, "model_performance", window="5m", metric="r2") == pytest.approx(
        skm.r2_score(current["y"], current["pred"]), rel=1e-9)
    assert value(samples, "model_performance", window="5m", metric="rmse") == pytest.approx(
        skm.root_mean_squared_error(current["y"], current["pred"]), rel=1e-9)


# --- timestamps ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("unit", "scale"), [("s", 1), ("ms", 1e3), ("us", 1e6), ("ns", 1e9)])
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_epoch_timestamps_in_any_unit_are_recognised(tmp_path: Path, unit: str, scale: float, fmt: str,
                                                     capsys) -> None:
    rng = np.random.default_rng(10)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 500)})
    current = pd.DataFrame({"ts": ((NOW - rng.uniform(1, 200, 300)) * scale).astype(np.int64),
                            "x": rng.normal(0, 1, 300)})
    samples = check(tmp_path, reference, current, fmt, capsys)
    assert value(samples, "model_window_rows", window="5m") == 300
    assert value(samples, "model_monitor_rejected_rows_total", reason="future_timestamp") == 0


# --- scores beyond the reference ---------------------------------------------------------------------------------

def test_roc_auc_ranks_scores_beyond_the_reference_range(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(11)
    score = rng.random(3000) * 0.5
    reference = pd.DataFrame({"x": rng.normal(0, 1, 3000), "score": score, "label": rng.random(3000) < score})
    cur_score = 0.6 + rng.random(1000) * 0.4
    current = pd.DataFrame({"x": rng.normal(0, 1, 1000), "score": cur_score,
                            "label": rng.random(1000) < (cur_score - 0.6) * 2.5})
    samples = check(tmp_path, reference, current, "jsonl", capsys, score_column="score", label_column="label",
                    features={"numeric": ["x"]})
    exact = skm.roc_auc_score(current["label"], current["score"])
    assert exact > 0.7
    assert value(samples, "model_performance", window="5m", metric="roc_auc") == pytest.approx(exact, abs=0.01)


def test_a_file_whose_rows_are_all_rejected_says_why(tmp_path: Path, capsys, caplog) -> None:
    rng = np.random.default_rng(12)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 500)})
    current = pd.DataFrame({"ts": ((NOW - 10) * 1000.0) + np.arange(50), "x": rng.normal(0, 1, 50)})
    reference_path = _write(reference, tmp_path / "reference", "jsonl")
    _write(current, tmp_path / "logs" / "log", "jsonl")
    config = {"models": [{"name": "m", "task": "binary_classification", "reference": reference_path.name,
                          "predictions": {"path": "logs/*.jsonl", "timestamp_unit": "s"}, "windows": ["5m"]}]}
    path = write_config(tmp_path / "monitor.yaml", config)
    with caplog.at_level("WARNING"):
        assert main(["check", "--config", str(path), "--now", str(NOW)]) == 0
    samples = json.loads(capsys.readouterr().out)["metrics"]
    rejected = {s["labels"]["reason"]: s["value"] for s in samples if s["name"] == "model_monitor_rejected_rows_total"}
    assert rejected["future_timestamp"] == 50
    assert any("none of the 50 rows" in r.message and "timestamp_unit" in r.message for r in caplog.records)
