"""Grafana dashboards as data: a fleet overview, a model detail view and the exporter's own health.

Plain dicts in Grafana's dashboard JSON model (schemaVersion 39, Grafana 10
and 11), provisioned from grafana/dashboards/. Every panel query uses the
template variables ``$model``, ``$window`` (and ``$feature``, ``$metric`` where
they apply) and the datasource with the fixed uid of
grafana/provisioning/datasources/. ``tests/test_stack.py`` runs every query
against a live Prometheus scraping a live exporter on demo data.
"""

from __future__ import annotations

from typing import Any

from exporter.mixin import DEFAULT, MixinConfig

GRID_WIDTH = 24
OVERALL = 'segment=""'


class _Layout:
    """Places panels left to right, wrapping at the grid width."""

    def __init__(self) -> None:
        self.x = self.y = self.row_height = 0
        self.next_id = 1
        self.panels: list[dict[str, Any]] = []

    def add(self, panel: dict[str, Any], w: int, h: int) -> None:
        if self.x + w > GRID_WIDTH:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        panel["id"] = self.next_id
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.next_id += 1
        self.x += w
        self.row_height = max(self.row_height, h)
        self.panels.append(panel)

    def row(self, title: str) -> None:
        if self.x:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        self.panels.append({"id": self.next_id, "type": "row", "title": title, "collapsed": False,
                            "gridPos": {"x": 0, "y": self.y, "w": GRID_WIDTH, "h": 1}, "panels": []})
        self.next_id += 1
        self.y += 1


def _ds(c: MixinConfig) -> dict[str, str]:
    return {"type": "prometheus", "uid": c.datasource_uid}


def _target(expr: str, legend: str = "", ref: str = "A", instant: bool = False,
            fmt: str = "time_series") -> dict[str, Any]:
    target: dict[str, Any] = {"refId": ref, "expr": expr, "legendFormat": legend or "__auto", "range": not instant,
                              "instant": instant}
    if fmt != "time_series":
        target["format"] = fmt
    return target


def _panel(c: MixinConfig, kind: str, title: str, targets: list[dict[str, Any]], unit: str = "short",
           description: str = "", minimum: float | None = None, maximum: float | None = None,
           thresholds: list[tuple[float | None, str]] | None = None,
           options: dict[str, Any] | None = None) -> dict[str, Any]:
    for i, target in enumerate(targets):
        target["refId"] = chr(ord("A") + i)
        target["datasource"] = _ds(c)
    defaults: dict[str, Any] = {"unit": unit}
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    steps = thresholds or [(None, "green")]
    defaults["thresholds"] = {"mode": "absolute", "steps": [{"value": v, "color": color} for v, color in steps]}
    if kind == "timeseries":
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 0, "showPoints": "never",
                              "spanNulls": True}
    panel: dict[str, Any] = {
        "type": kind, "title": title, "description": description, "datasource": _ds(c), "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options or {},
    }
    if kind == "timeseries" and any("threshold" in t["expr"] for t in targets):
        # Thresholds in force are drawn as dashed lines over a light band, apart from the values.
        panel["fieldConfig"]["overrides"].append({
            "matcher": {"id": "byRegexp", "options": ".*threshold.*"},
            "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [6, 4]}},
                           {"id": "custom.fillOpacity", "value": 8}, {"id": "color", "value":
                                                                       {"mode": "fixed", "fixedColor": "red"}}],
        })
    if kind == "timeseries" and not options:
        panel["options"] = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                            "tooltip": {"mode": "multi", "sort": "desc"}}
    if kind == "stat" and not options:
        panel["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                            "colorMode": "value", "graphMode": "area", "textMode": "auto"}
    return panel


def _variable(c: MixinConfig, name: str, label: str, query: str, multi: bool = False, include_all: bool = False,
              regex: str = "") -> dict[str, Any]:
    return {
        "type": "query", "name": name, "label": label, "datasource": _ds(c),
        "definition": query,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
        "refresh": 2, "sort": 1, "multi": multi, "includeAll": include_all,
        "allValue": ".*" if include_all else None, "regex": regex, "current": {}, "options": [], "hide": 0,
    }


def _dashboard(c: MixinConfig, uid: str, title: str, layout: _Layout, variables: list[dict[str, Any]],
               links: bool = True) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": "Model Monitor: generated by python -m exporter.mixin",
        "tags": ["model-monitor"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}]},
        "links": [{"title": "Model Monitor", "type": "dashboards", "tags": ["model-monitor"], "asDropdown": True,
                   "includeVars": True, "keepTime": True}] if links else [],
        "templating": {"list": variables},
        "panels": layout.panels,
    }


