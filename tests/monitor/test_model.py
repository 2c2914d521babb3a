"""A model's update from real log files: windows, quality, drift, rejections and restarts."""

from __future__ import annotations

import json
import pstats
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from exporter.monitor.building import build_monitor
from exporter.monitor.model import ModelMonitor
from exporter.summary.results import ModelSnapshot, WindowResult
from tests.helpers import model_config, rows_at, write_config, write_jsonl


def _monitor(tmp: Path, **overrides) -> ModelMonitor:
    return build_monitor(model_config(tmp, **overrides), tmp / "state")


def _window(snapshot: ModelSnapshot, label: str) -> WindowResult:
    return next(w for w in snapshot.windows if w.window == label and w.segment == "")


def test_rows_land_in_the_windows_that_contain_their_timestamp(tmp_path: Path) -> None:
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows_at(now - 10, 50, seed=1) + rows_at(now - 1200, 30, seed=2)
                + rows_at(now - 7200, 20, seed=3))
    snapshot = _monitor(tmp_path).update(now=now)
    assert snapshot.predictions_total == 80
    assert snapshot.rejected["too_old"] == 20  # older than every window
    assert _window(snapshot, "5m").rows == 50
    assert _window(snapshot, "1h").rows == 80
    assert snapshot.up and snapshot.last_success is not None


def test_small_windows_have_no_drift_but_keep_their_row_count(tmp_path: Path) -> None:
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows_at(now, 5))
    window = _window(_monitor(tmp_path).update(now=now), "5m")
    assert window.rows == 5
    assert all(f.drift is None for f in window.features)
    assert window.drifted_ratio is None


def test_ks_drift_on_the_whole_path_matches_scipy(tmp_path: Path) -> None:
    now = time.time()
    rows = rows_at(now - 5, 3000, seed=4, shift=4.0)
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows)
    monitor = _monitor(tmp_path)
    window = _window(monitor.update(now=now), "5m")
    age = next(f for f in window.features if f.feature == "age")
    import pandas as pd

    reference = pd.read_parquet(monitor.config.reference)["age"].to_numpy()
    exact = stats.ks_2samp(reference, np.array([r["age"] for r in rows])).statistic
    assert age.drift is not None and age.drift.method == "ks"
    assert abs(age.drift.score - exact) <= 0.005
    assert age.drift.drifted == (exact > 0.1)


def test_quality_ratios_and_rejections_are_exact(tmp_path: Path) -> None:
    now = time.time()
    good = rows_at(now, 40, seed=5)
    for row in good[:10]:
        row["age"] = None
    for row in good[10:14]:
        row["country"] = "Atlantis"
    for row in good[14:16]:
        row["income"] = 1e15
    good[16]["age"] = "forty"
    bad = [{"id": "x"}, {"ts": "yesterday-ish", "id": "y"}, {"ts": now + 86400, "id": "z"}]
    path = tmp_path / "logs" / "a.jsonl"
    write_jsonl(path, good + bad)
    with open(path, "a") as handle:
        handle.write("{broken\n")
    snapshot = _monitor(tmp_path).update(now=now)
    window = _window(snapshot, "5m")
    features = {f.feature: f for f in window.features}
    assert window.rows == 40
    assert features["age"].missing_ratio == pytest.approx(10 / 40)
    assert features["age"].type_violation_ratio == pytest.approx(1 / 40)
    assert features["country"].new_category_ratio == pytest.approx(4 / 40)
    assert features["income"].out_of_range_ratio == pytest.approx(2 / 40)
    assert snapshot.rejected == {"missing_timestamp": 1, "bad_timestamp": 1, "future_timestamp": 1,
                                 "malformed_json": 1}
    assert snapshot.violations[("data_type", "age")] == 1


def test_missing_column_is_a_violation_and_counts_as_missing(tmp_path: Path) -> None:
    now = time.time()
    rows = rows_at(now, 20)
    for row in rows:
        row["years"] = row.pop("age")  # renamed upstream
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows)
    snapshot = _monitor(tmp_path).update(now=now)
    age = next(f for f in _window(snapshot, "5m").features if f.feature == "age")
    assert age.missing_ratio == 1.0
    assert snapshot.violations[("missing_column", "age")] == 20
    assert snapshot.violations[("extra_column", "")] == 20


