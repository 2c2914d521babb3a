"""The conformance matrix: every command over the same messy log, from every source, for every task.

Each capability has its own tests on its own tidy data; this module runs them together, as a user
does, on the log of :mod:`tests.conformance` (extra columns, booleans, integers stored as floats,
nulls, NaN and blanks, a column of codes, a segment, late labels, rows out of order, a duplicate id
and a malformed line). A cell is (task, source, command); a failing cell names all three.

What must hold:

- no command prints a traceback or exits other than 0 or 1;
- every source gives the metrics of JSON Lines, to 1e-12 relative, but for the exceptions the docs
  lists (:data:`SOURCE_EXCEPTIONS`);
- ``serve`` at an instant equals ``check --now`` at that instant;
- ``report`` and ``backtest`` agree with ``check`` on the same window;
- ``check`` from a baseline file equals ``check`` from the reference, sample for sample.

The commands run as a user runs them (``python -m exporter.cli`` in a child process), each once per
source for all three tasks, two at a time; the PostgreSQL cluster is a real one (tests/postgres.py).
"""

from __future__ import annotations

import html
import json
import math
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.conformance import SOURCES, TASKS, WINDOWS, write_matrix
from tests.helpers import VOLATILE
from tests.postgres import Cluster
from tests.processes import LOOPBACK, free_port, start_exporter, wait_for

pytestmark = pytest.mark.integration

#: Where a source's metrics may differ from JSON Lines, as the docs say ("Every source, the same
#: metrics"): (sources, metric, the label that tells the sample). Only the line-based files can hold a
#: malformed line, each counted under its own reason; pushdown reads only the columns the model knows,
#: so it counts extra columns only in the batches it reads as full rows.
SOURCE_EXCEPTIONS: tuple[tuple[tuple[str, ...], str, tuple[str, str] | tuple[tuple[str, str], ...] | None], ...] = (
    (SOURCES, "model_monitor_rejected_rows_total", ("reason", "malformed_json")),
    (SOURCES, "model_monitor_rejected_rows_total", ("reason", "malformed_csv")),
    (("pushdown",), "model_data_quality_violations_total", ("check", "extra_column")),
    # Multivariate drift and DLE need each row's features, which pushdown never fetches: absent there.
    *((("pushdown",), name, None) for name in (
        "model_multivariate_drift_score", "model_multivariate_drift_window_threshold", "model_multivariate_drifted",
        "model_multivariate_reference_error")),
    *((("pushdown",), "model_monitor_component_errors_total", ("component", name)) for name in ("multivariate", "dle")),
    *((("pushdown",), name, ("metric", metric)) for metric in ("mae", "mse", "rmse") for name in (
        "model_estimated_performance", "model_estimated_performance_window_threshold",
        "model_performance_estimation_gap", "model_performance_estimation_gap_window_threshold",
        "model_concept_drifted")),
    *((("pushdown",), "model_performance_sampling_error", (("kind", "estimated"), ("metric", metric)))
      for metric in ("mae", "mse", "rmse")),
)


def _excepted(source: str, key: Key) -> bool:
    def labelled(label: tuple[str, str] | tuple[tuple[str, str], ...] | None) -> bool:
        if label is None:
            return True
        pairs = label if isinstance(label[0], tuple) else (label,)
        return all(pair in key[1] for pair in pairs)

    return any(source in sources and key[0] == metric and labelled(label)
               for sources, metric, label in SOURCE_EXCEPTIONS)


#: Series that depend on when an update ran, not on the rows: left out when two runs are compared.
TIMING = VOLATILE | {"model_label_delay_seconds_bucket", "model_label_delay_seconds_sum",
                     "model_label_delay_seconds_count", "model_window_label_delay_seconds"}
RTOL = 1e-12
SHORT_WINDOW = WINDOWS[0]

Key = tuple[str, tuple[tuple[str, str], ...]]


