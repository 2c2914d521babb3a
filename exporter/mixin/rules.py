"""Prometheus recording and alerting rules for Model Monitor.

The alerts of the checks are generated from :data:`exporter.components.checks.CHECKS`:
drift alerts read the exported verdicts (``model_feature_drifted``, ...), so no
rule names a drift method or its direction; the others compare a value with
the exporter's own threshold in force in the same window
(``model_data_quality_window_threshold_ratio``, ``model_performance_window_threshold``, ...,
calibrated to the window's size), so one rule serves every model, feature and window.
The service and exporter alerts follow them. Every alert has a ``severity``
(critical pages, warning tickets, info), a ``category`` that Alertmanager's inhibitions use (data, performance, service,
monitor), ``summary`` and ``description`` annotations naming the model (and
feature) and the value, and a ``runbook_url`` into docs/runbooks.md; model alerts also a
``report_url`` to the exporter's HTML report of the model and window.
"""

from __future__ import annotations

from typing import Any

from exporter.components.checks import ALERTING, BY_NAME, Check
from exporter.mixin import DEFAULT, MixinConfig
from exporter.values.vocabulary import CheckName

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
        {"record": "model:drifted_features:count",
         "expr": f"sum by ({MODEL}, window) (model_feature_drifted{{{s},segment=\"\"}})"},
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
           description: str, report: bool = False) -> dict[str, Any]:
    """An alert rule; ``report`` links the exporter's HTML report of the model (and window) in question."""
    annotations = {
        "summary": summary,
        "description": description,
        "runbook_url": f"{c.runbook_base}#{name.lower()}",
    }
    if report:
        annotations["report_url"] = (
            f"{c.report_scheme}://{{{{ $labels.instance }}}}/report?model={{{{ $labels.model | urlquery }}}}"
            "{{ with $labels.window }}&window={{ . | urlquery }}{{ end }}")
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity, "category": category},
        "annotations": annotations,
    }


def _check_expr(c: MixinConfig, check: Check) -> str:
    """The alert expression of a check of the table: the exported verdict, or the value against its threshold."""
    s = c.job_selector
    window = _on_window(getattr(c, check.window_setting))
    value = f"{check.value_metric}{{{s},segment=\"\"}}"
    joined = ", ".join((MODEL, "window", *check.subject))
    if check.verdict_metric is not None:
        return f"{value}\n  and on({joined}) ({check.verdict_metric}{{{s},segment=\"\"}} == 1)\n{window}"
    if check.threshold_metric is not None:
        on = ", ".join((MODEL, *(("window",) if check.threshold_by_window else ()), *check.subject))
        selector = f"{s},{check.threshold_selector}" if check.threshold_selector else s
        if check.threshold_by_window:
            selector += ',segment=""'
        threshold = f"{check.threshold_metric}{{{selector}}}"
        if not check.reversed_for:
            return f"{value}\n  {check.op} on({on}) group_left {threshold}\n{window}"
        # Subjects that fail the other way (errors, above their threshold) get the reversed comparison.
        label, subjects = check.subject[0], "|".join(sorted(check.reversed_for))
        reverse = {"<": ">", ">": "<"}[check.op]
        return (f"(\n  {check.value_metric}{{{s},segment=\"\",{label}!~\"{subjects}\"}}\n"
                f"    {check.op} on({on}) group_left {threshold}\n"
                f"  or\n  {check.value_metric}{{{s},segment=\"\",{label}=~\"{subjects}\"}}\n"
                f"    {reverse} on({on}) group_left {threshold}\n)\n{window}")
    if check.name == CheckName.LABEL_COVERAGE:
        return f"{value} {check.op} {c.label_coverage_min}\n{window}"
    raise ValueError(f"check {check.name} has no rule expression")


def _stale_expr(c: MixinConfig) -> str:
    s = c.job_selector
    return (f"(time() - model_monitor_last_success_timestamp_seconds{{{s}}} > {c.stale_after_seconds})\n"
            f"or\n(model_monitor_last_run_success{{{s}}} == 0\n"
            f"  unless on({MODEL}) model_monitor_last_success_timestamp_seconds{{{s}}})")