def test_restart_keeps_windows_and_reads_nothing_twice(tmp_path: Path) -> None:
    now = time.time()
    path = tmp_path / "logs" / "a.jsonl"
    write_jsonl(path, rows_at(now - 30, 60, seed=1))
    first = _monitor(tmp_path)
    assert _window(first.update(now=now), "5m").rows == 60
    write_jsonl(path, rows_at(now - 20, 15, seed=2))
    second = _monitor(tmp_path)  # a restart: state read back from state_dir
    snapshot = second.update(now=now)
    assert _window(snapshot, "5m").rows == 75
    assert snapshot.predictions_total == 75


def test_models_whose_names_differ_only_in_unsafe_characters_keep_their_own_state(tmp_path: Path) -> None:
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows_at(now - 30, 60))
    assert _window(_monitor(tmp_path, name="fraud/v1").update(now=now), "5m").rows == 60
    assert _window(_monitor(tmp_path, name="fraud_v1").update(now=now), "5m").rows == 60  # not the other's cursor
    assert _window(_monitor(tmp_path, name="fraud/v1").update(now=now), "5m").rows == 60  # its own, restored
    assert len(list((tmp_path / "state").glob("*.state.npz"))) == 2


def test_a_state_file_named_by_the_earlier_scheme_is_adopted(tmp_path: Path) -> None:
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows_at(now - 30, 60))
    _monitor(tmp_path, name="fraud <&> model").update(now=now)
    (new,) = (tmp_path / "state").glob("*.state.npz")
    assert new.name.startswith("fraud_____model-")
    new.rename(tmp_path / "state" / "fraud_____model.state.npz")  # as release 2 named it
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows_at(now - 20, 15, seed=2))
    snapshot = _monitor(tmp_path, name="fraud <&> model").update(now=now)
    assert _window(snapshot, "5m").rows == 75 and snapshot.predictions_total == 75  # restored, nothing read twice
    assert [p.name for p in (tmp_path / "state").glob("*.state.npz")] == [new.name]


def test_corrupt_state_is_reported_and_rebuilt_from_the_logs(tmp_path: Path) -> None:
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows_at(now - 30, 60))
    _monitor(tmp_path).update(now=now)
    state_file = next((tmp_path / "state").glob("*.npz"))
    state_file.write_bytes(state_file.read_bytes()[:100])
    monitor = _monitor(tmp_path)
    snapshot = monitor.update(now=now)
    assert snapshot.errors["state"] == 1
    assert _window(snapshot, "5m").rows == 60


