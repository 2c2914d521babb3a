"""The monitoring stack as code: Prometheus rules, alerts and Grafana dashboards from one definition.

Like a monitoring mixin (kubernetes-mixin, node-mixin): :class:`MixinConfig`
holds every choice a user may want to change (selectors, which window each
alert watches, ``for:`` durations, the latency objective, the runbook address),
and :mod:`exporter.mixin.rules` and :mod:`exporter.mixin.dashboards` build the
files Prometheus and Grafana load from it and from the metric names of the catalogue
(:mod:`exporter.publish.catalogue`). ``python -m exporter.mixin`` writes them into the
repository; a test checks that regenerating changes nothing. It may import the checks table, the
catalogue and ``values`` (durations), never the exporter's runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from exporter.components.checks import LABEL_COVERAGE_MIN
from exporter.values.durations import parse_duration, parse_for

#: Where the documentation site (``mkdocs.yml``'s ``site_url``, built from ``docs/``) is published.
DOCS_SITE = "https://model-monitor.github.io/model-monitor/"


@dataclass(frozen=True)
class MixinConfig:
    #: Label selector of the exporter's scrape job.
    job_selector: str = 'job="model-monitor"'
    #: Which of a model's windows each family of alerts watches: "shortest" reacts fast,
    #: "longest" is steadier. Windows are chosen by their length (model_window_seconds),
    #: so the rules work whatever windows a model configures.
    drift_window: str = "shortest"
    quality_window: str = "shortest"
    performance_window: str = "longest"
    estimated_performance_window: str = "shortest"
    label_coverage_window: str = "longest"
    # How long a condition must hold before its alert fires.
    drift_for: str = "15m"
    dataset_drift_for: str = "15m"
    multivariate_drift_for: str = "15m"
    prediction_drift_for: str = "15m"
    label_drift_for: str = "30m"
    quality_for: str = "5m"
    schema_for: str = "0m"
    performance_for: str = "30m"
    estimated_performance_for: str = "30m"
    concept_drift_for: str = "30m"
    label_coverage_for: str = "1h"
    volume_for: str = "10m"
    exporter_down_for: str = "2m"
    component_errors_for: str = "0m"
    model_age_for: str = "1h"
    stale_for: str = "2m"
    # Look-back ranges.
    schema_lookback: str = "15m"
    volume_lookback: str = "15m"
    component_errors_lookback: str = "15m"
    #: Label coverage below this share of the window's predictions is a problem.
    label_coverage_min: float = LABEL_COVERAGE_MIN
    #: Latency objective: this share of predictions faster than latency_objective_seconds,
    #: which must be a bucket bound of model_prediction_latency_seconds.
    latency_slo: float = 0.99
    latency_objective_seconds: float = 0.5
    #: A model whose last successful update is older than this is stale.
    stale_after_seconds: int = 300
    #: The runbooks page: each alert links ``<runbook_base>#<alertname in lower case>``. The docs site's
    #: page by default; point it at your own copy (a wiki, an internal docs host) with
    #: ``python -m exporter.mixin --runbook-base URL``.
    runbook_base: str = DOCS_SITE + "runbooks/"
    #: Scheme of the exporters' /report pages linked from model alerts ("https" behind TLS).
    report_scheme: str = "http"
    datasource_uid: str = "model-monitor-prometheus"

    def __post_init__(self) -> None:
        """Every ``for:`` is a duration Prometheus accepts (``0m`` included: at once), every look-back a
        positive one: a wrong value is named here, not in a rule file Prometheus refuses or a replay."""
        for item in fields(self):
            value = getattr(self, item.name)
            try:
                if item.name.endswith("_for"):
                    parse_for(value)
                elif item.name.endswith("_lookback"):
                    parse_duration(value)
            except ValueError as error:
                raise ValueError(f"MixinConfig.{item.name}: {error}") from None


DEFAULT = MixinConfig()
