"""The checks table drives ``check``, the exported verdicts and the alert rules alike."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from exporter.components.checks import ALERTING, CHECKS, failed_checks
from exporter.config import DEFAULT_ALPHA, DEFAULT_THRESHOLDS
from exporter.mixin.rules import alerting_rules
from exporter.monitor.building import build_monitor
from exporter.publish.catalogue import METRICS
from exporter.publish.exposition import build_families, families_as_json
from exporter.values.vocabulary import CheckName, ErrorStage, JoinDrop, RejectReason
from tests.helpers import model_config, rows_at, write_jsonl


def test_every_check_has_its_alert_and_only_catalogue_metrics() -> None:
    rules = {}
    for rule in alerting_rules():  # the first rule of an alert: its own severity (a second one may page)
        rules.setdefault(rule["alert"], rule)
    # Every check alerts but no_data (a live exporter that reads nothing waits); the schema check alerts on an
    # increase of its counter, from its row of the table like every other check.
    assert {c.name for c in CHECKS} - {c.name for c in ALERTING} == {CheckName.NO_DATA}
    assert "(increase(model_data_quality_violations_total{" in rules["ModelSchemaViolations"]["expr"]
    for check in ALERTING:
        rule = rules[check.alert]
        assert rule["labels"]["severity"] == check.severity
        for metric in (check.value_metric, check.verdict_metric, check.threshold_metric):
            assert metric is None or metric in METRICS, metric
            assert metric is None or metric in rule["expr"], (check.alert, metric)


def test_a_warning_that_pages_with_another_check_pages_only_while_both_fail() -> None:
    rules = [rule for rule in alerting_rules() if rule["alert"] == "ModelConceptDrift"]
    assert [rule["labels"]["severity"] for rule in rules] == ["warning", "critical"]
    performance = next(r for r in alerting_rules() if r["alert"] == "ModelPerformanceDrop")["expr"]
    for rule, op in zip(rules, ("unless", "and"), strict=True):
        assert f"\n{op} on(job, instance, model, window, metric)\n" in rule["expr"]
        assert performance.splitlines()[0].strip() in rule["expr"]


def test_no_rule_names_a_drift_method() -> None:
    for rule in alerting_rules():
        for method in DEFAULT_THRESHOLDS:
            assert f'"{method}"' not in rule["expr"], (rule["alert"], method)


def _snapshot(tmp_path: Path, rows: list[dict], **overrides):
    now = time.time()
    for row in rows:
        row["ts"] = now - 5
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows)
    return build_monitor(model_config(tmp_path, **overrides), None).update(now=now, persist=False)


def test_check_reports_a_realized_performance_drop_as_the_alert_would(tmp_path: Path) -> None:
    rows = rows_at(0, 400, seed=3)
    for row in rows:
        row["prediction"] = int(row["score"] >= 0.5)
        row["label"] = 1 - row["prediction"]  # every decision wrong
    snapshot = _snapshot(tmp_path, rows)
    window = next(w for w in snapshot.windows if w.window == "5m" and not w.segment)
    failed = [v for v in window.verdicts if v.failed and v.check == CheckName.PERFORMANCE]
    assert {dict(v.subject)["metric"] for v in failed} >= {"accuracy"}
    accuracy = next(v for v in failed if dict(v.subject)["metric"] == "accuracy")
    assert accuracy.value == window.performance["accuracy"] == 0.0
    # The threshold in force in the window: the reference's accuracy minus the larger of the tolerance
    # and the sampling noise at its labelled rows, so never above the large-window threshold.
    assert accuracy.threshold == window.performance_limits["accuracy"]
    assert accuracy.threshold <= snapshot.performance_thresholds["accuracy"]
    assert any("realized accuracy 0 below its threshold" in line for line in failed_checks(snapshot))


def test_exported_drift_verdicts_are_the_checks_verdicts(tmp_path: Path) -> None:
    snapshot = _snapshot(tmp_path, rows_at(0, 500, seed=4, shift=15.0))
    samples = families_as_json(build_families([snapshot]))
    exported = {(s["labels"]["window"], s["labels"]["feature"]): s["value"] for s in samples
                if s["name"] == "model_feature_drifted" and "segment" not in s["labels"]}
    verdicts = {(w.window, dict(v.subject)["feature"]): float(v.failed) for w in snapshot.windows if not w.segment
                for v in w.verdicts if v.check == CheckName.FEATURE_DRIFT}
    assert exported == verdicts and exported[("5m", "age")] == 1.0


def test_every_member_of_the_vocabulary_has_a_zero_series(tmp_path: Path) -> None:
    labels_log = {"path": str(tmp_path / "labels" / "*.jsonl"), "id_column": "id", "label_column": "label"}
    snapshot = _snapshot(tmp_path, rows_at(0, 20), labels=labels_log, label_column=None)
    samples = families_as_json(build_families([snapshot]))

    def values(name: str, label: str) -> set[str]:
        return {s["labels"][label] for s in samples if s["name"] == name}

    assert values("model_monitor_rejected_rows_total", "reason") == {str(r) for r in RejectReason}
    assert values("model_monitor_errors_total", "stage") == {str(s) for s in ErrorStage}
    assert values("model_label_join_dropped_total", "reason") == {str(r) for r in JoinDrop}


def test_type_violations_fail_the_data_type_check_above_the_ratio(tmp_path: Path) -> None:
    """3% of ``age`` is text: above the default 1% ratio; a per-feature limit of 5% lets it pass."""
    rows = rows_at(0, 200, seed=6)
    for row in rows[:6]:
        row["age"] = "n/a"
    snapshot = _snapshot(tmp_path, [dict(r) for r in rows])
    window = next(w for w in snapshot.windows if w.window == "5m" and not w.segment)
    failed = [v for v in window.verdicts if v.failed and v.check == CheckName.DATA_TYPE]
    assert [(dict(v.subject)["feature"], v.value, v.threshold) for v in failed] == [("age", 6 / 200, 0.01)]
    assert any("age data_type check failed" in line for line in failed_checks(snapshot))
    samples = families_as_json(build_families([snapshot]))
    thresholds = {s["labels"]["feature"]: s["value"] for s in samples
                  if s["name"] == "model_data_quality_threshold_ratio" and s["labels"]["check"] == "data_type"}
    assert thresholds == {"age": 0.01, "income": 0.01}  # numeric features only

    (tmp_path / "logs" / "a.jsonl").unlink()
    relaxed = _snapshot(tmp_path, [dict(r) for r in rows],
                        quality={"features": {"age": {"type_violation_ratio": 0.05, "missing_ratio": 0.0}}})
    window = next(w for w in relaxed.windows if w.window == "5m" and not w.segment)
    assert not [v for v in window.verdicts if v.failed and v.check == CheckName.DATA_TYPE]
    limits = {(q.feature, q.check): q.value for q in relaxed.quality_thresholds}
    assert limits[("age", "data_type")] == 0.05 and limits[("age", "completeness")] == 0.0
    assert limits[("income", "completeness")] == 0.05  # the model's rule: reference share 0 + tolerance


def test_quality_limits_grow_with_the_sampling_noise_of_small_windows(tmp_path: Path) -> None:
    """The reference misses age 10% of the time: 20% missing is noise in 20 rows, a failure in 2,000."""
    from scipy.stats import binom

    from tests.helpers import reference_frame

    frame = reference_frame(4000)
    frame.loc[frame.index % 10 == 0, "age"] = None
    frame.to_parquet(tmp_path / "reference.parquet")
    for n, fails in ((20, False), (2000, True)):
        rows = rows_at(0, n, seed=8)
        for row in rows[: n // 5]:
            row["age"] = None
        (tmp_path / "logs").mkdir(exist_ok=True)
        (tmp_path / "logs" / "a.jsonl").unlink(missing_ok=True)
        snapshot = _snapshot(tmp_path, rows)
        window = next(w for w in snapshot.windows if w.window == "5m" and not w.segment)
        age = next(f for f in window.features if f.feature == "age")
        expected = max(0.1 + 0.05, binom.ppf(1 - DEFAULT_ALPHA, n, 0.1) / n)
        assert age.quality_limits["completeness"] == pytest.approx(expected)
        failed = {dict(v.subject)["feature"] for v in window.verdicts if v.check == CheckName.COMPLETENESS}
        assert ("age" in failed) is fails, (n, age.missing_ratio, age.quality_limits)
    assert expected == pytest.approx(0.15)  # large windows: the model-wide limit


def test_quality_limits_are_the_floor_or_the_binomial_quantile_whichever_is_higher(tmp_path: Path) -> None:
    """At every window size: the bound that skips the quantile where it is below the floor changes nothing."""
    from scipy.stats import binom

    from exporter.components.quality import FeatureQuality
    from exporter.config import QualityConfig
    from tests.helpers import model_config, reference_for, reference_frame

    frame = reference_frame(4000)
    frame.loc[frame.index % 10 == 0, "age"] = None
    frame.loc[frame.index % 97 == 0, "country"] = None
    frame.to_parquet(tmp_path / "reference.parquet")
    quality = FeatureQuality(reference_for(model_config(tmp_path)), QualityConfig(out_of_range_ratio=0.0))
    assert quality.rates.max() > 0.09 and quality.noisy.all()
    for rows in (1, 2, 7, 20, 99, 100, 1000, 4321, 10**5, 10**6, 10**8):
        exact = np.maximum(quality.floors, np.minimum(1.0, binom.ppf(1 - quality.alpha, rows, quality.rates) / rows))
        assert list(quality.limits_at(rows).values()) == exact.tolist(), rows


def test_performance_thresholds_widen_by_the_metric_s_noise_in_small_windows(tmp_path: Path) -> None:
    """Accuracy's noise measured on the reference matches the binomial's, and sets small windows' thresholds."""
    from scipy.stats import norm

    from tests.helpers import reference_frame

    frame = reference_frame(8000)
    rng = np.random.default_rng(9)
    frame["label"] = np.where(rng.random(8000) < 0.8, frame["prediction"], 1 - frame["prediction"])  # 80% right
    frame.to_parquet(tmp_path / "reference.parquet")
    monitor = build_monitor(model_config(tmp_path), None)
    accuracy = monitor.baseline.reference["accuracy"]
    assert monitor.baseline.noise["accuracy"] == pytest.approx(np.sqrt(accuracy * (1 - accuracy)), rel=0.3)
    small, large = monitor.baseline.thresholds_at(30), monitor.baseline.thresholds_at(100_000)
    assert large["accuracy"] == pytest.approx(accuracy - 0.05)  # the tolerance, once noise is below it
    z = norm.ppf(1 - DEFAULT_ALPHA)
    assert small["accuracy"] == pytest.approx(accuracy - z * monitor.baseline.noise["accuracy"] / np.sqrt(30))
    assert small["accuracy"] < large["accuracy"] - 0.1
