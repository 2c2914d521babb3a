"""Translation of snapshots into Prometheus metric families: the only place that knows metric names.

:data:`~exporter.publish.catalogue.METRICS` is the metric catalogue: every family the exporter
serves, its type, labels and help. :func:`build_families` turns snapshots into
samples of those families, and :meth:`Sample.line` formats them in the text
format directly (escaping and numbers as prometheus_client writes them, without importing it:
``check`` and ``report`` print metrics and need no HTTP server).
:class:`SnapshotStore` holds the latest :class:`~exporter.summary.results.ModelSnapshot`
of every model; an update replaces one model's snapshot whole and renders its
sample lines once, so a scrape (:mod:`exporter.publish.http`) only joins prepared text.
Counters of a vocabulary (:mod:`exporter.values.vocabulary`) start at 0 for every
member, so ``rate()`` and ``increase()`` see the first event.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from exporter.components.checks import BY_NAME
from exporter.publish.catalogue import METRICS, MetricDoc
from exporter.summary.results import Histogram, ModelSnapshot, WindowResult
from exporter.values.vocabulary import ErrorStage, JoinDrop, RejectReason


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
        return self.versioned_exposition_text()[1]

    def versioned_exposition_text(self) -> tuple[int, str]:
        """The text of :meth:`exposition_text` and the version of the snapshots it shows (rendered once per
        version: what a scrape derives from it can be cached by that number)."""
        with self._lock:
            version, rendered = self.version, self._rendered
            if self._text[0] == version:
                return self._text
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
        return version, text


def _header(name: str, doc: MetricDoc) -> str:
    help_text = doc.help.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {help_text}\n# TYPE {name} {doc.kind}\n"


def go_float(value: float) -> str:
    """``value`` as Prometheus' text format writes it, the same text as prometheus_client's
    ``floatToGoString`` (Go's exponent form for large positive numbers, ``+Inf``, ``-Inf``, ``NaN``)."""
    value = float(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(value)
    dot = text.find(".")
    if value > 0 and dot > 6:  # Go switches to exponents sooner than Python
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1:]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float

    def line(self) -> str:
        """The sample in the text format (version 0.0.4), labels sorted by name as prometheus_client writes them."""
        if self.labels:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(self.labels.items()))
            return f"{self.name}{{{labels}}} {go_float(self.value)}\n"
        return f"{self.name} {go_float(self.value)}\n"


@dataclass
class Family:
    """The samples of one metric of :data:`METRICS` (``name`` as exposed: counters end in ``_total``)."""

    name: str
    samples: list[Sample]


def render_samples(families: Iterable[Family]) -> dict[str, str]:
    """Sample lines of each family in the text format, keyed by family name, without headers."""
    return {family.name: "".join(sample.line() for sample in family.samples) for family in families}


class _Families:
    """Families under construction, filled with samples whose labels are given by name."""

    def __init__(self) -> None:
        self.families: dict[str, Family] = {}

    def _add(self, family: str, sample: str, labels: dict[str, str], value: float) -> None:
        if family not in self.families:
            assert family in METRICS, f"{family} is not in the metric catalogue"
            self.families[family] = Family(family, [])
        self.families[family].samples.append(Sample(sample, labels, float(value)))

    def gauge(self, name: str, labels: dict[str, str], value: float | None) -> None:
        if value is not None and not math.isnan(value):
            self._add(name, name, labels, value)

    def counter(self, name: str, labels: dict[str, str], value: float) -> None:
        self._add(name, name, labels, value)

    def zero_based(self, name: str, labels: dict[str, str], label: str, members: Iterable[str],
                   counts: dict[str, int]) -> None:
        """A counter per member of a vocabulary (at 0 until it happens) and per other key counted."""
        for member in sorted({str(m) for m in members} | {str(k) for k in counts}):
            self.counter(name, {**labels, label: member}, counts.get(member, 0))

    def histogram(self, name: str, labels: dict[str, str], histogram: Histogram) -> None:
        for bound, count in histogram.buckets:
            self._add(name, f"{name}_bucket", {**labels, "le": go_float(bound)}, count)
        self._add(name, f"{name}_count", labels, histogram.count)
        self._add(name, f"{name}_sum", labels, histogram.total)

    def ordered(self) -> list[Family]:
        return [self.families[name] for name in METRICS if name in self.families]


def build_families(snapshots: Iterable[ModelSnapshot]) -> list[Family]:
    """All metric families for ``snapshots``."""
    f = _Families()
    for s in snapshots:
        m = {"model": s.model}
        _model_samples(f, m, s)
        for w in s.windows:
            _window_samples(f, m, w)
        _data_and_label_samples(f, m, s)
        _monitor_samples(f, m, s)
    return f.ordered()


