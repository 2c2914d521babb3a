"""SageMaker Model Monitor's statistics, constraints and violations files, both directions.

The documented shapes below are transcribed from SageMaker's documentation pages "Schema for
Statistics (statistics.json file)", "Schema for Constraints (constraints.json file)" and "Schema
for Violations (constraint_violations.json file)": every key written must be one of them, with
the documented type, and every key they show for a feature kind must be written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from exporter.cli import main
from tests.helpers import write_config

NOW = 1_800_000_000.0
FIXTURES = Path(__file__).parents[1] / "fixtures" / "sagemaker"

NUMBER, STRING, BOOL = "number", "string", "boolean"
DOCUMENTED_NUMERIC = {
    "name": STRING, "inferred_type": STRING,
    "numerical_statistics": {
        "common": {"num_present": NUMBER, "num_missing": NUMBER},
        "mean": NUMBER, "sum": NUMBER, "std_dev": NUMBER, "min": NUMBER, "max": NUMBER,
        "distribution": {"kll": {
            "buckets": [{"lower_bound": NUMBER, "upper_bound": NUMBER, "count": NUMBER}],
            "sketch": {"parameters": {"c": NUMBER, "k": NUMBER}, "data": [[NUMBER]]},
        }},
    },
}
DOCUMENTED_STRING = {
    "name": STRING, "inferred_type": STRING,
    "string_statistics": {
        "common": {"num_present": NUMBER, "num_missing": NUMBER},
        "distinct_count": NUMBER,
        "distribution": {"categorical": {"buckets": [{"value": STRING, "count": NUMBER}]}},
    },
}
DOCUMENTED_CONSTRAINT = {
    "name": STRING, "inferred_type": STRING, "completeness": NUMBER,
    "num_constraints": {"is_non_negative": BOOL},
    "string_constraints": {"domains": [STRING]},
    "monitoringConfigOverrides": {"datatype_check_threshold": NUMBER, "domain_content_threshold": NUMBER},
}
DOCUMENTED_MONITORING_CONFIG = {
    "evaluate_constraints": STRING, "emit_metrics": STRING, "datatype_check_threshold": NUMBER,
    "domain_content_threshold": NUMBER,
    "distribution_constraints": {"perform_comparison": STRING, "comparison_threshold": NUMBER,
                                 "comparison_method": STRING, "categorical_comparison_threshold": NUMBER,
                                 "categorical_drift_method": STRING},
}
CHECK_TYPES = {"data_type_check", "completeness_check", "baseline_drift_check", "missing_column_check",
               "extra_column_check", "categorical_values_check"}


def _conforms(value: Any, shape: Any, path: str = "") -> None:
    """``value`` uses only documented keys, each with its documented type."""
    if isinstance(shape, dict):
        assert isinstance(value, dict), path
        for key, item in value.items():
            assert key in shape, f"{path}.{key} is not in the documented schema"
            _conforms(item, shape[key], f"{path}.{key}")
    elif isinstance(shape, list):
        assert isinstance(value, list), path
        for index, item in enumerate(value):
            _conforms(item, shape[0], f"{path}[{index}]")
    elif shape == NUMBER:
        assert isinstance(value, int | float) and not isinstance(value, bool), path
    elif shape == STRING:
        assert isinstance(value, str), path
    else:
        assert isinstance(value, bool), path


def _reference(n: int = 5000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, n)
    age[rng.random(n) < 0.1] = np.nan  # 10% missing
    return pd.DataFrame({
        "age": age,
        "visits": rng.integers(0, 5000, n),  # integral, continuous bins
        "children": rng.integers(0, 4, n),  # integral, discrete bins
        "country": rng.choice(["US", "DE", "FR"], n, p=[0.5, 0.3, 0.2]),
        "score": rng.random(n),
        "prediction": rng.integers(0, 2, n),
    })


def _config(tmp_path: Path, **model: Any) -> Path:
    reference = tmp_path / "reference.parquet"
    if not reference.exists():
        _reference().to_parquet(reference)
    (tmp_path / "logs").mkdir(exist_ok=True)
    return write_config(tmp_path / "monitor.yaml", {"models": [{
        "name": "m", "task": "binary_classification", "reference": "reference.parquet",
        "predictions": {"path": "logs/*.jsonl", "timestamp_column": "ts"},
        "features": {"numeric": ["age", "visits", "children"], "categorical": ["country"]},
        "prediction_column": "prediction", "score_column": "score", "windows": ["1h"],
        "drift": {"method": "ks", "threshold": 0.1}, "min_window_rows": 10, **model}]})


def _sagemaker_baseline(tmp_path: Path, config: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    out = tmp_path / "baseline"
    assert main(["--log-level", "ERROR", "baseline", "--config", str(config), "--format", "sagemaker",
                 "--out", str(out)]) == 0
    assert (out / "baseline.json").is_file()
    return (json.loads((out / "statistics.json").read_text()), json.loads((out / "constraints.json").read_text()))


def test_statistics_json_has_the_documented_shape_and_the_reference_s_numbers(tmp_path: Path) -> None:
    statistics, _ = _sagemaker_baseline(tmp_path, _config(tmp_path))
    frame = _reference()
    assert statistics["version"] == 0 and statistics["dataset"] == {"item_count": len(frame)}
    features = {f["name"]: f for f in statistics["features"]}
    assert list(features) == ["age", "visits", "children", "country"]
    for name in ("age", "visits", "children"):
        _conforms(features[name], DOCUMENTED_NUMERIC, name)
        assert set(features[name]["numerical_statistics"]) == set(DOCUMENTED_NUMERIC["numerical_statistics"])
        values = frame[name].dropna().to_numpy(dtype=float)
        stats = features[name]["numerical_statistics"]
        assert stats["common"] == {"num_present": values.size, "num_missing": len(frame) - values.size}
        assert stats["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert stats["sum"] == pytest.approx(values.sum(), rel=1e-12)
        assert stats["std_dev"] == pytest.approx(np.std(values), rel=1e-12)
        assert (stats["min"], stats["max"]) == (values.min(), values.max())
        buckets = stats["distribution"]["kll"]["buckets"]
        assert sum(b["count"] for b in buckets) == values.size
        for bucket in buckets:  # each count is exactly the reference's values in the bucket
            inside = (values >= bucket["lower_bound"]) & (
                (values < bucket["upper_bound"]) if bucket["upper_bound"] != values.max() else True)
            if bucket["lower_bound"] == bucket["upper_bound"]:
                inside = values == bucket["lower_bound"]
            assert bucket["count"] == int(inside.sum()), (name, bucket)
        # The sketch's equally weighted points are the reference's quantiles: the reference's CDF at
        # the i-th of 201 points is i/200 within one fine bin (1/200) and a value's own mass.
        points = np.array(stats["distribution"]["kll"]["sketch"]["data"][0])
        assert points.size == 201 and np.all(np.diff(points) >= 0)
        ordered = np.sort(values)
        below = np.searchsorted(ordered, points, side="left") / values.size
        upto = np.searchsorted(ordered, points, side="right") / values.size
        q = np.linspace(0, 1, 201)
        assert np.all((below <= q + 0.0051) & (upto >= q - 0.0051)), name
    assert features["age"]["inferred_type"] == "Fractional"
    assert features["visits"]["inferred_type"] == features["children"]["inferred_type"] == "Integral"
    assert len(features["children"]["numerical_statistics"]["distribution"]["kll"]["buckets"]) == 4  # one per value

    country = features["country"]
    _conforms(country, DOCUMENTED_STRING, "country")
    assert country["inferred_type"] == "String"
    counts = frame["country"].value_counts()
    assert country["string_statistics"]["common"] == {"num_present": len(frame), "num_missing": 0}
    assert country["string_statistics"]["distinct_count"] == 3
    assert {b["value"]: b["count"] for b in country["string_statistics"]["distribution"]["categorical"]["buckets"]} \
        == counts.to_dict()


def test_constraints_json_has_the_documented_shape_and_carries_over_the_same_limits(tmp_path: Path,
                                                                                    capsys) -> None:
    config = _config(tmp_path, quality={"missing_ratio_tolerance": 0.02,
                                        "features": {"country": {"new_category_ratio": 0.2}}})
    _, constraints = _sagemaker_baseline(tmp_path, config)
    assert constraints["version"] == 0
    for entry in constraints["features"]:
        _conforms(entry, DOCUMENTED_CONSTRAINT, entry["name"])
    _conforms(constraints["monitoring_config"], DOCUMENTED_MONITORING_CONFIG, "monitoring_config")
    features = {f["name"]: f for f in constraints["features"]}
    assert features["age"]["completeness"] == pytest.approx(1 - (0.1 + 0.02), abs=0.01)
    assert features["visits"]["num_constraints"] == {"is_non_negative": True}
    assert features["country"]["string_constraints"] == {"domains": ["DE", "FR", "US"]}
    assert features["country"]["monitoringConfigOverrides"] == {"domain_content_threshold": pytest.approx(0.8)}
    assert constraints["monitoring_config"]["datatype_check_threshold"] == pytest.approx(0.99)
    assert constraints["monitoring_config"]["distribution_constraints"]["comparison_threshold"] == 0.1

    def limits(config_path: Path) -> dict[tuple[str, str], float]:
        capsys.readouterr()
        assert main(["--log-level", "ERROR", "check", "--config", str(config_path), "--now", str(NOW)]) == 0
        return {(s["labels"]["feature"], s["labels"]["check"]): s["value"]
                for s in json.loads(capsys.readouterr().out)["metrics"]
                if s["name"] == "model_data_quality_threshold_ratio"}

    original = limits(config)
    carried = limits(_config(tmp_path, constraints="baseline/constraints.json"))
    assert carried.keys() == original.keys()
    for key, value in original.items():
        assert carried[key] == pytest.approx(value, abs=1e-12), key


def _rows(n: int, seed: int, **columns: Any) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows = [{"ts": NOW - 60, "age": float(rng.normal(40, 10)), "visits": int(rng.integers(0, 5000)),
             "children": int(rng.integers(0, 4)),
             "country": str(rng.choice(["US", "DE", "FR"], p=[0.5, 0.3, 0.2])),
             "score": float(rng.random()), "prediction": int(rng.integers(0, 2))} for _ in range(n)]
    for name, values in columns.items():
        for row, value in zip(rows, values, strict=False):
            if value is _DROP:
                del row[name]
            else:
                row[name] = value
    return rows


_DROP = object()


def _write(tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    with open(tmp_path / "logs" / "a.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)


def _violations(tmp_path: Path, config: Path, *extra: str) -> list[dict[str, str]]:
    out = tmp_path / "constraint_violations.json"
    assert main(["--log-level", "ERROR", "check", "--config", str(config), "--now", str(NOW),
                 "--format", "sagemaker-violations", "--out", str(out), *extra]) == 0
    document = json.loads(out.read_text())
    assert set(document) == {"violations"}
    for violation in document["violations"]:
        assert set(violation) == {"feature_name", "constraint_check_type", "description"}
        assert violation["constraint_check_type"] in CHECK_TYPES and violation["description"]
    return document["violations"]


def test_a_documented_constraints_file_sets_the_data_quality_limits(tmp_path: Path) -> None:
    """The fixture is the documentation's example with its placeholders filled in."""
    config = _config(tmp_path, constraints=str(FIXTURES / "constraints.json"))
    # 20% of country is "IT" (in the file's domain: not new) and 8% "ES" (new: above 1 - 0.95);
    # 2 of 200 ages are text (data type: the file asks for 100% numbers); age 15% missing (above 1 - 0.9).
    countries = ["IT"] * 40 + ["ES"] * 16
    ages = ["n/a"] * 2 + [None] * 30
    _write(tmp_path, _rows(200, 1, country=countries, age=ages))
    found = {(v["feature_name"], v["constraint_check_type"]) for v in _violations(tmp_path, config)}
    assert found == {("country", "categorical_values_check"), ("age", "data_type_check"),
                     ("age", "completeness_check"), ("country", "baseline_drift_check")}
    assert all(v["constraint_check_type"] != "categorical_values_check" or "92.00%" in v["description"]
               for v in _violations(tmp_path, config))

    # The config's own limit for a feature wins over the file's.
    config = _config(tmp_path, constraints=str(FIXTURES / "constraints.json"),
                     quality={"features": {"age": {"missing_ratio": 0.5}}})
    found = {(v["feature_name"], v["constraint_check_type"]) for v in _violations(tmp_path, config)}
    assert ("age", "completeness_check") not in found and ("age", "data_type_check") in found


