"""``model-monitor backtest``: replay a period of the logs and report every alert that would have fired.

Thresholds are tuned on history, not on the first night on call. The replay runs the same code as
``serve``: each model's logs are read once, and rows become visible at their timestamps: at each
step (``--step``, default 5m) from ``--from`` to ``--to`` the rows stamped since the previous step
are ingested and every window ending at the step is evaluated. Labels become visible at the
timestamp their row carries in the predictions' timestamp column when the labels log has one, else
with their prediction (the replay then knows them as soon as they could be joined).

The alert conditions are those of the shipped rules, from the same checks table
(:data:`exporter.components.checks.CHECKS`), on the window each rule watches (shortest or longest, as
:class:`exporter.mixin.MixinConfig` says) and with its ``for:`` duration: a condition pending since
``t0`` fires at the first step ``t`` with ``t - t0 >= for``, and the alert ends at the first step
where the condition no longer holds. ModelSchemaViolations fires on configured columns missing in its
look-back (its row of the table watches an increase of a counter: ``counter_increase``). Alerts on the service
(latency, silence) and on the exporter itself (down, stale) are not replayed: they concern the live process, not
the model's data.

``--openmetrics FILE`` also writes the metrics of every step as OpenMetrics with timestamps, which
``promtool tsdb create-blocks-from openmetrics`` turns into blocks for Prometheus: a team that starts
monitoring a model sees its past in Grafana on day one.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exporter.commands.common import choose_model, load_config_file
from exporter.components.checks import ALERTING, Check
from exporter.config import ConfigError, label_time
from exporter.mixin import DEFAULT, MixinConfig
from exporter.monitor.building import build_monitors
from exporter.monitor.model import ModelMonitor
from exporter.publish.exposition import build_families
from exporter.sources.cursors import SourceError
from exporter.summary.results import ModelSnapshot
from exporter.values.durations import parse_duration, parse_for
from exporter.values.timestamps import parse_timestamps
from exporter.values.vocabulary import CheckName

WEEK = 7 * 86400.0


@dataclass
class AlertInterval:
    model: str
    alert: str
    severity: str
    labels: dict[str, str]
    start: float
    end: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {"model": self.model, "alert": self.alert, "severity": self.severity, "labels": self.labels,
                "start": self.start, "end": self.end}


@dataclass
class AlertEvaluator:
    """The shipped alert rules' conditions and ``for:`` durations, evaluated on a model's snapshots."""

    mixin: MixinConfig = DEFAULT
    intervals: list[AlertInterval] = field(default_factory=list)
    #: Conditions holding now, by alert identity: (time they started holding, firing interval or None).
    _active: dict[tuple[Any, ...], tuple[float, AlertInterval | None]] = field(default_factory=dict)
    #: Schema violation counts seen, per model: (time, counts) for the look-back.
    _violations: dict[str, list[tuple[float, dict[tuple[str, str], int]]]] = field(default_factory=dict)

    def conditions(self, snapshot: ModelSnapshot, now: float) -> dict[tuple[Any, ...], tuple[str, str, dict, float]]:
        """Every alert condition holding in ``snapshot``: identity -> (alert, severity, labels, for seconds)."""
        out: dict[tuple[Any, ...], tuple[str, str, dict, float]] = {}
        if not snapshot.windows_seconds:
            return out
        by_length = sorted(snapshot.windows_seconds, key=lambda w: w[1])
        chosen = {"shortest": by_length[0][0], "longest": by_length[-1][0]}
        for check in ALERTING:
            if check.name == CheckName.UPDATE:  # the live exporter's health: not replayed
                continue
            if check.counter_increase:
                out.update(self._increases(check, snapshot, now))
                continue
            window = chosen[getattr(self.mixin, check.window_setting)]
            for result in snapshot.windows:
                if result.window != window or result.segment:
                    continue
                for verdict in result.verdicts:
                    if verdict.failed and verdict.check == check.name:
                        labels = {"model": snapshot.model, "window": window, **dict(verdict.subject)}
                        key = (check.alert, *sorted(labels.items()))
                        out[key] = (check.alert, check.severity, labels,
                                    parse_for(getattr(self.mixin, check.for_setting)))
        return out

    def _increases(self, check: Check, snapshot: ModelSnapshot,
                   now: float) -> dict[tuple[Any, ...], tuple[str, str, dict, float]]:
        """The conditions of a check on a counter (the schema violations): an increase over its look-back."""
        out: dict[tuple[Any, ...], tuple[str, str, dict, float]] = {}
        history = self._violations.setdefault(snapshot.model, [])
        history.append((now, dict(snapshot.violations)))
        lookback = parse_duration(getattr(self.mixin, check.lookback_setting))
        while len(history) > 1 and history[1][0] <= now - lookback:
            history.pop(0)
        before = history[0][1]  # as increase() over the look-back: from its oldest sample in range
        for (name, feature), count in snapshot.violations.items():
            if name in check.counter_increase and count > before.get((name, feature), 0):
                labels = {"model": snapshot.model, "check": name, "feature": feature}
                out[(check.alert, *sorted(labels.items()))] = (check.alert, check.severity, labels,
                                                               parse_for(getattr(self.mixin, check.for_setting)))
        return out

    def step(self, model: str, snapshot: ModelSnapshot, now: float) -> None:
        holding = self.conditions(snapshot, now)
        for key in [k for k in self._active if self._model_of(k) == model and k not in holding]:
            _, interval = self._active.pop(key)
            if interval is not None:
                interval.end = now
        for key, (alert, severity, labels, duration) in holding.items():
            since, interval = self._active.get(key, (now, None))
            if interval is None and now - since >= duration:
                interval = AlertInterval(model, alert, severity, labels, now)
                self.intervals.append(interval)
            self._active[key] = (since, interval)

    @staticmethod
    def _model_of(key: tuple[Any, ...]) -> str:
        return dict(key[1:]).get("model", "")


def _read_all(monitor: ModelMonitor, source_name: str) -> tuple[pd.DataFrame, np.ndarray, list[pd.Index]]:
    """Every row of a model's predictions or labels log, read once through its source (under ``sql.pushdown``
    too: a replay needs every row, so the batches are read as full rows); with each row's chunk and each
    chunk's columns, so that a column a chunk did not have is missing from it in the replay too (as
    ``serve`` sees it: a ``missing_column``, not missing values)."""
    source = monitor.source if source_name == "predictions" else monitor.label_source
    frames: list[pd.DataFrame] = []
    if source is None:
        return pd.DataFrame(), np.zeros(0, dtype=np.intp), []
    try:
        errors = source.drain(lambda chunk: frames.append(chunk.frame if chunk.batch is None else
                                                          chunk.batch.full_rows()), None)
    except (SourceError, OSError) as error:
        errors = [f"{source.pattern}: {error}"]
    for message in errors:
        print(f"model-monitor backtest: cannot read {message}", file=sys.stderr)
    chunks = np.repeat(np.arange(len(frames), dtype=np.intp), [len(f) for f in frames])
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return frame, chunks, [f.columns for f in frames]


@dataclass
class Timeline:
    """A model's rows and labels, each with the time it becomes visible."""

    predictions: pd.DataFrame
    visible: np.ndarray
    labels: pd.DataFrame
    label_visible: np.ndarray
    #: The chunk each prediction row was read in, and each chunk's columns.
    chunk: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    chunk_columns: list[pd.Index] = field(default_factory=list)

    def rows(self, first: int, last: int) -> Iterator[pd.DataFrame]:
        """Predictions ``first:last``, a frame per chunk they were read in, with that chunk's columns only."""
        rows = self.predictions.iloc[first:last]
        chunks = self.chunk[first:last]
        whole = chunks.size == 0 or ((chunks == chunks[0]).all()
                                     and len(self.chunk_columns[chunks[0]]) == len(self.predictions.columns))
        if whole:
            yield rows
            return
        for chunk in np.unique(chunks):
            yield rows[chunks == chunk][self.chunk_columns[chunk]]