def _model_samples(f: _Families, m: dict[str, str], s: ModelSnapshot) -> None:
    """The model's traffic, identity, and the thresholds that do not depend on a window."""
    f.counter("model_predictions_total", m, s.predictions_total)
    if s.latency is not None:
        f.histogram("model_prediction_latency_seconds", m, s.latency)
    if s.prediction_errors is not None:
        f.counter("model_prediction_errors_total", m, s.prediction_errors)
    f.gauge("model_info", {**m, "version": s.version, "trained_at": s.trained_at}, 1)
    f.gauge("model_age_seconds", m, s.age_seconds)
    f.gauge("model_max_age_seconds", m, s.max_age_seconds)
    f.gauge("model_dataset_drift_share_threshold_ratio", m, s.dataset_drift_share)
    for t in s.thresholds:
        f.gauge("model_feature_drift_threshold", {**m, "feature": t.feature, "method": t.method}, t.value)
    for q in s.quality_thresholds:
        f.gauge("model_data_quality_threshold_ratio", {**m, "feature": q.feature, "check": q.check}, q.value)
    for output, method, value in s.output_thresholds:
        f.gauge("model_prediction_drift_threshold", {**m, "method": method, "output": output}, value)
    f.gauge("model_low_confidence_threshold", m, s.low_confidence)
    f.gauge("model_multivariate_reference_error", m, s.multivariate_reference_error)
    if s.label_drift_threshold is not None:
        f.gauge("model_label_drift_threshold", {**m, "method": s.label_drift_threshold[0]}, s.label_drift_threshold[1])
    for label, seconds in s.windows_seconds:
        f.gauge("model_window_seconds", {**m, "window": label}, seconds)
    for metric, value in sorted(s.reference_performance.items()):
        f.gauge("model_reference_performance", {**m, "metric": metric}, value)
    for metric, value in sorted(s.performance_thresholds.items()):
        f.gauge("model_performance_threshold", {**m, "metric": metric}, value)


def _data_and_label_samples(f: _Families, m: dict[str, str], s: ModelSnapshot) -> None:
    """Schema violations, the label join and label delay, score calibration and segment overflow."""
    for check, feature in sorted(set(s.violation_keys) | set(s.violations)):
        f.counter("model_data_quality_violations_total", {**m, "check": check, "feature": feature},
                  s.violations.get((check, feature), 0))
    if s.label_delay is not None:
        f.histogram("model_label_delay_seconds", m, s.label_delay)
    if s.pending_labels is not None:
        f.gauge("model_label_pending", {**m, "kind": "prediction"}, s.pending_labels[0])
        f.gauge("model_label_pending", {**m, "kind": "label"}, s.pending_labels[1])
    if s.join_dropped is not None:
        f.zero_based("model_label_join_dropped_total", m, "reason", JoinDrop, s.join_dropped)
    f.gauge("model_score_calibration_error", m, s.calibration_error)
    if s.calibrated is not None:
        f.gauge("model_score_calibrated", m, int(s.calibrated))
    for column, count in sorted(s.segment_other.items()):
        f.counter("model_segment_other_rows_total", {**m, "column": column}, count)


def _monitor_samples(f: _Families, m: dict[str, str], s: ModelSnapshot) -> None:
    """The monitor's own health: its last update, errors by stage and component, rejected rows, lost files."""
    f.gauge("model_monitor_last_success_timestamp_seconds", m, s.last_success)
    f.gauge("model_monitor_last_run_duration_seconds", m, s.last_duration)
    f.gauge("model_monitor_last_run_success", m, int(s.up))
    f.zero_based("model_monitor_errors_total", m, "stage", ErrorStage, s.errors)
    f.zero_based("model_monitor_component_errors_total", m, "component", s.component_errors,
                 s.component_errors)
    f.zero_based("model_monitor_rejected_rows_total", m, "reason", RejectReason, s.rejected)
    for log_name, (lost_bytes, lost_files) in sorted(s.lost.items()):
        f.counter("model_monitor_lost_files_total", {**m, "log": log_name}, lost_files)
        f.counter("model_monitor_unread_bytes_total", {**m, "log": log_name}, lost_bytes)