def test_violations_name_drift_and_missing_and_extra_columns(tmp_path: Path) -> None:
    config = _config(tmp_path)
    rows = _rows(300, 2, age=[float(v) for v in np.random.default_rng(3).normal(70, 10, 300)],
                 visits=[_DROP] * 300)
    for row in rows[:5]:
        row["unexpected"] = 1
    _write(tmp_path, rows)
    violations = _violations(tmp_path, config, "--window", "1h")
    found = {(v["feature_name"], v["constraint_check_type"]) for v in violations}
    assert found == {("age", "baseline_drift_check"), ("visits", "missing_column_check"),
                     ("visits", "completeness_check"), ("", "extra_column_check")}
    drift = next(v for v in violations if v["constraint_check_type"] == "baseline_drift_check")
    assert "(ks) exceeds the threshold 0.1" in drift["description"]

    _write(tmp_path, _rows(300, 4))
    assert _violations(tmp_path, config) == []


@pytest.mark.parametrize(("document", "message"), [
    ({"version": 0}, "no 'features' list"),
    ({"version": 0, "features": [{"name": "age", "completeness": 1.5}]}, "features[0].completeness: must be a number"),
    ({"version": 0, "features": [], "monitoring_config": {"domain_content_threshold": "high"}},
     "monitoring_config.domain_content_threshold"),
    ({"version": 3, "features": []}, "only version 0"),
])
def test_a_broken_constraints_file_is_a_configuration_error(tmp_path: Path, capsys, document: dict[str, Any],
                                                            message: str) -> None:
    path = tmp_path / "constraints.json"
    path.write_text(json.dumps(document))
    config = _config(tmp_path, constraints="constraints.json")
    assert main(["check", "--config", str(config), "--now", str(NOW)]) == 2
    err = capsys.readouterr().err
    assert "models[m].constraints" in err and message in err