def timeline(monitor: ModelMonitor) -> Timeline:
    config = monitor.config
    column, unit = config.predictions.timestamp_column, config.predictions.timestamp_unit
    predictions, chunk, chunk_columns = _read_all(monitor, "predictions")
    visible = (parse_timestamps(predictions[column], unit) if column in predictions.columns
               else np.full(len(predictions), -math.inf))
    visible = np.where(np.isfinite(visible), visible, -math.inf)  # unusable stamps: counted at the first step
    order = np.argsort(visible, kind="stable")
    predictions, visible, chunk = predictions.iloc[order].reset_index(drop=True), visible[order], chunk[order]
    labels, _, _ = _read_all(monitor, "labels")
    label_visible = np.zeros(len(labels))
    if len(labels):
        # A label becomes visible at its own time (as serve and check measure its delay from it), else with
        # its prediction.
        label_column, label_unit = label_time(config)
        if label_column in labels.columns:
            label_visible = parse_timestamps(labels[label_column], label_unit)
        elif config.predictions.id_column and config.labels is not None:
            stamps = pd.Series(visible, index=predictions[config.predictions.id_column].astype(str))
            stamps = stamps[~stamps.index.duplicated()]
            label_visible = stamps.reindex(labels[config.labels.id_column].astype(str)).to_numpy(dtype=float)
        label_visible = np.where(np.isfinite(label_visible), label_visible, -math.inf)
        order = np.argsort(label_visible, kind="stable")
        labels, label_visible = labels.iloc[order].reset_index(drop=True), label_visible[order]
    return Timeline(predictions, visible, labels, label_visible, chunk, chunk_columns)