def fleet(c: MixinConfig = DEFAULT) -> dict[str, Any]:
    sel = 'model=~"$model"'
    win = f'{sel}, window="$window", {OVERALL}'
    layout = _Layout()
    layout.row("Health")
    layout.add(_panel(c, "stat", "Models", [_target(f"count(count by (model) (model_window_rows{{{sel}}}))",
                                                    instant=True)]), 4, 4)
    layout.add(_panel(c, "stat", "Firing alerts", [_target(
        f'count(ALERTS{{alertstate="firing", {sel}}}) or vector(0)', instant=True)],
        thresholds=[(None, "green"), (1, "red")]), 4, 4)
    layout.add(_panel(c, "stat", "Stale models", [_target(
        f"count(time() - model_monitor_last_success_timestamp_seconds{{{sel}}} > {c.stale_after_seconds}) "
        f"or vector(0)", instant=True)], thresholds=[(None, "green"), (1, "red")]), 4, 4)
    layout.add(_panel(c, "stat", "Predictions per second", [_target(
        f"sum(rate(model_predictions_total{{{sel}}}[$__rate_interval]))", instant=True)], unit="reqps"), 4, 4)
    layout.add({"type": "alertlist", "title": "Firing alerts by rule", "datasource": _ds(c),
                "options": {"alertListOptions": {"filter": {"dashboardAlerts": False, "alertInstanceLabelFilter":
                                                            f"{{{sel}}}"}},
                            "showInstances": True, "groupMode": "default", "maxItems": 20, "sortOrder": 1,
                            "stateFilter": {"firing": True, "pending": True}, "viewMode": "list"}}, 8, 8)
    layout.add(_panel(c, "table", "Model health", [
        _target(f"max by (model) (model_drifted_features_ratio{{{win}}})", instant=True, fmt="table"),
        _target(f"max by (model) (model_label_coverage_ratio{{{win}}})", instant=True, fmt="table"),
        _target(f"max by (model) (time() - model_monitor_last_success_timestamp_seconds{{{sel}}})", instant=True,
                fmt="table"),
    ], unit="percentunit", options={"showHeader": True, "cellHeight": "sm"}), 16, 4)
    layout.row("Drift and performance")
    layout.add(_panel(c, "timeseries", "Drifted features share", [
        _target(f"model_drifted_features_ratio{{{win}}}", "{{model}}")], unit="percentunit", minimum=0,
        maximum=1), 12, 8)
    layout.add(_panel(c, "timeseries", "Realized vs estimated $metric", [
        _target(f'model_performance{{{win}, metric="$metric"}}', "{{model}} realized"),
        _target(f'model_estimated_performance{{{win}, metric="$metric"}}', "{{model}} estimated"),
        _target(f'model_performance_window_threshold{{{win}, metric="$metric"}}', "{{model}} threshold"),
    ], unit="percentunit"), 12, 8)
    layout.add(_panel(c, "timeseries", "Label coverage", [
        _target(f"model_label_coverage_ratio{{{win}}}", "{{model}}")], unit="percentunit", minimum=0,
        maximum=1), 12, 8)
    layout.add(_panel(c, "timeseries", "Prediction drift", [
        _target(f"model_prediction_drift_score{{{win}}}", "{{model}} {{output}} ({{method}})")]), 12, 8)
    layout.row("Service")
    layout.add(_panel(c, "timeseries", "Throughput", [
        _target(f"sum by (model) (rate(model_predictions_total{{{sel}}}[$__rate_interval]))", "{{model}}")],
        unit="reqps"), 12, 8)
    quantiles = [_target(
        f"histogram_quantile({q}, sum by (model, le) "
        f"(rate(model_prediction_latency_seconds_bucket{{{sel}}}[$__rate_interval])))", f"{{{{model}}}} p{name}")
        for q, name in ((0.5, "50"), (0.95, "95"), (0.99, "99"))]
    layout.add(_panel(c, "timeseries", "Latency p50 / p95 / p99", quantiles, unit="s"), 12, 8)
    variables = [
        _variable(c, "model", "Model", "label_values(model_window_rows, model)", multi=True, include_all=True),
        _variable(c, "window", "Window", 'label_values(model_window_rows{model=~"$model"}, window)'),
        _variable(c, "metric", "Metric", 'label_values(model_performance{model=~"$model"}, metric)'),
    ]
    return _dashboard(c, "model-monitor-fleet", "Model Monitor / Fleet", layout, variables)