def test_sagemaker_violations_need_one_model_and_a_known_window(tmp_path: Path, capsys) -> None:
    config = _config(tmp_path)
    assert main(["check", "--config", str(config), "--format", "sagemaker-violations", "--window", "2h"]) == 2
    assert "has no window '2h'" in capsys.readouterr().err


@pytest.mark.parametrize("exact", [True, False])
def test_a_domain_s_values_become_known_values(monkeypatch: pytest.MonkeyPatch, exact: bool) -> None:
    from exporter.baseline import known_values

    monkeypatch.setattr(known_values, "MAX_EXACT_VALUES", 10_000 if exact else 10)
    values = np.array([f"v{i}" for i in range(500)], dtype=object)
    known = known_values.KnownValues.of(values)
    assert known.exact is exact
    wider = known.including(np.array(["new-1", "new-2", "v3"], dtype=object))
    assert wider.exact is exact and wider.size == 502
    assert wider.contains(np.array(["new-1", "new-2", "v0", "v499"], dtype=object)).all()
    assert not known.contains(np.array(["new-1"], dtype=object)).any()  # the original is unchanged
    unseen = wider.contains(np.array([f"w{i}" for i in range(2000)], dtype=object)).mean()
    assert unseen <= (0.0 if exact else 0.01)


@pytest.mark.parametrize(("low", "high"), [(1e303, 1e306), (1e306, 1.7e308)])
def test_statistics_of_huge_numbers_are_right_or_absent(tmp_path: Path, low: float, high: float) -> None:
    """Values near the largest float: their sum is beyond float64 and is left out (JSON has no infinity),
    the mean taken bin by bin (left out too when a bin's sum is beyond float64); the standard deviation,
    the minimum and the maximum are right; the file is strict JSON."""
    frame = _reference()
    frame["age"] = np.random.default_rng(3).uniform(low, high, len(frame))
    frame.to_parquet(tmp_path / "reference.parquet")
    out = tmp_path / "baseline"
    assert main(["--log-level", "ERROR", "baseline", "--config", str(_config(tmp_path)), "--format", "sagemaker",
                 "--out", str(out)]) == 0
    statistics = json.loads((out / "statistics.json").read_text(), parse_constant=pytest.fail)
    age = next(f for f in statistics["features"] if f["name"] == "age")["numerical_statistics"]
    values = frame["age"].to_numpy()
    assert "sum" not in age
    if high == 1e306:  # 25 values to a bin: each bin's sum is finite
        assert age["mean"] == pytest.approx(np.mean(values / 1e300) * 1e300, rel=1e-12)
    else:
        assert "mean" not in age
    assert age["std_dev"] == pytest.approx(np.std(values / 1e300) * 1e300, rel=1e-12)
    assert (age["min"], age["max"]) == (values.min(), values.max())