def replay(monitor: ModelMonitor, start: float, end: float, step: float) -> Iterator[tuple[float, ModelSnapshot]]:
    """The model's snapshot at every step from ``start`` to ``end``, rows visible at their timestamps."""
    data = timeline(monitor)
    longest = max(w.seconds for w in monitor.config.windows)
    fed = int(np.searchsorted(data.visible, start - longest - step, side="right"))
    fed_labels = int(np.searchsorted(data.label_visible, start - longest - step, side="right"))
    max_delay = monitor.config.labels.max_delay if monitor.config.labels else None
    steps = max(0, math.floor((end - start) / step + 1e-9)) + 1
    for k in range(steps):
        now = start + k * step
        upto = int(np.searchsorted(data.visible, now, side="right"))
        if k == 0 and fed:  # rows older than every window and unusable ones are counted, as serve counts them
            for rows in data.rows(0, fed):
                monitor.ingest(rows, now)
        if upto > fed:
            for rows in data.rows(fed, upto):
                monitor.ingest(rows, now)
            fed = upto
        label_upto = int(np.searchsorted(data.label_visible, now, side="right"))
        if label_upto > fed_labels:
            monitor.ingest_labels(data.labels.iloc[fed_labels:label_upto], now)
            fed_labels = label_upto
        if monitor.config.labels is not None:
            monitor.joiner.expire(now, max_delay or longest)
        yield now, monitor.snapshot(monitor.compute(now), True, now)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class OpenMetricsWriter:
    """Every step's samples, grouped by metric as OpenMetrics requires, with their timestamps."""

    def __init__(self, extra_labels: dict[str, str]):
        self.extra = extra_labels
        self.lines: dict[str, list[str]] = {}

    def add(self, snapshot: ModelSnapshot, now: float) -> None:
        for family in build_families([snapshot]):
            for sample in family.samples:
                labels = {**self.extra, **dict(sample.labels)}
                text = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
                self.lines.setdefault(sample.name, []).append(
                    f"{sample.name}{{{text}}} {_number(sample.value)} {now:.3f}")

    def write(self, path: Path) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            for name, lines in self.lines.items():
                handle.write(f"# TYPE {name} unknown\n")
                handle.write("\n".join(lines))
                handle.write("\n")
            handle.write("# EOF\n")


