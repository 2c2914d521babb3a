"""The monitor's components, one concern each (see :mod:`exporter.components.base`).

:func:`build_components` picks the components a model needs, in the order
their results are assembled; :func:`evaluate_window` runs each on its own
namespace of a merged window.

| component | fields in a bucket | results |
| --- | --- | --- |
| ``volume`` | rows, labelled rows | window rows, labelled rows, label coverage |
| ``quality`` | missing, invalid, out-of-range, new-category counts | quality ratios and verdicts |
| ``drift`` | reference-binned counts and sums per feature | drift scores, verdicts, drifted share |
| ``multivariate`` | bins of the rows' PCA reconstruction error | multivariate drift |
| ``output`` | score/value bins, predicted classes | prediction drift, output out of range |
| ``classification`` | confusion, score histograms by label, log loss | realized classification metrics |
| ``regression`` | sums of errors | realized regression metrics |
| ``cbpe`` | expected confusion, expected score histograms | estimated performance (classifiers) |
| ``dle`` | sums of estimated errors | estimated performance (regression) |
| ``label_drift`` | the labels' bins | label drift |
| ``impact`` | (none; a history of drift and performance) | impact of each drifted feature |
| ``label_delay`` | delay buckets | window delay percentiles; cumulative histogram |
| ``service`` | (none) | latency histogram, error count |

The checks table (:mod:`exporter.components.checks`) lives here too. Components know nothing of files, HTTP
or metric names: they may import ``prepare`` (the batch types), ``baseline``, ``stats``, ``summary``,
``config`` and ``values``, never the windows, the monitor or the exposition above them.
"""

from __future__ import annotations

from collections.abc import Callable

from exporter.baseline.reference import Reference
from exporter.baseline.targets import TargetSpec
from exporter.components.base import Component, FromHistograms, HasLabels, MeasuresPerformance, WindowContext
from exporter.components.cbpe import Cbpe
from exporter.components.classification import Classification
from exporter.components.dle import DirectLossEstimation
from exporter.components.drift import FeatureDrift
from exporter.components.impact import DriftImpact
from exporter.components.label_delay import LabelDelay
from exporter.components.label_drift import LabelDrift
from exporter.components.multivariate import MultivariateDrift
from exporter.components.output import OutputDrift
from exporter.components.quality import FeatureQuality
from exporter.components.realized import PerformanceBaseline
from exporter.components.regression import Regression
from exporter.components.service import ServiceHealth
from exporter.components.volume import Volume
from exporter.config import ModelConfig
from exporter.summary.results import WindowBuilder, WindowResult
from exporter.summary.sketch import SEP, FieldSpec, Layout, Summary, key

__all__ = [
    "ROWS",
    "Component",
    "FromHistograms",
    "HasLabels",
    "MeasuresPerformance",
    "PerformanceBaseline",
    "WindowContext",
    "bucket_layout",
    "build_components",
    "evaluate_window",
    "namespaced",
]


def build_components(config: ModelConfig, reference: Reference, spec: TargetSpec,
                     baseline: PerformanceBaseline) -> list[Component]:
    """The components of one model, in the order their results are assembled (multivariate drift and DLE where
    the baseline holds their models: :func:`exporter.monitor.building.row_models` says when it does)."""
    labels = bool(config.label_column or config.labels)
    components: list[Component] = [
        Volume(expects_labels=labels),
        FeatureQuality(reference, config.quality),
        FeatureDrift(reference, config.drift.dataset_share),
    ]
    if reference.multivariate is not None:
        components.append(MultivariateDrift(reference.multivariate))
    components.append(OutputDrift(spec))
    if spec.task == "regression":
        components.append(Regression(spec, baseline))
        if spec.nanny is not None:
            components.append(DirectLossEstimation(baseline))
    else:
        components.append(Classification(spec, baseline))
        components.append(Cbpe(spec, baseline, labels))
    if spec.label is not None and spec.label.usable:
        components.append(LabelDrift(spec))
    # After drift and performance: it reads their results of the window.
    components.append(DriftImpact(reference.feature_names, config.feature_importance,
                                  {w.label: w.seconds for w in config.windows}))
    if config.labels is not None:
        components.append(LabelDelay())
    components.append(ServiceHealth(bool(config.latency_column), bool(config.error_column)))
    return components


def bucket_layout(components: list[Component]) -> Layout:
    """The fields of one bucket: every component's, under its namespace (``component/field``)."""
    fields: dict[str, FieldSpec] = {}
    for component in components:
        fields.update({key(component.name, name): spec for name, spec in component.fields().items()})
    return Layout(fields)


def namespaced(component: Component, summary: Summary) -> Summary:
    """``summary``'s fields under the component's namespace, as the bucket layout names them."""
    return {key(component.name, name): value for name, value in summary.items()}


def own_fields(component: Component, merged: Summary) -> Summary:
    """The component's fields of a merged window, without the namespace."""
    prefix = component.name + SEP
    return {name[len(prefix):]: value for name, value in merged.items() if name.startswith(prefix)}


#: The rows of a window (or of one bucket) in the merged fields.
ROWS = key(Volume.name, "rows")


def evaluate_window(components: list[Component], window: str, segment: str, merged: Summary,
                    min_rows: int, now: float = 0.0, record: bool = True,
                    on_error: Callable[[Component, Exception], None] | None = None) -> WindowResult:
    """The results of one merged window: every component evaluates its own fields. ``record`` False: a bucket
    evaluated alone, for a timeline, of which no component keeps history.

    A component whose evaluation raises is isolated, as node_exporter isolates a failing collector: its part of
    the results is taken back (its numbers are absent, never half-written), ``on_error`` hears of it, and the
    other components' results stand. Without ``on_error`` the exception propagates."""
    rows = int(merged[ROWS])
    ctx = WindowContext(window, segment, rows, int(merged[key(Volume.name, "labelled")]), min_rows, now, record)
    out = WindowBuilder(window, segment, rows)
    for component in components:
        mark = out.mark()
        try:
            component.evaluate(own_fields(component, merged), ctx, out)
        except Exception as error:
            if on_error is None:
                raise
            out.rollback(mark)
            on_error(component, error)
    return out.build()