def check_alerts(c: MixinConfig = DEFAULT) -> list[dict[str, Any]]:
    """One alert per check of :data:`~exporter.components.checks.CHECKS` that alerts
    (:data:`~exporter.components.checks.ALERTING`)."""
    texts = {"value": "{{ $value | printf \"%.3g\" }}", "percent": "{{ $value | humanizePercentage }}",
             "label_coverage_min": f"{c.label_coverage_min:.0%}", "stale_after_seconds": str(c.stale_after_seconds)}
    out = []
    for check in ALERTING:
        if check.name == CheckName.UPDATE:
            expr = _stale_expr(c)
        elif check.counter_increase:
            expr = _increase_expr(c, check)
        else:
            expr = _check_expr(c, check)
        description = check.description
        if check.lookback_setting:
            description = description.replace("{lookback}", getattr(c, check.lookback_setting))
        for name, text in texts.items():  # not str.format: the templates are full of {{ }}
            description = description.replace("{" + name + "}", text)
        duration = getattr(c, check.for_setting)
        if check.pages_with is None:
            out.append(_alert(c, check.alert, expr, duration, check.severity, check.category, check.summary,
                              description, report=True))
            continue
        # The warning, and the same alert paging while the other check fails on the same window and subject.
        other = _check_expr(c, BY_NAME[check.pages_with])
        on = ", ".join((MODEL, "window", *check.subject))
        for op, severity in (("unless", check.severity), ("and", "critical")):
            out.append(_alert(c, check.alert, f"(\n{_indent(expr)}\n)\n{op} on({on})\n(\n{_indent(other)}\n)",
                              duration, severity, check.category, check.summary, description, report=True))
    return out


def _indent(expr: str) -> str:
    return "\n".join("  " + line for line in expr.splitlines())


def _increase_expr(c: MixinConfig, check: Check) -> str:
    """The alert expression of a check on a counter: any increase of its checks' counts in the look-back."""
    checks = "|".join(check.counter_increase)
    lookback = getattr(c, check.lookback_setting)
    return (f"sum by ({MODEL}, check, feature) "
            f"(increase({check.value_metric}{{{c.job_selector},check=~\"{checks}\"}}[{lookback}])) > 0")


def alerting_rules(c: MixinConfig = DEFAULT) -> list[dict[str, Any]]:
    """The checks' alerts, then the alerts on the service and on the exporter itself."""
    s = c.job_selector
    budget = 1 - c.latency_slo
    percent = "{{ $value | humanizePercentage }}"
    return [
        *check_alerts(c),
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
            c, "ModelTooOld",
            f"model_age_seconds{{{s}}} > on({MODEL}) model_max_age_seconds{{{s}}}",
            c.model_age_for, "warning", "performance",
            "Model {{ $labels.model }} is due for retraining",
            "Model {{ $labels.model }} was trained {{ $value | humanizeDuration }} ago, longer than its "
            "max_model_age: the world it learned may have moved on.",
            report=True,
        ),
        _alert(
            c, "ModelComponentErrors",
            f"sum by ({MODEL}, component) "
            f"(increase(model_monitor_component_errors_total{{{s}}}[{c.component_errors_lookback}])) > 0",
            c.component_errors_for, "warning", "monitor",
            "Model {{ $labels.model }}: component {{ $labels.component }} fails to evaluate",
            f"{{{{ $value | printf \"%.3g\" }}}} window evaluations of component {{{{ $labels.component }}}} failed in "
            f"the last {c.component_errors_lookback} for model {{{{ $labels.model }}}}: its results, and the alerts "
            f"that read them, are absent; the other components' stand. The exporter's log has the traceback.",
            report=True,
        ),
        _alert(
            c, "ModelExporterDown",
            f"up{{{s}}} == 0",
            c.exporter_down_for, "critical", "monitor",
            "Model Monitor exporter {{ $labels.instance }} is down",
            "Prometheus cannot scrape the Model Monitor exporter at {{ $labels.instance }}: no model it "
            "watches is monitored.",
        ),
    ]


def rule_files(c: MixinConfig = DEFAULT) -> dict[str, dict[str, Any]]:
    """The rule files, by file name, as Prometheus loads them."""
    return {
        "model-monitor.rules.yml": {"groups": [{"name": "model-monitor.rules", "rules": recording_rules(c)}]},
        "model-monitor.alerts.yml": {"groups": [{"name": "model-monitor.alerts", "rules": alerting_rules(c)}]},
    }