def summary(intervals: list[AlertInterval], start: float, end: float) -> dict[str, Any]:
    weeks = max((end - start) / WEEK, 1e-9)
    by_severity: dict[str, int] = {}
    by_alert: dict[str, int] = {}
    for interval in intervals:
        by_severity[interval.severity] = by_severity.get(interval.severity, 0) + 1
        by_alert[interval.alert] = by_alert.get(interval.alert, 0) + 1
    return {"from": start, "to": end, "weeks": weeks, "alerts": len(intervals),
            "pages": by_severity.get("critical", 0),
            "alerts_per_week": {severity: count / weeks for severity, count in sorted(by_severity.items())},
            "by_alert": dict(sorted(by_alert.items()))}


def run(monitors: list[ModelMonitor], start: float, end: float, step: float, progress: bool,
        openmetrics: Path | None = None, extra_labels: dict[str, str] | None = None,
        mixin: MixinConfig = DEFAULT) -> dict[str, Any]:
    """Replay every model; the alert intervals and their summary (``{"alerts": [...], "summary": {...}}``)."""
    from tqdm import tqdm  # the progress bar; off when stderr is not a terminal

    evaluator = AlertEvaluator(mixin)
    writer = OpenMetricsWriter(extra_labels or {}) if openmetrics is not None else None
    steps = max(0, math.floor((end - start) / step + 1e-9)) + 1
    with tqdm(total=steps * len(monitors), disable=not progress, unit="step", file=sys.stderr) as bar:
        for monitor in monitors:
            bar.set_description(monitor.config.name)
            for now, snapshot in replay(monitor, start, end, step):
                evaluator.step(monitor.config.name, snapshot, now)
                if writer is not None:
                    writer.add(snapshot, now)
                bar.update(1)
    if writer is not None and openmetrics is not None:
        writer.write(openmetrics)
    intervals = sorted(evaluator.intervals, key=lambda i: (i.start, i.model, i.alert))
    return {"alerts": [i.as_json() for i in intervals], "summary": summary(intervals, start, end)}


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "still firing"
    return pd.Timestamp(epoch, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M:%S")


def render(result: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(result, indent=1) + "\n"
    alerts = result["alerts"]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["model", "alert", "severity", "labels", "start", "end"])
        for a in alerts:
            labels = ",".join(f"{k}={v}" for k, v in a["labels"].items() if k != "model")
            writer.writerow([a["model"], a["alert"], a["severity"], labels, a["start"], a["end"] or ""])
        return out.getvalue()
    lines = []
    for a in alerts:
        labels = " ".join(f"{k}={v}" for k, v in a["labels"].items() if k != "model")
        lines.append(f"{_when(a['start'])}  {_when(a['end']):19}  {a['severity']:8}  {a['model']}  {a['alert']}  "
                     f"{labels}")
    s = result["summary"]
    per_week = ", ".join(f"{count:.1f} {severity}" for severity, count in s["alerts_per_week"].items()) or "none"
    lines.append(f"{s['alerts']} alert(s) over {s['weeks']:.2f} week(s): {per_week} per week; "
                 f"{s['pages']} would have paged (critical)")
    return "\n".join(lines) + "\n"


def cmd_backtest(args: argparse.Namespace) -> int:
    from exporter.values.durations import parse_duration

    config = load_config_file(args.config)
    chosen = choose_model(config, args.config, args.model, required=False)
    if chosen is not None:
        config = config.model_copy(update={"models": [chosen]})
    try:
        step = parse_duration(args.step)
    except ValueError as error:
        raise ConfigError(f"--step: {error}") from None
    if step <= 0 or args.end < args.start:
        raise ConfigError("--step must be positive and --to not before --from")
    monitors = build_monitors(config, str(args.config), persist=False)
    labels = {"job": "model-monitor", "instance": f"{config.server.host}:{config.server.port}"}
    try:
        # A progress bar only on a terminal: none when the output is piped or redirected.
        result = run(monitors, args.start, args.end, step, progress=sys.stderr.isatty() and sys.stdout.isatty(),
                     openmetrics=args.openmetrics, extra_labels=labels)
    except OSError as error:
        raise ConfigError(f"cannot write {args.openmetrics}: {error.strerror or error}") from None
    sys.stdout.write(render(result, args.format))
    return 0