def _run(args: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "exporter.cli", "--log-level", "WARNING", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def _samples(metrics: list[dict[str, Any]]) -> dict[str, dict[Key, float]]:
    """Samples by model, keyed by name and the other labels."""
    out: dict[str, dict[Key, float]] = {}
    for sample in metrics:
        labels = dict(sample["labels"])
        model = labels.pop("model")
        out.setdefault(model, {})[(sample["name"], tuple(sorted(labels.items())))] = sample["value"]
    return out


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or math.isclose(a, b, rel_tol=RTOL, abs_tol=0.0)


def _differences(expected: dict[Key, float], got: dict[Key, float], skip: set[str] = frozenset()) -> list[str]:
    out = []
    for key in sorted(set(expected) | set(got)):
        if key[0] in skip:
            continue
        if key not in got:
            out.append(f"missing {key}")
        elif key not in expected:
            out.append(f"unexpected {key} = {got[key]}")
        elif not _same(expected[key], got[key]):
            out.append(f"{key}: {expected[key]!r} != {got[key]!r}")
    return out


@dataclass
class Matrix:
    folder: Path
    config: Path
    now: float
    #: Per command and model: what it printed, its exit code and its stderr.
    runs: dict[tuple[str, str], subprocess.CompletedProcess[str]] = field(default_factory=dict)
    check: dict[str, dict[Key, float]] = field(default_factory=dict)
    failed_checks: list[str] = field(default_factory=list)

    def model(self, task: str, source: str) -> str:
        return f"{task}-{source}"


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import sqlalchemy as sa

    folder = tmp_path_factory.mktemp("conformance")
    cluster = Cluster()
    try:
        cluster.start()
        engine = sa.create_engine(cluster.url(with_password=True))
        now = float(int(time.time()))
        config = write_matrix(folder, now, SOURCES, engine)
        engine.dispose()
        m = Matrix(folder, config, now)
        done = _run(["check", "--config", str(config), "--now", str(now), "--format", "json"], folder)
        m.runs[("check", "")] = done
        if done.returncode in (0, 1):
            printed = json.loads(done.stdout)
            m.check, m.failed_checks = _samples(printed["metrics"]), printed["failed_checks"]
        _run_per_model(m)
        yield m
    finally:
        cluster.remove()


def _run_per_model(m: Matrix) -> None:
    """``report``, ``check --format sagemaker-violations`` and ``baseline`` for every model, two at a time;
    then ``check`` over baselines and one ``backtest`` over every model."""
    jobs: dict[tuple[str, str], list[str]] = {}
    for task in TASKS:
        for source in SOURCES:
            name = m.model(task, source)
            common = ["--config", str(m.config), "--model", name]
            jobs[("report", name)] = ["report", *common, "--window", SHORT_WINDOW, "--now", str(m.now),
                                      "--out", str(m.folder / f"{name}.html")]
            jobs[("sagemaker", name)] = ["check", *common, "--now", str(m.now), "--format",
                                         "sagemaker-violations", "--window", SHORT_WINDOW]
            jobs[("baseline", name)] = ["baseline", *common, "--out", str(m.folder / f"{name}.baseline.json")]
    with ThreadPoolExecutor(2) as pool:
        for key, done in zip(jobs, pool.map(lambda args: _run(args, m.folder), jobs.values()), strict=True):
            m.runs[key] = done
    data = yaml.safe_load(m.config.read_text())
    for model in data["models"]:
        model["baseline"] = f"{model['name']}.baseline.json"
        del model["reference"]
    baselined = m.folder / "from-baseline.yaml"
    baselined.write_text(yaml.safe_dump({**data, "state_dir": str(m.folder / "state-b")}, sort_keys=False))
    m.runs[("check-baseline", "")] = _run(["check", "--config", str(baselined), "--now", str(m.now), "--format",
                                           "json"], m.folder)
    m.runs[("backtest", "")] = _run(["backtest", "--config", str(m.config), "--from", str(m.now - 3600), "--to",
                                     str(m.now), "--step", "5m", "--format", "json", "--openmetrics",
                                     str(m.folder / "backtest.om")], m.folder)


CELLS = [(task, source) for task in TASKS for source in SOURCES]


def _ok(done: subprocess.CompletedProcess[str], cell: str) -> None:
    assert "Traceback" not in done.stderr, f"{cell}: a traceback\n{done.stderr[-3000:]}"
    assert done.returncode in (0, 1), f"{cell}: exit {done.returncode}\n{done.stderr[-3000:]}"


def test_check_runs_cleanly_over_every_model(matrix: Matrix) -> None:
    _ok(matrix.runs[("check", "")], "check")
    assert set(matrix.check) == {matrix.model(t, s) for t, s in CELLS}
    for name, samples in matrix.check.items():
        rows = samples[("model_window_rows", (("window", SHORT_WINDOW),))]
        assert rows == 900, f"{name}: check sees {rows} rows of the 900 logged once"


#: The signals of the model's world each task exports on the conformance log: (metric, a label it carries).
WORLD_SIGNALS: dict[str, tuple[tuple[str, tuple[str, str] | None], ...]] = {
    "binary": (("model_label_drift_score", None), ("model_multivariate_drift_score", None),
               ("model_performance_estimation_gap", ("metric", "accuracy")), ("model_low_confidence_ratio", None),
               ("model_prediction_drift_score", ("output", "confidence"))),
    "multiclass": (("model_label_drift_score", None), ("model_multivariate_drift_score", None),
                   ("model_performance_estimation_gap", ("metric", "accuracy")), ("model_low_confidence_ratio", None),
                   ("model_prediction_drift_score", ("output", "confidence"))),
    "regression": (("model_label_drift_score", None), ("model_multivariate_drift_score", None),
                   ("model_estimated_performance", ("metric", "mae")),
                   ("model_performance_estimation_gap", ("metric", "rmse"))),
}


@pytest.mark.parametrize("task, source", CELLS, ids=lambda v: str(v))
def test_the_models_world_is_watched_in_every_cell(matrix: Matrix, task: str, source: str) -> None:
    """Label drift, multivariate drift, the estimation gap, DLE and the confidence are on ``check``'s output of
    every task and source, but where the docs say they cannot be (pushdown fetches no features)."""
    samples = matrix.check[matrix.model(task, source)]
    for metric, label in WORLD_SIGNALS[task]:
        present = any(name == metric and (label is None or label in labels) for name, labels in samples)
        expected = not _excepted(source, (metric, (label,) if label else ()))
        assert present == expected, f"{task}/{source}: {metric} {label or ''} {'absent' if expected else 'present'}"


@pytest.mark.parametrize("task, source", [c for c in CELLS if c[1] != "jsonl"], ids=lambda v: str(v))
def test_every_source_gives_the_metrics_of_json_lines(matrix: Matrix, task: str, source: str) -> None:
    expected, got = matrix.check[matrix.model(task, "jsonl")], matrix.check[matrix.model(task, source)]
    allowed = {k for k in set(expected) | set(got) if _excepted(source, k)}
    differences = _differences({k: v for k, v in expected.items() if k not in allowed},
                               {k: v for k, v in got.items() if k not in allowed}, TIMING)
    assert not differences, f"{task}/{source}/check differs from {task}/jsonl:\n" + "\n".join(differences[:30])


@pytest.mark.parametrize("task, source", CELLS, ids=lambda v: str(v))
def test_report_shows_what_check_says_of_the_window(matrix: Matrix, task: str, source: str) -> None:
    name = matrix.model(task, source)
    done = matrix.runs[("report", name)]
    _ok(done, f"{task}/{source}/report")
    assert done.returncode == 0, f"{task}/{source}/report: exit {done.returncode}: {done.stderr[-2000:]}"
    page = html.unescape((matrix.folder / f"{name}.html").read_text())
    lines = [line for line in matrix.failed_checks
             if line.startswith(f"{name} {SHORT_WINDOW}:") or (line.startswith(f"{name}:"))]
    for line in lines:
        assert line in page, f"{task}/{source}/report: the failed check {line!r} of check is not on the page"
    rows = int(matrix.check[name][("model_window_rows", (("window", SHORT_WINDOW),))])
    assert re.search(rf"\b{rows:,}\b|\b{rows}\b", page), f"{task}/{source}/report: {rows} rows not shown"
    for (metric, labels), value in matrix.check[name].items():
        if metric == "model_feature_drift_score" and dict(labels)["window"] == SHORT_WINDOW \
                and not dict(labels).get("segment"):
            assert f"{value:.4g}" in page, \
                f"{task}/{source}/report: drift of {dict(labels)['feature']} ({value:.4g}) not on the page"


@pytest.mark.parametrize("task, source", CELLS, ids=lambda v: str(v))
def test_sagemaker_violations_agree_across_sources(matrix: Matrix, task: str, source: str) -> None:
    done = matrix.runs[("sagemaker", matrix.model(task, source))]
    _ok(done, f"{task}/{source}/sagemaker-violations")
    def shown(violations: list[dict[str, str]]) -> set[str]:
        if source == "pushdown":  # the extra columns' count: see SOURCE_EXCEPTIONS
            violations = [{**v, "description": ""} if v["constraint_check_type"] == "extra_column_check" else v
                          for v in violations]
        return {json.dumps(v, sort_keys=True) for v in violations}

    got = shown(json.loads(done.stdout)["violations"])
    base = shown(json.loads(matrix.runs[("sagemaker", matrix.model(task, "jsonl"))].stdout)["violations"])
    assert got == base, f"{task}/{source}/sagemaker-violations differ from jsonl: only here {sorted(got - base)}, " \
                        f"only in jsonl {sorted(base - got)}"


@pytest.mark.parametrize("task, source", CELLS, ids=lambda v: str(v))
def test_check_from_a_baseline_equals_check_from_the_reference(matrix: Matrix, task: str, source: str) -> None:
    name = matrix.model(task, source)
    _ok(matrix.runs[("baseline", name)], f"{task}/{source}/baseline")
    assert matrix.runs[("baseline", name)].returncode == 0
    done = matrix.runs[("check-baseline", "")]
    _ok(done, "check from baselines")
    got = _samples(json.loads(done.stdout)["metrics"])[name]
    differences = _differences(matrix.check[name], got, TIMING)
    assert not differences, f"{task}/{source}/baseline+check differs from check:\n" + "\n".join(differences[:30])


def _openmetrics_at(path: Path, instant: float) -> dict[str, dict[Key, float]]:
    """The samples a backtest wrote for ``instant``, by model."""
    pattern = re.compile(r'^(\w+)\{(.*)\} (\S+) (\S+)$')
    label = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
    out: list[dict[str, Any]] = []
    for line in path.read_text().splitlines():
        match = pattern.match(line)
        if match and abs(float(match.group(4)) - instant) < 1e-3:
            labels = {k: v for k, v in label.findall(match.group(2)) if k not in ("job", "instance")}
            out.append({"name": match.group(1), "labels": labels, "value": float(match.group(3))})
    return _samples(out)


@pytest.mark.parametrize("task, source", CELLS, ids=lambda v: str(v))
def test_backtest_at_its_last_step_equals_check_at_that_instant(matrix: Matrix, task: str, source: str) -> None:
    done = matrix.runs[("backtest", "")]
    _ok(done, "backtest")
    name = matrix.model(task, source)
    replayed = _openmetrics_at(matrix.folder / "backtest.om", matrix.now)[name]
    windowed = {k: v for k, v in matrix.check[name].items() if dict(k[1]).get("window")}
    replayed = {k: v for k, v in replayed.items() if dict(k[1]).get("window")}
    differences = _differences(windowed, replayed, TIMING)
    assert not differences, f"{task}/{source}/backtest differs from check at --now:\n" + "\n".join(differences[:30])
    alerts = json.loads(done.stdout)["alerts"]
    schema = [a for a in alerts if a["alert"] == "ModelSchemaViolations" and a["model"] == name]
    assert not schema, f"{task}/{source}/backtest: extra columns must not page: {schema}"


def _scrape(port: int) -> dict[str, dict[Key, float]]:
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(f"http://{LOOPBACK}:{port}/metrics", timeout=10).text
    samples = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if "model" in s.labels:
                samples.append({"name": s.name, "labels": s.labels, "value": s.value})
    return _samples(samples)


def test_serve_at_an_instant_equals_check_at_that_instant(matrix: Matrix) -> None:
    """Scraped once every model has read all its rows; ``check --now`` at the scrape's instant then gives
    every windowed sample of every cell."""
    port = free_port()
    exporter = start_exporter(matrix.config, port, matrix.folder / "serve.log")
    try:
        def caught_up() -> dict[str, dict[Key, float]] | None:
            scraped = _scrape(port)
            complete = all(scraped.get(matrix.model(t, s), {}).get(("model_window_rows", (("window", SHORT_WINDOW),)))
                           == 900 for t, s in CELLS)
            return scraped if complete else None

        wait_for(caught_up, 120, "every model to read its rows")
        time.sleep(2.5)  # labels, read in the same updates, a few ticks more
        instant = time.time()
        scraped = _scrape(port)
        traceback = "Traceback" in exporter.output()
    finally:
        exporter.stop()
    assert not traceback, exporter.output()[-3000:]
    done = _run(["check", "--config", str(matrix.config), "--now", str(instant), "--format", "json"], matrix.folder)
    _ok(done, "check at the scrape's instant")
    checked = _samples(json.loads(done.stdout)["metrics"])
    failures = []
    for task, source in CELLS:
        name = matrix.model(task, source)
        expected = {k: v for k, v in checked[name].items() if dict(k[1]).get("window")}
        got = {k: v for k, v in scraped[name].items() if dict(k[1]).get("window")}
        failures += [f"{task}/{source}/serve: {d}" for d in _differences(expected, got, TIMING)]
    assert not failures, "\n".join(failures[:40])
