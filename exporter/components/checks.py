"""The checks, defined once: what fails, how it is exported, and how it alerts.

Each :class:`Check` names a verdict the components compute on a window (or
the monitor on itself) and says everything else about it in one row: the
series that carry its value, verdict and threshold, how the alert rule
compares them, the alert's name, severity, category and texts, and the line
``model-monitor check`` prints when it fails. :func:`failed_checks`,
the exposition of verdicts and :mod:`exporter.mixin.rules` all iterate
:data:`CHECKS`, so a check cannot mean one thing in ``check`` and another in
an alert. No rule names a drift method: drift rules read the exported
verdict, every other rule compares a value with its exported threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.stats.performance import LOWER_IS_BETTER
from exporter.summary.results import ModelSnapshot, Verdict
from exporter.values.vocabulary import CheckName, SchemaCheck

#: Label coverage below this share of a window's predictions fails (the mixin's default too).
LABEL_COVERAGE_MIN = 0.5


@dataclass(frozen=True)
class Check:
    name: CheckName
    #: The alert rule's name.
    alert: str
    severity: str
    #: Alertmanager's inhibitions group alerts by category: data, performance, service, monitor.
    category: str
    #: The series holding the checked value (the alert's $value).
    value_metric: str
    #: Labels that join the value with its verdict or threshold, besides model and window.
    subject: tuple[str, ...] = ()
    #: The exported 0/1 verdict series, for checks whose direction depends on the method (drift).
    verdict_metric: str | None = None
    #: The exported threshold series and the selector that picks the check's threshold.
    threshold_metric: str | None = None
    threshold_selector: str = ""
    #: Whether the threshold series is per window (calibrated to the window's size), joined on it.
    threshold_by_window: bool = False
    #: How the value fails against its threshold (rules without a verdict series).
    op: str = ">"
    #: Subjects (values of the first subject label) whose value fails the other way: the errors of
    #: performance checks, which fail above their threshold where scores fail below.
    reversed_for: frozenset[str] = frozenset()
    #: Which of a model's windows the alert watches, and for how long it must hold:
    #: names of fields of :class:`exporter.mixin.MixinConfig`.
    window_setting: str = ""
    for_setting: str = ""
    summary: str = ""
    description: str = ""
    #: Alert texts: Prometheus templates, where {value}, {percent}, {label_coverage_min} and
    #: {stale_after_seconds} are filled in by the rule generator.
    #: The line ``check`` prints, formatted with model, window, value, threshold, subject and detail labels.
    message: str = ""
    #: A verdict of the commands that read the logs once (``check``, ``report``): a live exporter that reads
    #: nothing waits for data. Such a check alerts only where it names an alert that watches a counter.
    one_shot: bool = False
    #: For an alert on a counter rather than on a window's verdict: the values of its ``check`` label whose
    #: increase over ``lookback_setting`` (a field of :class:`exporter.mixin.MixinConfig`) fires the alert.
    counter_increase: tuple[str, ...] = ()
    lookback_setting: str = ""
    #: A warning that pages only together with another check: the check (of the same window and subject) whose
    #: failure at the same time raises this alert to critical. The rule generator writes two rules of the
    #: alert: the warning unless the other fails, critical while it does.
    pages_with: CheckName | None = None


CHECKS: tuple[Check, ...] = (
    Check(CheckName.FEATURE_DRIFT, "ModelFeatureDrift", "warning", "data", "model_feature_drift_score",
          subject=("feature",), verdict_metric="model_feature_drifted", window_setting="drift_window",
          for_setting="drift_for",
          summary="Feature {{ $labels.feature }} of model {{ $labels.model }} drifted",
          description="The {{ $labels.method }} drift score of feature {{ $labels.feature }} of model "
                      "{{ $labels.model }} is {value} over the {{ $labels.window }} window, beyond its threshold "
                      "(model_feature_drift_window_threshold).{{ with printf "
                      "`model_feature_drift_impact{instance=%q,model=%q,window=%q,feature=%q}` $labels.instance "
                      "$labels.model $labels.window $labels.feature | query }} Impact {{ . | first | value | "
                      "printf \"%.2f\" }} (how much it matters: importance, distance past the threshold, "
                      "correlation with performance).{{ end }}",
          message="{model} {window}: {feature} drifted ({method}={value:.4g}, threshold {threshold:g})"),
    Check(CheckName.DATASET_DRIFT, "ModelDatasetDrift", "warning", "data", "model_drifted_features_ratio",
          verdict_metric="model_dataset_drifted", window_setting="drift_window", for_setting="dataset_drift_for",
          summary="Model {{ $labels.model }}: most of its input has drifted",
          description="{percent} of the features of model {{ $labels.model }} drifted over the "
                      "{{ $labels.window }} window, at or above the dataset drift share.",
          message="{model} {window}: dataset drift ({value:.0%} of features drifted)"),
    Check(CheckName.MULTIVARIATE_DRIFT, "ModelMultivariateDrift", "warning", "data", "model_multivariate_drift_score",
          verdict_metric="model_multivariate_drifted", window_setting="drift_window",
          for_setting="multivariate_drift_for",
          summary="The features of model {{ $labels.model }} no longer move together as in training",
          description="The mean PCA reconstruction error of the rows of model {{ $labels.model }} is {value} over "
                      "the {{ $labels.window }} window, outside its band (model_multivariate_drift_window_threshold):"
                      " how the features vary together changed, whether or not one of them drifted alone.",
          message="{model} {window}: multivariate drift (mean reconstruction error {value:.4g}, threshold "
                  "{threshold:.4g})"),
    Check(CheckName.PREDICTION_DRIFT, "ModelPredictionDrift", "warning", "data", "model_prediction_drift_score",
          subject=("output",), verdict_metric="model_prediction_drifted", window_setting="drift_window",
          for_setting="prediction_drift_for",
          summary="Predictions of model {{ $labels.model }} drifted",
          description="The {{ $labels.method }} drift of the model's {{ $labels.output }} distribution is {value} "
                      "over the {{ $labels.window }} window, beyond its threshold (model_prediction_drift_threshold).",
          message="{model} {window}: {output} output drifted ({method}={value:.4g}, threshold {threshold:g})"),
    Check(CheckName.LABEL_DRIFT, "ModelLabelDrift", "warning", "data", "model_label_drift_score",
          verdict_metric="model_label_drifted", window_setting="performance_window", for_setting="label_drift_for",
          summary="The labels of model {{ $labels.model }} drifted",
          description="The {{ $labels.method }} drift of the labels that arrived for the predictions of model "
                      "{{ $labels.model }} is {value} over the {{ $labels.window }} window, beyond its threshold "
                      "(model_label_drift_window_threshold): what the model predicts changed in the world (target "
                      "drift), and its performance may follow.",
          message="{model} {window}: the labels drifted ({method}={value:.4g}, threshold {threshold:g})"),
    Check(CheckName.COMPLETENESS, "ModelMissingValuesSpike", "critical", "data", "model_feature_missing_ratio",
          subject=("feature",), threshold_metric="model_data_quality_window_threshold_ratio",
          threshold_selector='check="completeness"', threshold_by_window=True,
          window_setting="quality_window", for_setting="quality_for",
          summary="Feature {{ $labels.feature }} of model {{ $labels.model }} is often missing",
          description="{percent} of the rows of model {{ $labels.model }} lack feature {{ $labels.feature }} over "
                      "the {{ $labels.window }} window, more than the reference's missing share plus its tolerance "
                      "(and its sampling noise at the window's size).",
          message="{model} {window}: {feature} completeness check failed (ratio {value:.4g} > {threshold:g})"),
    Check(CheckName.CATEGORICAL_VALUES, "ModelNewCategories", "warning", "data", "model_feature_new_category_ratio",
          subject=("feature",), threshold_metric="model_data_quality_window_threshold_ratio",
          threshold_selector='check="categorical_values"', threshold_by_window=True, window_setting="quality_window",
          for_setting="quality_for",
          summary="Feature {{ $labels.feature }} of model {{ $labels.model }} has categories never seen in training",
          description="{percent} of the rows of model {{ $labels.model }} carry a value of "
                      "{{ $labels.feature }} unseen in the reference, over the {{ $labels.window }} window.",
          message="{model} {window}: {feature} categorical_values check failed (ratio {value:.4g} > {threshold:g})"),
    Check(CheckName.OUT_OF_RANGE, "ModelOutOfRangeValues", "warning", "data", "model_feature_out_of_range_ratio",
          subject=("feature",), threshold_metric="model_data_quality_window_threshold_ratio",
          threshold_selector='check="out_of_range"', threshold_by_window=True,
          window_setting="quality_window", for_setting="quality_for",
          summary="Feature {{ $labels.feature }} of model {{ $labels.model }} is outside its training range",
          description="{percent} of the values of {{ $labels.feature }} for model {{ $labels.model }} fall "
                      "outside the reference [min, max], over the {{ $labels.window }} window.",
          message="{model} {window}: {feature} out_of_range check failed (ratio {value:.4g} > {threshold:g})"),
    Check(CheckName.DATA_TYPE, "ModelTypeViolations", "critical", "data", "model_feature_type_violation_ratio",
          subject=("feature",), threshold_metric="model_data_quality_window_threshold_ratio",
          threshold_selector='check="data_type"', threshold_by_window=True,
          window_setting="quality_window", for_setting="quality_for",
          summary="Feature {{ $labels.feature }} of model {{ $labels.model }} arrives with the wrong type",
          description="{percent} of the values of numeric feature {{ $labels.feature }} for model "
                      "{{ $labels.model }} are not numbers, over the {{ $labels.window }} window.",
          message="{model} {window}: {feature} data_type check failed (ratio {value:.4g} > {threshold:g})"),
    Check(CheckName.PERFORMANCE, "ModelPerformanceDrop", "critical", "performance", "model_performance",
          subject=("metric",), threshold_metric="model_performance_window_threshold", op="<",
          reversed_for=LOWER_IS_BETTER,
          threshold_by_window=True, window_setting="performance_window", for_setting="performance_for",
          summary="Model {{ $labels.model }}: {{ $labels.metric }} got worse",
          description="Realized {{ $labels.metric }} of model {{ $labels.model }} is {value} over the "
                      "{{ $labels.window }} window, beyond its threshold (the reference's performance less its "
                      "tolerance, or its sampling noise in a small window; above it for an error).",
          message="{model} {window}: realized {metric} {value:.4g} {side} its threshold {threshold:g}"),
    Check(CheckName.ESTIMATED_PERFORMANCE, "ModelEstimatedPerformanceDrop", "critical", "performance",
          "model_estimated_performance", subject=("metric",),
          threshold_metric="model_estimated_performance_window_threshold", op="<", threshold_by_window=True,
          reversed_for=LOWER_IS_BETTER,
          window_setting="estimated_performance_window", for_setting="estimated_performance_for",
          summary="Model {{ $labels.model }}: estimated {{ $labels.metric }} got worse",
          description="Estimated (without labels: CBPE for classifiers, DLE for regression) {{ $labels.metric }} "
                      "of model {{ $labels.model }} is {value} over the {{ $labels.window }} window, beyond its "
                      "threshold (below it for a score, above it for an error).",
          message="{model} {window}: estimated {metric} {value:.4g} {side} its threshold {threshold:g}"),
    Check(CheckName.CONCEPT_DRIFT, "ModelConceptDrift", "warning", "performance", "model_performance_estimation_gap",
          subject=("metric",), verdict_metric="model_concept_drifted", window_setting="performance_window",
          for_setting="concept_drift_for", pages_with=CheckName.PERFORMANCE,
          summary="Model {{ $labels.model }}: realized {{ $labels.metric }} falls short of its estimate",
          description="Realized {{ $labels.metric }} of model {{ $labels.model }} differs from the estimate of the "
                      "same labelled rows by {value} over the {{ $labels.window }} window, more than the estimate's "
                      "sampling noise explains (model_performance_estimation_gap_window_threshold): the world no "
                      "longer answers as the model's calibrated scores say (concept drift). A warning; it pages "
                      "(critical) while realized {{ $labels.metric }} is also beyond its threshold.",
          message="{model} {window}: concept drift on {metric} (realized minus estimated {value:+.4g}, beyond "
                  "{threshold:g})"),
    Check(CheckName.LABEL_COVERAGE, "ModelLowLabelCoverage", "warning", "data", "model_label_coverage_ratio",
          op="<", window_setting="label_coverage_window", for_setting="label_coverage_for",
          summary="Model {{ $labels.model }}: few predictions have labels",
          description="Only {percent} of the predictions of model {{ $labels.model }} in the {{ $labels.window }} "
                      "window have a label (below {label_coverage_min}): realized performance is blind.",
          message="{model} {window}: label coverage {value:.2%} below {threshold:.0%}"),
    Check(CheckName.UPDATE, "ModelDataStale", "critical", "monitor", "model_monitor_last_success_timestamp_seconds",
          for_setting="stale_for",
          summary="Model {{ $labels.model }} has not been updated",
          description="The exporter has not completed an update of model {{ $labels.model }} for more than "
                      "{stale_after_seconds}s (value {value}): its gauges are stale. See model_monitor_errors_total.",
          message="{model}: the update failed (see model_monitor_errors_total and the log)"),
    Check(CheckName.NO_DATA, "", "critical", "monitor", "model_predictions_total", one_shot=True,
          message="{model}: no usable row: {reason}"),
    # In check, a verdict naming the column; in serve, an alert on any increase of the violation counter.
    # Only a configured column that stops arriving pages (missing_column). Columns the model does not know
    # (extra_column: a request id, the raw prediction beside the configured one, a copy of the timestamp) are
    # in almost every production log; they are counted in the same counter, logged once and shown in
    # SageMaker violations, but break nothing, and a renamed feature pages through its missing side. Values
    # of the wrong type alert as ModelTypeViolations.
    Check(CheckName.SCHEMA, "ModelSchemaViolations", "critical", "data", "model_data_quality_violations_total",
          subject=("column",), one_shot=True, counter_increase=(SchemaCheck.MISSING_COLUMN,),
          lookback_setting="schema_lookback", for_setting="schema_for",
          summary="Model {{ $labels.model }} receives rows that break its schema ({{ $labels.check }})",
          description="{value} {{ $labels.check }} violations{{ with $labels.feature }} on feature {{ . }}"
                      "{{ end }} in the last {lookback} for model {{ $labels.model }}: a configured column stopped "
                      "arriving (renamed or dropped upstream). Unknown extra columns are counted, not alerted; "
                      "values of the wrong type alert as ModelTypeViolations.",
          message="{model}: column {column!r} is absent from {value:.0f} rows read (missing_column)"),
)

#: The checks that have an alert rule.
ALERTING: tuple[Check, ...] = tuple(c for c in CHECKS if c.alert)

BY_NAME: dict[str, Check] = {c.name: c for c in CHECKS}


def describe(model: str, window: str, verdict: Verdict) -> str:
    """The line ``check`` prints for a failed ``verdict``."""
    check = BY_NAME[verdict.check]
    return check.message.format(model=model, window=window, value=verdict.value, threshold=verdict.threshold,
                                **dict(verdict.subject), **dict(verdict.detail))


def failed_checks(snapshot: ModelSnapshot) -> list[str]:
    """Human-readable list of the checks failing in ``snapshot`` (the whole model's windows, not segments)."""
    failed = [describe(snapshot.model, "", v) for v in snapshot.verdicts if v.failed]
    for w in snapshot.windows:
        if not w.segment:
            failed.extend(describe(snapshot.model, w.window, v) for v in w.verdicts if v.failed)
    return failed