def _window_samples(f: _Families, model: dict[str, str], w: WindowResult) -> None:
    base = {**model, "window": w.window}
    if w.segment:
        base["segment"] = w.segment
    f.gauge("model_window_rows", base, w.rows)
    f.gauge("model_drifted_features_ratio", base, w.drifted_ratio)
    if w.multivariate_drift is not None:
        f.gauge("model_multivariate_drift_score", base, w.multivariate_drift.score)
        f.gauge("model_multivariate_drift_window_threshold", {**base, "bound": "lower"}, w.multivariate_drift.lower)
        f.gauge("model_multivariate_drift_window_threshold", {**base, "bound": "upper"}, w.multivariate_drift.upper)
    _feature_samples(f, base, w)
    _output_and_label_samples(f, base, w)
    for verdict in w.verdicts:  # the checks that export their verdict (drift, whose direction depends on the method)
        metric = BY_NAME[verdict.check].verdict_metric
        if metric is not None:
            f.gauge(metric, {**base, **dict(verdict.subject)}, int(verdict.failed))
    f.gauge("model_prediction_out_of_range_ratio", base, w.prediction_out_of_range)
    _performance_samples(f, base, w)
    f.gauge("model_label_coverage_ratio", base, w.label_coverage)
    for percentile, value in w.label_delay_quantiles.items():
        f.gauge("model_window_label_delay_seconds", {**base, "percentile": percentile}, value)
    f.gauge("model_window_labelled_rows", base, w.labelled_rows)


def _feature_samples(f: _Families, base: dict[str, str], w: WindowResult) -> None:
    """Each feature's data quality, drift and drift impact in the window."""
    for fw in w.features:
        labels = {**base, "feature": fw.feature}
        f.gauge("model_feature_missing_ratio", labels, fw.missing_ratio)
        f.gauge("model_feature_out_of_range_ratio", labels, fw.out_of_range_ratio)
        f.gauge("model_feature_new_category_ratio", labels, fw.new_category_ratio)
        if fw.kind == "numeric":
            f.gauge("model_feature_type_violation_ratio", labels, fw.type_violation_ratio)
        for check, limit in fw.quality_limits.items():
            f.gauge("model_data_quality_window_threshold_ratio", {**labels, "check": check}, limit)
        if fw.drift is not None:
            f.gauge("model_feature_drift_score", {**labels, "method": fw.drift.method}, fw.drift.score)
            f.gauge("model_feature_drift_window_threshold", {**labels, "method": fw.drift.method}, fw.drift.threshold)
        if fw.impact is not None:
            f.gauge("model_feature_drift_impact", labels, fw.impact)


def _output_and_label_samples(f: _Families, base: dict[str, str], w: WindowResult) -> None:
    """Drift of what the model said and of the labels that arrived."""
    for od in w.prediction_drift:
        f.gauge("model_prediction_drift_score", {**base, "method": od.method, "output": od.output}, od.score)
        f.gauge("model_prediction_drift_window_threshold", {**base, "method": od.method, "output": od.output},
                od.threshold)
    f.gauge("model_low_confidence_ratio", base, w.low_confidence_ratio)
    if w.label_drift is not None:
        f.gauge("model_label_drift_score", {**base, "method": w.label_drift.method}, w.label_drift.score)
        f.gauge("model_label_drift_window_threshold", {**base, "method": w.label_drift.method},
                w.label_drift.threshold)


def _performance_samples(f: _Families, base: dict[str, str], w: WindowResult) -> None:
    """Realized and estimated performance in the window, with the thresholds in force."""
    for metric, value in sorted(w.performance.items()):
        f.gauge("model_performance", {**base, "metric": metric}, value)
    for metric, value in sorted(w.performance_limits.items()):
        f.gauge("model_performance_window_threshold", {**base, "metric": metric}, value)
    for metric, value in sorted(w.estimated_performance.items()):
        f.gauge("model_estimated_performance", {**base, "metric": metric}, value)
    for metric, value in sorted(w.estimated_performance_limits.items()):
        f.gauge("model_estimated_performance_window_threshold", {**base, "metric": metric}, value)
    for metric, value in sorted(w.estimation_gap.items()):
        f.gauge("model_performance_estimation_gap", {**base, "metric": metric}, value)
    for metric, value in sorted(w.estimation_gap_limits.items()):
        f.gauge("model_performance_estimation_gap_window_threshold", {**base, "metric": metric}, value)
    for kind, errors in (("realized", w.performance_sampling_error),
                         ("estimated", w.estimated_performance_sampling_error)):
        for metric, value in sorted(errors.items()):
            f.gauge("model_performance_sampling_error", {**base, "kind": kind, "metric": metric}, value)
    for kind, matrix in (("realized", w.confusion_matrix), ("estimated", w.estimated_confusion_matrix)):
        if matrix is not None:
            for i, actual in enumerate(matrix.classes):
                for j, predicted in enumerate(matrix.classes):
                    f.gauge("model_confusion_matrix", {**base, "kind": kind, "actual": actual, "predicted": predicted},
                            float(matrix.counts[i, j]))


def families_as_json(families: Iterable[Family]) -> list[dict[str, object]]:
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
