"""Translation of snapshots into Prometheus metric families: the only place that knows metric names.

:class:`SnapshotStore` holds the latest :class:`~exporter.results.ModelSnapshot`
of every model; an update replaces one model's snapshot whole. The scrape goes
through :class:`SnapshotCollector`, which builds families from the snapshots
(once per new set of snapshots, then from cache) and computes nothing else.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.results import ModelSnapshot

#: Stages and reasons exposed at 0 from the start, so ``rate()`` and ``increase()`` see the first error.
KNOWN_STAGES = ("read", "ingest", "compute", "state")
KNOWN_REASONS = ("malformed_json", "malformed_csv", "missing_timestamp", "bad_timestamp", "future_timestamp",
                 "unreadable_file", "ingest_error")


@dataclass(frozen=True)
class MetricDoc:
    name: str
    kind: str
    labels: tuple[str, ...]
    help: str


#: Every family the exporter serves. README's metric table and the tests are checked against it.
METRICS: dict[str, MetricDoc] = {
    m.name: m
    for m in (
        MetricDoc("model_predictions_total", "counter", ("model",), "Prediction rows ingested."),
        MetricDoc("model_prediction_latency_seconds", "histogram", ("model",),
                  "Prediction latency logged with each prediction."),
        MetricDoc("model_window_rows", "gauge", ("model", "window"), "Prediction rows in the window."),
        MetricDoc("model_feature_drift_score", "gauge", ("model", "window", "feature", "method"),
                  "Drift statistic of the feature in the window against the reference "
                  "(p-value for chi2, distance or statistic otherwise)."),
        MetricDoc("model_feature_drift_threshold", "gauge", ("model", "feature", "method"),
                  "Threshold of the feature's drift statistic (drift above it; below it for p-values)."),
        MetricDoc("model_feature_drifted", "gauge", ("model", "window", "feature"),
                  "1 when the feature's configured drift test says drift in the window, else 0."),
        MetricDoc("model_drifted_features_ratio", "gauge", ("model", "window"),
                  "Share of the features with a drift verdict that drifted in the window."),
        MetricDoc("model_dataset_drifted", "gauge", ("model", "window"),
                  "1 when the share of drifted features reaches the configured dataset share, else 0."),
        MetricDoc("model_dataset_drift_share_threshold_ratio", "gauge", ("model",),
                  "Share of drifted features at which the dataset counts as drifted."),
        MetricDoc("model_feature_missing_ratio", "gauge", ("model", "window", "feature"),
                  "Share of the window's rows where the feature is missing."),
        MetricDoc("model_feature_new_category_ratio", "gauge", ("model", "window", "feature"),
                  "Share of the window's rows with a category unseen in the reference."),
        MetricDoc("model_feature_out_of_range_ratio", "gauge", ("model", "window", "feature"),
                  "Share of the window's rows outside the reference range [min, max]."),
        MetricDoc("model_feature_type_violation_ratio", "gauge", ("model", "window", "feature"),
                  "Share of the window's rows whose numeric feature is not a finite number."),
        MetricDoc("model_data_quality_threshold_ratio", "gauge", ("model", "feature", "check"),
                  "Ratio above which a data-quality check fails (completeness: missing ratio, "
                  "categorical_values: new-category ratio, out_of_range: out-of-range ratio)."),
        MetricDoc("model_data_quality_violations_total", "counter", ("model", "check", "feature"),
                  "Schema violations by check (missing_column, extra_column, data_type)."),
        MetricDoc("model_monitor_last_success_timestamp_seconds", "gauge", ("model",),
                  "Unix time at the end of the model's last successful update."),
        MetricDoc("model_monitor_last_run_duration_seconds", "gauge", ("model",),
                  "Duration of the model's last update."),
        MetricDoc("model_monitor_last_run_success", "gauge", ("model",),
                  "1 when the model's last update succeeded, else 0."),
        MetricDoc("model_monitor_errors_total", "counter", ("model", "stage"),
                  "Failures while reading or computing, by stage."),
        MetricDoc("model_monitor_rejected_rows_total", "counter", ("model", "reason"),
                  "Rows that could not be used, by reason."),
    )
}


class SnapshotStore:
    """The latest snapshot of every model, replaced whole; readers never see a half update.

    Publishing also renders the model's sample lines in the text format once,
    in the updating thread, so a scrape only joins prepared strings
    (:meth:`exposition_text`).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: dict[str, ModelSnapshot] = {}
        self._rendered: dict[str, dict[str, str]] = {}
        self._text: tuple[int, str] = (-1, "")
        self.version = 0

    def publish(self, snapshot: ModelSnapshot) -> None:
        rendered = render_samples(build_families([snapshot]))
        with self._lock:
            snapshots = dict(self._snapshots)
            snapshots[snapshot.model] = snapshot
            lines = dict(self._rendered)
            lines[snapshot.model] = rendered
            self._snapshots, self._rendered = snapshots, lines
            self.version += 1

    def current(self) -> tuple[int, dict[str, ModelSnapshot]]:
        with self._lock:
            return self.version, self._snapshots

    def exposition_text(self) -> str:
        """Every model's metrics in the Prometheus text format (version 0.0.4)."""
        with self._lock:
            version, rendered = self.version, self._rendered
            if self._text[0] == version:
                return self._text[1]
        parts = []
        for name, doc in METRICS.items():
            samples = [r[name] for _, r in sorted(rendered.items()) if name in r]
            if samples:
                parts.append(_header(name, doc))
                parts.extend(samples)
        text = "".join(parts)
        with self._lock:
            if self.version == version:
                self._text = (version, text)
        return text


