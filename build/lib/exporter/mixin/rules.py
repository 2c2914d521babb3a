"""Prometheus recording and alerting rules for Model Monitor.

Thresholds come from the exporter's own threshold series
(``model_feature_drift_threshold``, ``model_data_quality_threshold_ratio``,
``model_performance_threshold``, ...), so one rule serves every model and
feature. Every alert has a ``severity`` (critical pages, warning tickets, info),
a ``category`` that Alertmanager's inhibitions use (data, performance, service,
monitor), ``summary`` and ``description`` annotations naming the model (and
feature) and the value, and a ``runbook_url`` into docs/runbooks.md.
"""

from __future__ import annotations

from typing import Any

from exporter.mixin import DEFAULT, MixinConfig

#: Labels identifying one model of one exporter.
MODEL = "job, instance, model"
#: The burn-rate windows of the latency objective (multi-window, multi-burn-rate).
BURN_RATE_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d")


def _window(kind: str) -> str:
    return f"model:window_{kind}:seconds"


def _on_window(kind: str) -> str:
    return f"and on({MODEL}, window) {_window(kind)}"


def recording_rules(c: MixinConfig = DEFAULT) -> list[dict[str, Any]]:
    s = c.job_selector
    le = repr(float(c.latency_objective_seconds))
    rules: list[dict[str, Any]] = [
        {"record": _window("shortest"),
         "expr": f"model_window_seconds{{{s}}} == on({MODEL}) group_left() "
                 f"min by ({MODEL}) (model_window_seconds{{{s}}})"},
        {"record": _window("longest"),
         "expr": f"model_window_seconds{{{s}}} == on({MODEL}) group_left() "
                 f"max by ({MODEL}) (model_window_seconds{{{s}}})"},
        {"record": "model:feature_drift_score_over_threshold:max",
         "expr": f"max by ({MODEL}, window) (\n"
                 f"  (model_feature_drift_score{{{s},segment=\"\",method!=\"chi2\"}}\n"
                 f"    / on({MODEL}, feature, method) group_left model_feature_drift_threshold{{{s}}})\n"
                 f"  or\n"
                 f"  (model_feature_drift_threshold{{{s},method=\"chi2\"}}\n"
                 f"    / on({MODEL}, feature, method) group_right model_feature_drift_score{{{s},segment=\"\","
                 f"method=\"chi2\"}})\n)"},
        {"record": "model:drifted_features:ratio",
         "expr": f"model_drifted_features_ratio{{{s},segment=\"\"}} {_on_window(c.drift_window)}"},
        {"record": "model:predictions:rate5m",
         "expr": f"sum by ({MODEL}) (rate(model_predictions_total{{{s}}}[5m]))"},
    ]
    for window in BURN_RATE_WINDOWS:
        rules.append({
            "record": f"model:prediction_latency_slo_errors:ratio_rate{window}",
            "expr": f"1 - (\n  sum by ({MODEL}) (rate(model_prediction_latency_seconds_bucket{{{s},le=\"{le}\"}}"
                    f"[{window}]))\n  /\n  sum by ({MODEL}) (rate(model_prediction_latency_seconds_count{{{s}}}"
                    f"[{window}]))\n)",
        })
    return rules


def _alert(c: MixinConfig, name: str, expr: str, duration: str, severity: str, category: str, summary: str,
           description: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity, "category": category},
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"{c.runbook_base}#{name.lower()}",
        },
    }