def test_check_command_prints_json_and_fails_on_alert(tmp_path: Path) -> None:
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows_at(now - 5, 500, shift=15.0))
    config = model_config(tmp_path)
    data = {"state_dir": str(tmp_path / "state"), "models": [json.loads(config.model_dump_json())]}
    data["models"][0]["windows"] = ["5m"]
    path = write_config(tmp_path / "monitor.yaml", data)
    result = subprocess.run([sys.executable, "-m", "exporter.cli", "check", "--config", str(path), "--format",
                             "json", "--fail-on-alert"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    output = json.loads(result.stdout)
    drifted = {m["labels"]["feature"]: m["value"] for m in output["metrics"] if m["name"] == "model_feature_drifted"}
    assert drifted["age"] == 1.0
    assert any("age drifted" in line for line in output["failed_checks"])
    rows = [m["value"] for m in output["metrics"] if m["name"] == "model_window_rows"]
    assert rows == [500.0]
    result = subprocess.run([sys.executable, "-m", "exporter.cli", "check", "--config", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0


def test_check_under_a_profiler_ends_with_the_profile_written(tmp_path: Path) -> None:
    """A one-shot command exits without the interpreter's teardown, except under a profiler, whose
    output is written at that teardown."""
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows_at(now - 5, 50))
    config = model_config(tmp_path)
    data = {"state_dir": str(tmp_path / "state"), "models": [json.loads(config.model_dump_json())]}
    path = write_config(tmp_path / "monitor.yaml", data)
    stats = tmp_path / "check.pstats"
    result = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(stats), "-m", "exporter.cli", "check",
                             "--config", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    profiled = pstats.Stats(str(stats))
    assert any(name == "cmd_check" for _, _, name in profiled.stats)  # type: ignore[attr-defined]


def test_a_parquet_log_gives_the_metrics_of_the_same_rows_as_json_lines(tmp_path: Path, capsys) -> None:
    """A Parquet log's categorical features are read as dictionaries (the one that is also a segment is not):
    every metric `check` prints is the one the same rows give as JSON Lines."""
    import pandas as pd

    from tests.helpers import check_samples

    now = 1_800_000_000.0
    rng = np.random.default_rng(5)
    n = 3_000

    def frame(shift: float) -> pd.DataFrame:
        return pd.DataFrame({
            "ts": now - rng.uniform(0, 3_000, n), "age": rng.normal(40 + shift, 10, n),
            "country": rng.choice(["US", "DE", "FR", "IT", " ", ""], n, p=[0.4, 0.3, 0.1, 0.1, 0.05, 0.05]),
            "plan": rng.choice(["free", "pro", "team", "new", None], n, p=[0.5, 0.3, 0.1, 0.05, 0.05]),
            "score": rng.random(n), "prediction": rng.integers(0, 2, n)})

    frame(0).to_parquet(tmp_path / "reference.parquet")
    current = frame(3)
    current.to_parquet(tmp_path / "log.parquet")
    write_jsonl(tmp_path / "log.jsonl", current.astype(object).to_dict("records"))
    samples = {}
    for kind in ("parquet", "jsonl"):
        model = {"name": "m", "task": "binary_classification", "reference": str(tmp_path / "reference.parquet"),
                 "predictions": {"path": str(tmp_path / f"log.{kind}"), "timestamp_column": "ts"},
                 "features": {"numeric": ["age"], "categorical": ["country", "plan"]},
                 "prediction_column": "prediction", "score_column": "score", "segments": ["country"],
                 "windows": ["1h"], "drift": {"method": "psi", "categorical_method": "js"}}
        config = write_config(tmp_path / f"{kind}.yaml", {"state_dir": str(tmp_path / kind), "models": [model]})
        samples[kind] = check_samples(config, now, capsys)
    assert samples["parquet"] == samples["jsonl"]
    assert any('"plan"' in key and "drift" in key for key in samples["parquet"])


@pytest.mark.parametrize("fault", ["path typo", "timestamp column typo", "empty log", "healthy"])
def test_check_fails_on_a_model_that_read_no_usable_row(tmp_path: Path, fault: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """In a nightly job a typo must not be a silent green: no file, no usable timestamp or an empty log is the
    failed check ``no_data`` (exit 1 with --fail-on-alert), with a one-line reason."""
    from exporter.cli import main

    now = time.time()
    log = tmp_path / "logs" / "a.jsonl"
    if fault == "empty log":
        log.parent.mkdir(parents=True)
        log.write_text("")
    else:
        write_jsonl(log, rows_at(now - 5, 50))
    config = json.loads(model_config(tmp_path).model_dump_json())
    if fault == "path typo":
        config["predictions"]["path"] = str(tmp_path / "logz" / "*.jsonl")
    if fault == "timestamp column typo":
        config["predictions"]["timestamp_column"] = "timestamp"
    path = write_config(tmp_path / "monitor.yaml", {"state_dir": str(tmp_path / "state"), "models": [config]})
    code = main(["check", "--config", str(path), "--format", "json", "--fail-on-alert", "--out",
                 str(tmp_path / "out.json")])
    failed = json.loads((tmp_path / "out.json").read_text())["failed_checks"]
    if fault == "healthy":  # rows were read: whatever else fails, not no_data
        assert failed and not [line for line in failed if "no usable row" in line]
        return
    assert code == 1
    reason = {"path typo": f"no file matches {tmp_path / 'logz' / '*.jsonl'}",
              "timestamp column typo": "50 rows read from",
              "empty log": f"no row in {tmp_path / 'logs' / '*.jsonl'}"}[fault]
    [line] = [line for line in failed if "no usable row" in line]
    assert reason in line and "\n" not in line
    if fault == "timestamp column typo":
        assert line.endswith("none usable (missing_timestamp 50)")
    assert code == main(["check", "--config", str(path), "--fail-on-alert"])  # the text format alike


@pytest.mark.parametrize("stamped", ["own column", "predictions' column name", "none"])
def test_label_delay_is_the_labels_own_time_minus_the_predictions(tmp_path: Path, stamped: str) -> None:
    """A labels log read after the fact (a check, a restart after downtime) measures each delay from the
    label's own timestamp, exactly, for labels that meet a waiting prediction and for labels that came first;
    without a timestamp, from when the label was read."""
    rng = np.random.default_rng(11)
    now = time.time()
    n = 120
    rows = rows_at(now - 3000, n, seed=4)
    for i, row in enumerate(rows):
        row["ts"] = now - 3000 + i
    delays = rng.uniform(1, 900, n).round(3)
    column = {"own column": "labelled_at", "predictions' column name": "ts", "none": None}[stamped]
    labels = [{"id": row["id"], "label": int(rng.integers(0, 2)), **({column: row["ts"] + delay} if column else {})}
              for row, delay in zip(rows, delays, strict=True)]
    labels_config = {"path": str(tmp_path / "labels" / "*.jsonl"), "id_column": "id", "label_column": "label",
                     **({"timestamp_column": column} if stamped == "own column" else {})}
    config = model_config(tmp_path, windows=["1h"], labels=labels_config)
    monitor = build_monitor(config, None)
    # The first half's labels come first (early labels), the rest after their predictions.
    write_jsonl(tmp_path / "labels" / "a.jsonl", labels[: n // 2])
    monitor.update(now=now, persist=False)
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows)
    write_jsonl(tmp_path / "labels" / "b.jsonl", labels[n // 2:])
    read_at = now + 5
    snapshot = monitor.update(now=read_at, persist=False)
    histogram = snapshot.label_delay
    assert histogram is not None and histogram.count == n
    expected = (delays.sum() if column else
                (now - np.array([r["ts"] for r in rows[: n // 2]])).sum()
                + (read_at - np.array([r["ts"] for r in rows[n // 2:]])).sum())
    # Exact but for the rounding of each logged time (a double near 1.8e9 s is spaced 2.4e-7 s apart).
    assert histogram.total == pytest.approx(expected, rel=0, abs=2 * n * np.spacing(now))


@pytest.mark.parametrize("typo", ["predictions.id_column", "labels.label_column", "latency_column"])
def test_check_fails_naming_a_configured_column_that_the_logs_lack(tmp_path: Path, typo: str) -> None:
    """A typo in a column name is a counted schema violation that fails the check, naming the column, never a
    silent change of what the columns are (an id that deduplicates nothing, labels that join nothing)."""
    from exporter.cli import main

    now = time.time()
    rows = rows_at(now - 5, 40)
    for row in rows:
        row["latency_ms"] = 12.0
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows)
    write_jsonl(tmp_path / "labels" / "a.jsonl", [{"id": row["id"], "label": 1} for row in rows])
    config = json.loads(model_config(tmp_path).model_dump_json())
    config.update(label_column=None, latency_column="latency_ms",
                  labels={"path": str(tmp_path / "labels" / "*.jsonl"), "id_column": "id", "label_column": "label"})
    wrong = {"predictions.id_column": "request_id", "labels.label_column": "is_fraud",
             "latency_column": "latency"}[typo]
    section, _, key = typo.rpartition(".")
    (config[section] if section else config)[key] = wrong
    path = write_config(tmp_path / "monitor.yaml", {"state_dir": str(tmp_path / "state"), "models": [config]})
    assert main(["check", "--config", str(path), "--format", "json", "--fail-on-alert", "--out",
                 str(tmp_path / "out.json")]) == 1
    output = json.loads((tmp_path / "out.json").read_text())
    assert f"m: column {wrong!r} is absent from 40 rows read (missing_column)" in output["failed_checks"]
    violations = {(m["labels"]["check"], m["labels"]["feature"]): m["value"] for m in output["metrics"]
                  if m["name"] == "model_data_quality_violations_total"}
    assert violations[("missing_column", wrong)] == 40
    assert violations[("data_type", "age")] == 0  # every known (check, column) exported, at 0 until it happens


def test_a_failed_check_has_its_timeline_over_the_windows_buckets(tmp_path: Path) -> None:
    """Since when: runs of a window's buckets (each with a twentieth of the window's rows) are evaluated alone;
    the check's value at each point is that run's own (here the exact share of rows missing ``age``) and the
    check fails from the point where the fault began. A timeline only for a failed check of a whole-model
    window."""
    now = 1_800_000_000.0
    config = model_config(tmp_path, windows=["5m", "1h"])
    rows = []
    for minute in range(60):
        batch = rows_at(now - 3600 + minute * 60 + 1, 50, seed=minute)
        for i, row in enumerate(batch):
            if minute >= 45 and i < 20:  # from minute 45, 40% of the rows lack age
                row["age"] = None
        rows += batch
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows)
    snapshot = build_monitor(config, None).update(now=now, persist=False)
    hour = _window(snapshot, "1h")
    [timeline] = [t for t in hour.timelines if t.check == "completeness"]
    assert dict(timeline.subject) == {"feature": "age"}
    # Minutes 1 to 59 are in the window (minute 0 is older than its oldest bucket): 2,950 rows, so points of
    # at least 148 rows: three minutes each, the last two minutes joined to the point before.
    groups = [list(range(1 + 3 * k, 4 + 3 * k)) for k in range(18)] + [list(range(55, 60))]
    assert list(timeline.starts) == [now - 3600 + group[0] * 60 for group in groups]
    expected = [sum(20 for m in group if m >= 45) / (50 * len(group)) for group in groups]
    assert list(timeline.values) == pytest.approx(expected, abs=1e-12)
    assert list(timeline.failed) == [value > 0 for value in expected]
    assert timeline.first_failed == timeline.since == now - 3600 + 43 * 60  # the point holding minute 45
    for window in snapshot.windows:
        failed = {(v.check, v.subject) for v in window.verdicts if v.failed} if not window.segment else set()
        assert {(t.check, t.subject) for t in window.timelines} == failed


def test_since_is_where_failures_begin_to_hold_not_a_chance_failure_before() -> None:
    """Small buckets fail now and then by chance: ``since`` is the failing bucket that best separates the
    mostly passing buckets before it from the mostly failing ones after it; ``first_failed`` is the first."""
    from exporter.summary.results import CheckTimeline

    failed = [False] * 30 + [True] * 30
    failed[4] = failed[17] = True  # chance failures in small buckets
    failed[41] = False  # and a chance pass after the fault began
    starts = tuple(float(60 * i) for i in range(60))
    timeline = CheckTimeline("feature_drift", (("feature", "x"),), starts, (0.0,) * 60, (0.1,) * 60, tuple(failed))
    assert timeline.first_failed == 240.0 and timeline.since == 1800.0
    always = CheckTimeline("completeness", (), starts[:3], (1.0,) * 3, (0.1,) * 3, (True, True, True))
    assert always.since == always.first_failed == 0.0


def test_a_failed_label_drift_has_its_timeline_from_the_buckets_verdicts(tmp_path: Path) -> None:
    """Checks that record their verdict every window (label drift, multivariate drift, the estimation gap) are
    drawn point by point from each run's own verdict: here the labels flip to all positive from minute 40."""
    now = 1_800_000_000.0
    config = model_config(tmp_path, windows=["1h"])
    rows = []
    rng = np.random.default_rng(0)
    for minute in range(60):
        batch = rows_at(now - 3600 + minute * 60 + 1, 50, seed=minute)
        for row in batch:  # half positive as in the reference, then only positive
            row["label"] = 1 if minute >= 40 else int(rng.integers(0, 2))
        rows += batch
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows)
    snapshot = build_monitor(config, None).update(now=now, persist=False)
    hour = _window(snapshot, "1h")
    assert hour.label_drift is not None and hour.label_drift.drifted
    [timeline] = [t for t in hour.timelines if t.check == "label_drift"]
    late = [value for start, value in zip(timeline.starts, timeline.values, strict=True) if start >= now - 1200]
    early = [value for start, value in zip(timeline.starts, timeline.values, strict=True) if start < now - 1500]
    assert min(late) > max(early)  # each point's own label drift score
    assert timeline.since is not None and now - 1500 <= timeline.since <= now - 1140