def model_detail(c: MixinConfig = DEFAULT) -> dict[str, Any]:
    sel = 'model="$model"'
    win = f'{sel}, window="$window", {OVERALL}'
    feat = f'{win}, feature=~"$feature"'
    layout = _Layout()
    layout.row("Window")
    for title, expr, unit in (
        ("Rows in window", f"model_window_rows{{{win}}}", "short"),
        ("Drifted features", f"model_drifted_features_ratio{{{win}}}", "percentunit"),
        ("Label coverage", f"model_label_coverage_ratio{{{win}}}", "percentunit"),
        ("Calibration error (CBPE)", f"model_score_calibration_error{{{sel}}}", "percentunit"),
    ):
        layout.add(_panel(c, "stat", title, [_target(expr, instant=True)], unit=unit), 6, 4)
    layout.row("Data drift")
    layout.add(_panel(c, "table", "Feature drift by impact (latest)", [
        _target(f"model_feature_drift_impact{{{win}}}", instant=True, fmt="table"),
        _target(f"model_feature_drift_score{{{win}}}", instant=True, fmt="table"),
        _target(f"model_feature_drifted{{{win}}}", instant=True, fmt="table"),
    ], description="Impact: importance x score over threshold x (1 + negative correlation of the feature's drift "
                   "with performance); the drift that matters first.",
        options={"showHeader": True, "cellHeight": "sm", "sortBy": [{"displayName": "Value #A", "desc": True}]}),
        10, 9)
    layout.add(_panel(c, "timeseries", "Feature drift score", [
        _target(f"model_feature_drift_score{{{feat}}}", "{{feature}} ({{method}})"),
        _target(f"model_feature_drift_window_threshold{{{feat}}}", "{{feature}} threshold"),
    ]), 14, 9)
    layout.add(_panel(c, "timeseries", "Prediction drift", [
        _target(f"model_prediction_drift_score{{{win}}}", "{{output}} ({{method}})"),
        _target(f"model_prediction_out_of_range_ratio{{{win}}}", "score out of reference range"),
        _target(f"model_low_confidence_ratio{{{win}}}", "unsure predictions (below low_confidence)"),
    ], description="Drift of the score (or predicted value), the predicted classes and the classifier's confidence "
                   "(output=confidence); the share of outputs outside the reference range and of unsure "
                   "predictions."), 12, 8)
    layout.add(_panel(c, "timeseries", "Multivariate drift (PCA reconstruction error)", [
        _target(f"model_multivariate_drift_score{{{win}}}", "mean reconstruction error"),
        _target(f"model_multivariate_drift_window_threshold{{{win}}}", "{{bound}} threshold"),
        _target(f"model_multivariate_reference_error{{{sel}}}", "reference"),
    ], description="How far the rows lie from the reference's main directions: it moves when the features stop "
                   "varying together as they did, even if none drifted alone. ModelMultivariateDrift (a warning) "
                   "fires outside the band."), 12, 8)
    layout.add(_panel(c, "timeseries", "Drifted features share by segment", [
        _target(f'model_drifted_features_ratio{{{sel}, window="$window", segment!=""}}', "{{segment}}")],
        unit="percentunit", minimum=0, maximum=1), 12, 8)
    layout.row("Data quality")
    for title, metric, check in (("Missing values", "model_feature_missing_ratio", "completeness"),
                                 ("New categories", "model_feature_new_category_ratio", "categorical_values"),
                                 ("Out of reference range", "model_feature_out_of_range_ratio", "out_of_range"),
                                 ("Type violations", "model_feature_type_violation_ratio", "data_type")):
        layout.add(_panel(c, "timeseries", title, [
            _target(f"{metric}{{{feat}}}", "{{feature}}"),
            _target(f'model_data_quality_window_threshold_ratio{{{feat}, check="{check}"}}', "{{feature}} threshold"),
        ], unit="percentunit", minimum=0), 6, 8)
    layout.add(_panel(c, "timeseries", "Schema violations", [
        _target(f"sum by (check, feature) (increase(model_data_quality_violations_total{{{sel}}}"
                "[$__rate_interval]))", "{{check}} {{feature}}")]), 12, 8)
    layout.add(_panel(c, "timeseries", "Rejected rows", [
        _target(f"sum by (reason) (rate(model_monitor_rejected_rows_total{{{sel}}}[$__rate_interval]))",
                "{{reason}}")], unit="reqps"), 12, 8)
    layout.row("Performance")
    layout.add(_panel(c, "timeseries", "Realized performance", [
        _target(f"model_performance{{{win}}}", "{{metric}}"),
        *(_target(f'model_performance{{{win}}} {sign} ignoring(kind) '
                  f'3 * model_performance_sampling_error{{{win}, kind="realized"}}', f"{{{{metric}}}} {sign}3 sigma")
          for sign in ("+", "-")),
        _target(f"model_performance_window_threshold{{{win}}}", "{{metric}} threshold"),
    ], description="Realized performance with NannyML's band of 3 sampling errors at the window's labelled rows."),
        12, 8)
    layout.add(_panel(c, "timeseries", "Estimated performance (CBPE, DLE)", [
        _target(f"model_estimated_performance{{{win}}}", "{{metric}} estimated"),
        *(_target(f'model_estimated_performance{{{win}}} {sign} ignoring(kind) '
                  f'3 * model_performance_sampling_error{{{win}, kind="estimated"}}', f"{{{{metric}}}} {sign}3 sigma")
          for sign in ("+", "-")),
        _target(f"model_estimated_performance_window_threshold{{{win}}}", "{{metric}} threshold"),
        _target(f"model_reference_performance{{{sel}}}", "{{metric}} on reference"),
    ], description="The estimate with NannyML's band of 3 sampling errors at the window's rows: a value outside the "
                   "reference's own band is more than chance."), 12, 8)
    layout.add(_panel(c, "timeseries", "Concept drift: realized minus estimated", [
        _target(f"model_performance_estimation_gap{{{win}}}", "{{metric}}"),
        _target(f"model_performance_estimation_gap_window_threshold{{{win}}}", "{{metric}} noise"),
        _target(f"-model_performance_estimation_gap_window_threshold{{{win}}}", "{{metric}} -noise"),
    ], description="Realized performance minus the estimate of the same labelled rows. Inside the noise band the "
                   "estimate holds; beyond it on the bad side, ModelConceptDrift (a warning) fires: the world no "
                   "longer answers as the scores say."), 12, 8)
    layout.add(_panel(c, "timeseries", "Label delay", [
        *(_target(f"histogram_quantile({q}, sum by (le) (rate(model_label_delay_seconds_bucket{{{sel}}}"
                  "[$__rate_interval])))", f"arriving now p{int(q * 100)}") for q in (0.5, 0.9)),
        _target(f"model_window_label_delay_seconds{{{win}}}", "window's predictions p{{percentile}}"),
    ], unit="s"), 12, 8)
    layout.add(_panel(c, "timeseries", "Labels waiting", [
        _target(f"model_label_pending{{{sel}}}", "{{kind}}")]), 12, 8)
    layout.add(_panel(c, "timeseries", "Label drift (target drift)", [
        _target(f"model_label_drift_score{{{win}}}", "labels ({{method}})"),
        _target(f"model_label_drift_window_threshold{{{win}}}", "threshold"),
    ], description="Drift of the labels that arrived against the reference's labels: what the model predicts "
                   "changed in the world. ModelLabelDrift (a warning) fires on it."), 12, 8)
    layout.row("Service")
    layout.add(_panel(c, "timeseries", "Throughput and errors", [
        _target(f"sum(rate(model_predictions_total{{{sel}}}[$__rate_interval]))", "predictions"),
        _target(f"sum(rate(model_prediction_errors_total{{{sel}}}[$__rate_interval]))", "errors"),
    ], unit="reqps"), 12, 8)
    layout.add(_panel(c, "timeseries", "Latency p50 / p95 / p99", [
        _target(f"histogram_quantile({q}, sum by (le) (rate(model_prediction_latency_seconds_bucket{{{sel}}}"
                "[$__rate_interval])))", f"p{name}")
        for q, name in ((0.5, "50"), (0.95, "95"), (0.99, "99"))], unit="s"), 12, 8)
    layout.row("Model")
    layout.add(_panel(c, "timeseries", "Model age and when it is due for retraining", [
        _target(f"model_age_seconds{{{sel}}}", "age"),
        _target(f"model_max_age_seconds{{{sel}}}", "max_model_age"),
    ], unit="s", description="ModelTooOld (a warning) fires once the age passes max_model_age."), 12, 8)
    variables = [
        _variable(c, "model", "Model", "label_values(model_window_rows, model)"),
        _variable(c, "window", "Window", 'label_values(model_window_rows{model="$model"}, window)'),
        _variable(c, "feature", "Feature", 'label_values(model_feature_missing_ratio{model="$model"}, feature)',
                  multi=True, include_all=True),
    ]
    return _dashboard(c, "model-monitor-model", "Model Monitor / Model", layout, variables)