def _header(name: str, doc: MetricDoc) -> str:
    help_text = doc.help.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {help_text}\n# TYPE {name} {doc.kind}\n"


def render_samples(families: Iterable[Metric]) -> dict[str, str]:
    """Sample lines of each family in the text format, keyed by exposed family name, without headers.

    Uses prometheus_client's own formatter, so escaping and number formatting are its.
    """
    from prometheus_client import CollectorRegistry, generate_latest

    out: dict[str, str] = {}
    for family in families:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Static([family]))
        text = generate_latest(registry).decode()
        name = family.name + "_total" if family.type == "counter" else family.name
        out[name] = "".join(line + "\n" for line in text.splitlines() if line and not line.startswith("#"))
    return out


class _Static(Collector):
    def __init__(self, families: list[Metric]):
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def _family(name: str) -> Metric:
    doc = METRICS[name]
    if doc.kind == "counter":
        return CounterMetricFamily(name.removesuffix("_total"), doc.help, labels=doc.labels)
    if doc.kind == "histogram":
        return HistogramMetricFamily(name, doc.help, labels=doc.labels)
    return GaugeMetricFamily(name, doc.help, labels=doc.labels)


def build_families(snapshots: Iterable[ModelSnapshot]) -> list[Metric]:
    """All metric families for ``snapshots``."""
    f = {name: _family(name) for name in METRICS}

    def gauge(name: str, labels: list[str], value: float | None) -> None:
        if value is not None and not math.isnan(value):
            f[name].add_metric(labels, float(value))

    for s in snapshots:
        m = s.model
        f["model_predictions_total"].add_metric([m], s.predictions_total)
        if s.latency is not None:
            buckets = [(_bound(le), count) for le, count in s.latency.buckets]
            f["model_prediction_latency_seconds"].add_metric([m], buckets, s.latency.total)
        gauge("model_dataset_drift_share_threshold_ratio", [m], s.dataset_drift_share)
        for t in s.thresholds:
            gauge("model_feature_drift_threshold", [m, t.feature, t.method], t.value)
        for q in s.quality_thresholds:
            gauge("model_data_quality_threshold_ratio", [m, q.feature, q.check], q.value)
        for w in s.windows:
            gauge("model_window_rows", [m, w.window], w.rows)
            gauge("model_drifted_features_ratio", [m, w.window], w.drifted_ratio)
            if w.dataset_drifted is not None:
                gauge("model_dataset_drifted", [m, w.window], int(w.dataset_drifted))
            for fw in w.features:
                labels = [m, w.window, fw.feature]
                gauge("model_feature_missing_ratio", labels, fw.missing_ratio)
                gauge("model_feature_out_of_range_ratio", labels, fw.out_of_range_ratio)
                gauge("model_feature_new_category_ratio", labels, fw.new_category_ratio)
                if fw.kind == "numeric":
                    gauge("model_feature_type_violation_ratio", labels, fw.type_violation_ratio)
                if fw.drift is not None:
                    gauge("model_feature_drift_score", [*labels, fw.drift.method], fw.drift.score)
                    gauge("model_feature_drifted", labels, int(fw.drift.drifted))
        for (check, feature), count in sorted(s.violations.items()):
            f["model_data_quality_violations_total"].add_metric([m, check, feature], count)
        gauge("model_monitor_last_success_timestamp_seconds", [m], s.last_success)
        gauge("model_monitor_last_run_duration_seconds", [m], s.last_duration)
        gauge("model_monitor_last_run_success", [m], int(s.up))
        for stage in sorted(set(KNOWN_STAGES) | set(s.errors)):
            f["model_monitor_errors_total"].add_metric([m, stage], s.errors.get(stage, 0))
        for reason in sorted(set(KNOWN_REASONS) | set(s.rejected)):
            f["model_monitor_rejected_rows_total"].add_metric([m, reason], s.rejected.get(reason, 0))
    return [family for family in f.values() if family.samples]


def _bound(value: float) -> str:
    return "+Inf" if math.isinf(value) else repr(float(value))


class SnapshotCollector(Collector):
    """A prometheus_client collector serving the store's snapshots; families cached per version."""

    def __init__(self, store: SnapshotStore):
        self.store = store
        self._cache: tuple[int, list[Metric]] = (-1, [])
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        version, snapshots = self.store.current()
        with self._lock:
            if self._cache[0] != version:
                self._cache = (version, build_families(snapshots.values()))
            families = self._cache[1]
        yield from families


def families_as_json(families: Iterable[Metric]) -> list[dict[str, object]]:
    """Samples as plain dicts, for ``model-monitor check --format json``."""
    out: list[dict[str, object]] = []
    for family in families:
        for sample in family.samples:
            value = sample.value
            out.append({
                "name": sample.name,
                "labels": dict(sample.labels),
                "value": None if math.isnan(value) else ("+Inf" if math.isinf(value) else value),
            })
    return out