def alerting_rules(c: MixinConfig = DEFAULT) -> list[dict[str, Any]]:
    s = c.job_selector
    budget = 1 - c.latency_slo
    value = "{{ $value | printf \"%.3g\" }}"
    percent = "{{ $value | humanizePercentage }}"
    return [
        _alert(
            c, "ModelFeatureDrift",
            f"(\n  (model_feature_drift_score{{{s},segment=\"\",method!=\"chi2\"}}\n"
            f"    > on({MODEL}, feature, method) group_left model_feature_drift_threshold{{{s}}})\n  or\n"
            f"  (model_feature_drift_score{{{s},segment=\"\",method=\"chi2\"}}\n"
            f"    < on({MODEL}, feature, method) group_left model_feature_drift_threshold{{{s}}})\n"
            f") {_on_window(c.drift_window)}",
            c.drift_for, "warning", "data",
            "Feature {{ $labels.feature }} of model {{ $labels.model }} drifted",
            f"The {{{{ $labels.method }}}} drift score of feature {{{{ $labels.feature }}}} of model "
            f"{{{{ $labels.model }}}} is {value} over the {{{{ $labels.window }}}} window, beyond its threshold "
            f"(model_feature_drift_threshold).",
        ),
        _alert(
            c, "ModelDatasetDrift",
            f"model_drifted_features_ratio{{{s},segment=\"\"}}\n"
            f"  >= on({MODEL}) group_left model_dataset_drift_share_threshold_ratio{{{s}}}\n"
            f"{_on_window(c.drift_window)}",
            c.dataset_drift_for, "critical", "data",
            "Model {{ $labels.model }}: most of its input has drifted",
            f"{percent} of the features of model {{{{ $labels.model }}}} drifted over the "
            f"{{{{ $labels.window }}}} window, at or above the dataset drift share.",
        ),
        _alert(
            c, "ModelPredictionDrift",
            f"(\n  (model_prediction_drift_score{{{s},segment=\"\",method!=\"chi2\"}}\n"
            f"    > on({MODEL}, method, output) group_left model_prediction_drift_threshold{{{s}}})\n  or\n"
            f"  (model_prediction_drift_score{{{s},segment=\"\",method=\"chi2\"}}\n"
            f"    < on({MODEL}, method, output) group_left model_prediction_drift_threshold{{{s}}})\n"
            f") {_on_window(c.drift_window)}",
            c.prediction_drift_for, "warning", "data",
            "Predictions of model {{ $labels.model }} drifted",
            f"The {{{{ $labels.method }}}} drift of the model's {{{{ $labels.output }}}} distribution is {value} "
            f"over the {{{{ $labels.window }}}} window, beyond its threshold (model_prediction_drift_threshold).",
        ),
        _alert(
            c, "ModelMissingValuesSpike",
            f"model_feature_missing_ratio{{{s},segment=\"\"}}\n"
            f"  > on({MODEL}, feature) group_left "
            f"model_data_quality_threshold_ratio{{{s},check=\"completeness\"}}\n{_on_window(c.quality_window)}",
            c.quality_for, "warning", "data",
            "Feature {{ $labels.feature }} of model {{ $labels.model }} is often missing",
            f"{percent} of the rows of model {{{{ $labels.model }}}} lack feature {{{{ $labels.feature }}}} over "
            f"the {{{{ $labels.window }}}} window, more than the reference's missing share plus its tolerance.",
        ),
        _alert(
            c, "ModelNewCategories",
            f"model_feature_new_category_ratio{{{s},segment=\"\"}}\n"
            f"  > on({MODEL}, feature) group_left "
            f"model_data_quality_threshold_ratio{{{s},check=\"categorical_values\"}}\n{_on_window(c.quality_window)}",
            c.quality_for, "warning", "data",
            "Feature {{ $labels.feature }} of model {{ $labels.model }} has categories never seen in training",
            f"{percent} of the rows of model {{{{ $labels.model }}}} carry a value of "
            f"{{{{ $labels.feature }}}} unseen in the reference, over the {{{{ $labels.window }}}} window.",
        ),
        _alert(
            c, "ModelOutOfRangeValues",
            f"model_feature_out_of_range_ratio{{{s},segment=\"\"}}\n"
            f"  > on({MODEL}, feature) group_left "
            f"model_data_quality_threshold_ratio{{{s},check=\"out_of_range\"}}\n{_on_window(c.quality_window)}",
            c.quality_for, "warning", "data",
            "Feature {{ $labels.feature }} of model {{ $labels.model }} is outside its training range",
            f"{percent} of the values of {{{{ $labels.feature }}}} for model {{{{ $labels.model }}}} fall "
            f"outside the reference [min, max], over the {{{{ $labels.window }}}} window.",
        ),
        _alert(
            c, "ModelSchemaViolations",
            f"sum by ({MODEL}, check, feature) "
            f"(increase(model_data_quality_violations_total{{{s}}}[{c.schema_lookback}])) > 0",
            c.schema_for, "warning", "data",
            "Model {{ $labels.model }} receives rows that break its schema ({{ $labels.check }})",
            f"{value} {{{{ $labels.check }}}} violations{{{{ with $labels.feature }}}} on feature {{{{ . }}}}"
            f"{{{{ end }}}} in the last {c.schema_lookback} for model {{{{ $labels.model }}}}: a renamed or "
            f"missing column, or values of the wrong type.",
        ),
        _alert(
            c, "ModelPerformanceDrop",
            f"model_performance{{{s},segment=\"\"}}\n"
            f"  < on({MODEL}, metric) group_left model_performance_threshold{{{s}}}\n"
            f"{_on_window(c.performance_window)}",
            c.performance_for, "critical", "performance",
            "Model {{ $labels.model }}: {{ $labels.metric }} dropped",
            f"Realized {{{{ $labels.metric }}}} of model {{{{ $labels.model }}}} is {value} over the "
            f"{{{{ $labels.window }}}} window, below its threshold (reference performance minus tolerance).",
        ),
        _alert(
            c, "ModelEstimatedPerformanceDrop",
            f"model_estimated_performance{{{s},segment=\"\"}}\n"
            f"  < on({MODEL}, metric) group_left model_performance_threshold{{{s}}}\n"
            f"{_on_window(c.estimated_performance_window)}",
            c.estimated_performance_for, "warning", "performance",
            "Model {{ $labels.model }}: estimated {{ $labels.metric }} dropped",
            f"Estimated (CBPE, without labels) {{{{ $labels.metric }}}} of model {{{{ $labels.model }}}} is "
            f"{value} over the {{{{ $labels.window }}}} window, below its threshold.",
        ),
        _alert(
            c, "ModelLowLabelCoverage",
            f"model_label_coverage_ratio{{{s},segment=\"\"}} < {c.label_coverage_min}\n"
            f"{_on_window(c.label_coverage_window)}",
            c.label_coverage_for, "warning", "data",
            "Model {{ $labels.model }}: few predictions have labels",
            f"Only {percent} of the predictions of model {{{{ $labels.model }}}} in the {{{{ $labels.window }}}} "
            f"window have a label (below {c.label_coverage_min:.0%}): realized performance is blind.",
        ),
        _alert(
            c, "ModelLatencyBudgetBurn",
            f"(\n  model:prediction_latency_slo_errors:ratio_rate1h > {14.4 * budget:.6g}\n"
            f"  and model:prediction_latency_slo_errors:ratio_rate5m > {14.4 * budget:.6g}\n) or (\n"
            f"  model:prediction_latency_slo_errors:ratio_rate6h > {6 * budget:.6g}\n"
            f"  and model:prediction_latency_slo_errors:ratio_rate30m > {6 * budget:.6g}\n)",
            "2m", "critical", "service",
            "Model {{ $labels.model }} is burning its latency budget fast",
            f"{percent} of the predictions of model {{{{ $labels.model }}}} are slower than "
            f"{c.latency_objective_seconds:g}s; at this rate the {c.latency_slo:.1%} objective's error budget "
            f"is gone within days.",
        ),
        _alert(
            c, "ModelLatencyBudgetBurnSlow",
            f"model:prediction_latency_slo_errors:ratio_rate1d > {3 * budget:.6g}\n"
            f"and model:prediction_latency_slo_errors:ratio_rate2h > {3 * budget:.6g}",
            "15m", "warning", "service",
            "Model {{ $labels.model }} is burning its latency budget",
            f"{percent} of the predictions of model {{{{ $labels.model }}}} over the last day are slower than "
            f"{c.latency_objective_seconds:g}s, three times the {c.latency_slo:.1%} objective's budget.",
        ),
        _alert(
            c, "ModelPredictionVolumeZero",
            f"sum by ({MODEL}) (rate(model_predictions_total{{{s}}}[{c.volume_lookback}])) == 0\n"
            f"and on({MODEL}) max_over_time(model_predictions_total{{{s}}}[6h]) > 0",
            c.volume_for, "critical", "service",
            "Model {{ $labels.model }} logs no predictions",
            f"Model {{{{ $labels.model }}}} logged predictions before but none in the last {c.volume_lookback}: "
            f"the service or its prediction logging stopped.",
        ),
        _alert(
            c, "ModelExporterDown",
            f"up{{{s}}} == 0",
            c.exporter_down_for, "critical", "monitor",
            "Model Monitor exporter {{ $labels.instance }} is down",
            "Prometheus cannot scrape the Model Monitor exporter at {{ $labels.instance }}: no model it "
            "watches is monitored.",
        ),
        _alert(
            c, "ModelDataStale",
            f"(time() - model_monitor_last_success_timestamp_seconds{{{s}}} > {c.stale_after_seconds})\n"
            f"or\n(model_monitor_last_run_success{{{s}}} == 0\n"
            f"  unless on({MODEL}) model_monitor_last_success_timestamp_seconds{{{s}}})",
            c.stale_for, "critical", "monitor",
            "Model {{ $labels.model }} has not been updated",
            f"The exporter has not completed an update of model {{{{ $labels.model }}}} for more than "
            f"{c.stale_after_seconds}s (value {value}): its gauges are stale. See model_monitor_errors_total.",
        ),
    ]


def rule_files(c: MixinConfig = DEFAULT) -> dict[str, dict[str, Any]]:
    """The rule files, by file name, as Prometheus loads them."""
    return {
        "model-monitor.rules.yml": {"groups": [{"name": "model-monitor.rules", "rules": recording_rules(c)}]},
        "model-monitor.alerts.yml": {"groups": [{"name": "model-monitor.alerts", "rules": alerting_rules(c)}]},
    }