def exporter_health(c: MixinConfig = DEFAULT) -> dict[str, Any]:
    job = c.job_selector
    sel = 'model=~"$model"'
    layout = _Layout()
    layout.add(_panel(c, "stat", "Exporters up", [_target(f"sum(up{{{job}}})", instant=True)],
                      thresholds=[(None, "red"), (1, "green")]), 6, 4)
    layout.add(_panel(c, "stat", "Scrape duration", [_target(f"max(scrape_duration_seconds{{{job}}})",
                                                             instant=True)], unit="s"), 6, 4)
    layout.add(_panel(c, "stat", "Series per scrape", [_target(f"sum(scrape_samples_scraped{{{job}}})",
                                                               instant=True)]), 6, 4)
    layout.add(_panel(c, "stat", "Resident memory", [_target(f"sum(process_resident_memory_bytes{{{job}}})",
                                                             instant=True)], unit="bytes"), 6, 4)
    layout.add(_panel(c, "timeseries", "Seconds since last successful update", [
        _target(f"time() - model_monitor_last_success_timestamp_seconds{{{sel}}}", "{{model}}")], unit="s",
        thresholds=[(None, "green"), (c.stale_after_seconds, "red")]), 12, 8)
    layout.add(_panel(c, "timeseries", "Update duration", [
        _target(f"model_monitor_last_run_duration_seconds{{{sel}}}", "{{model}}")], unit="s"), 12, 8)
    layout.add(_panel(c, "timeseries", "Errors by stage", [
        _target(f"sum by (model, stage) (rate(model_monitor_errors_total{{{sel}}}[$__rate_interval]))",
                "{{model}} {{stage}}")], unit="ops"), 12, 8)
    layout.add(_panel(c, "timeseries", "Component errors (results left out)", [
        _target(f"sum by (model, component) (increase(model_monitor_component_errors_total{{{sel}}}"
                f"[$__rate_interval]))", "{{model}} {{component}}")], unit="short"), 12, 8)
    layout.add(_panel(c, "timeseries", "Rejected rows by reason", [
        _target(f"sum by (model, reason) (rate(model_monitor_rejected_rows_total{{{sel}}}[$__rate_interval]))",
                "{{model}} {{reason}}")], unit="reqps"), 12, 8)
    layout.add(_panel(c, "timeseries", "Label joins given up", [
        _target(f"sum by (model, reason) (rate(model_label_join_dropped_total{{{sel}}}[$__rate_interval]))",
                "{{model}} {{reason}}")], unit="ops"), 12, 8)
    layout.add(_panel(c, "timeseries", "Exporter CPU and memory", [
        _target(f"rate(process_cpu_seconds_total{{{job}}}[$__rate_interval])", "CPU seconds/s {{instance}}"),
        _target(f"process_resident_memory_bytes{{{job}}} / 2^30", "RSS GiB {{instance}}"),
    ]), 12, 8)
    variables = [_variable(c, "model", "Model", "label_values(model_monitor_last_run_success, model)", multi=True,
                           include_all=True)]
    return _dashboard(c, "model-monitor-exporter", "Model Monitor / Exporter", layout, variables)


def dashboards(c: MixinConfig = DEFAULT) -> dict[str, dict[str, Any]]:
    """The dashboards, by file name."""
    return {
        "model-monitor-fleet.json": fleet(c),
        "model-monitor-model.json": model_detail(c),
        "model-monitor-exporter.json": exporter_health(c),
    }
