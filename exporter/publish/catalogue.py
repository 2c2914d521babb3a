"""The metric catalogue: every family the exporter serves, its type, labels and help, in the order served.

The exposition (:mod:`exporter.publish.exposition`) writes only families of this catalogue; the mixin's rules
and dashboards may name only its metrics (or a recording rule's), and the README's metric table lists each.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricDoc:
    name: str
    kind: str
    labels: tuple[str, ...]
    help: str


#: Every family the exporter serves. The README's metric table is checked against it.
#: Windowed families also carry ``segment`` on the series of a segment (``column=value``).
METRICS: dict[str, MetricDoc] = {
    m.name: m
    for m in (
        MetricDoc("model_predictions_total", "counter", ("model",), "Prediction rows ingested."),
        MetricDoc("model_prediction_latency_seconds", "histogram", ("model",),
                  "Prediction latency logged with each prediction."),
        MetricDoc("model_prediction_errors_total", "counter", ("model",),
                  "Prediction rows whose error/status column holds none of the ok values."),
        MetricDoc("model_info", "gauge", ("model", "version", "trained_at"),
                  "Always 1; the model's configured version and training time."),
        MetricDoc("model_age_seconds", "gauge", ("model",), "Seconds since the model was trained (trained_at)."),
        MetricDoc("model_max_age_seconds", "gauge", ("model",),
                  "The age after which the model is due for retraining (max_model_age, with trained_at): "
                  "ModelTooOld fires when model_age_seconds passes it."),
        MetricDoc("model_window_seconds", "gauge", ("model", "window"),
                  "Length of the window; lets rules pick a model's shortest or longest window by value."),
        MetricDoc("model_window_rows", "gauge", ("model", "window"), "Prediction rows in the window."),
        MetricDoc("model_feature_drift_score", "gauge", ("model", "window", "feature", "method"),
                  "Drift statistic of the feature in the window against the reference "
                  "(p-value for chi2, distance or statistic otherwise)."),
        MetricDoc("model_feature_drift_threshold", "gauge", ("model", "feature", "method"),
                  "Fixed threshold of the feature's drift statistic (drift above it; below it for p-values); "
                  "for a calibrated feature its fixed part: the minimum effect (alpha for chi2)."),
        MetricDoc("model_feature_drift_window_threshold", "gauge", ("model", "window", "feature", "method"),
                  "Threshold of the feature's drift statistic in force in the window: calibrated to the window's "
                  "values (null quantile at 1 - alpha, at least the minimum effect), or the fixed threshold."),
        MetricDoc("model_feature_drift_impact", "gauge", ("model", "window", "feature"),
                  "How much the feature's drift matters: importance x score over threshold x (1 + the negative "
                  "correlation of its drift with performance over recent windows); sort drifted features by it."),
        MetricDoc("model_feature_drifted", "gauge", ("model", "window", "feature"),
                  "1 when the feature's configured drift test says drift in the window, else 0."),
        MetricDoc("model_drifted_features_ratio", "gauge", ("model", "window"),
                  "Share of the features with a drift verdict that drifted in the window."),
        MetricDoc("model_dataset_drifted", "gauge", ("model", "window"),
                  "1 when the share of drifted features reaches the configured dataset share, else 0."),
        MetricDoc("model_dataset_drift_share_threshold_ratio", "gauge", ("model",),
                  "Share of drifted features at which the dataset counts as drifted."),
        MetricDoc("model_multivariate_drift_score", "gauge", ("model", "window"),
                  "Mean PCA reconstruction error of the window's rows (features standardised on the reference, "
                  "projected on the components explaining 65% of its variance and back): grows when the features "
                  "stop moving together as they did, though none drifted alone."),
        MetricDoc("model_multivariate_drift_window_threshold", "gauge", ("model", "window", "bound"),
                  "The band in force in the window (bound=lower|upper): the reference's mean error plus or minus "
                  "three of its chunk-to-chunk standard deviations at the window's rows (at least 5% of it)."),
        MetricDoc("model_multivariate_drifted", "gauge", ("model", "window"),
                  "1 when the window's mean reconstruction error lies outside its band, else 0."),
        MetricDoc("model_multivariate_reference_error", "gauge", ("model",),
                  "The reference's mean PCA reconstruction error."),
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
                  "categorical_values: new-category ratio, out_of_range: out-of-range ratio, data_type: type-violation "
                  "ratio of numeric features)."),
        MetricDoc("model_data_quality_window_threshold_ratio", "gauge", ("model", "window", "feature", "check"),
                  "Ratio above which the data-quality check fails in the window: the model-wide limit, raised in "
                  "small windows to the binomial (1 - quality.alpha) quantile of the reference's own rate."),
        MetricDoc("model_data_quality_violations_total", "counter", ("model", "check", "feature"),
                  "Schema violations by check (missing_column, extra_column, data_type)."),
        MetricDoc("model_prediction_drift_score", "gauge", ("model", "window", "method", "output"),
                  "Drift of the model's output against the reference: score (classifier score), "
                  "value (regression prediction), class (predicted class distribution) or confidence (a "
                  "classifier's top-class probability, or its score's distance from the decision threshold)."),
        MetricDoc("model_prediction_drift_threshold", "gauge", ("model", "method", "output"),
                  "Fixed threshold of the output drift statistic (drift above it; below it for p-values); for a "
                  "calibrated output its fixed part (the minimum effect, alpha for chi2)."),
        MetricDoc("model_prediction_drift_window_threshold", "gauge", ("model", "window", "output", "method"),
                  "Threshold of the output's drift statistic in force in the window (calibrated to its size unless "
                  "drift.prediction_threshold fixes it)."),
        MetricDoc("model_prediction_drifted", "gauge", ("model", "window", "output"),
                  "1 when the output's drift statistic says drift in the window, else 0."),
        MetricDoc("model_low_confidence_ratio", "gauge", ("model", "window"),
                  "Share of a classifier's predictions whose confidence (the top class's probability, or the "
                  "score's distance from the decision threshold) is below low_confidence."),
        MetricDoc("model_low_confidence_threshold", "gauge", ("model",),
                  "The confidence below which a prediction counts as unsure (low_confidence)."),
        MetricDoc("model_label_drift_score", "gauge", ("model", "window", "method"),
                  "Drift of the labels that arrived for the window's predictions against the reference's labels "
                  "(a regression target as a numeric feature, classes as a categorical one)."),
        MetricDoc("model_label_drift_threshold", "gauge", ("model", "method"),
                  "Fixed threshold of label drift; for a calibrated rule its fixed part (the minimum effect, alpha "
                  "for chi2)."),
        MetricDoc("model_label_drift_window_threshold", "gauge", ("model", "window", "method"),
                  "Threshold of label drift in force in the window, calibrated to its labelled rows unless fixed."),
        MetricDoc("model_label_drifted", "gauge", ("model", "window"),
                  "1 when the labels of the window drifted from the reference's, else 0."),
        MetricDoc("model_prediction_out_of_range_ratio", "gauge", ("model", "window"),
                  "Share of the window's scores (or predicted values) outside the reference range."),
        MetricDoc("model_performance", "gauge", ("model", "window", "metric"),
                  "Realized performance on the window's labelled predictions."),
        MetricDoc("model_reference_performance", "gauge", ("model", "metric"),
                  "Realized performance on the labelled reference (the baseline)."),
        MetricDoc("model_performance_threshold", "gauge", ("model", "metric"),
                  "Reference performance minus performance_tolerance: the threshold of windows large enough."),
        MetricDoc("model_performance_window_threshold", "gauge", ("model", "window", "metric"),
                  "Realized performance below which the window fails: the reference's minus the larger of "
                  "performance_tolerance and the metric's sampling noise at the window's labelled rows."),
        MetricDoc("model_performance_estimation_gap", "gauge", ("model", "window", "metric"),
                  "Realized minus estimated performance on the same labelled rows of the window: the concept-drift "
                  "signal (the estimate misjudges the rows once their labels arrive)."),
        MetricDoc("model_performance_estimation_gap_window_threshold", "gauge", ("model", "window", "metric"),
                  "Size of a gap the estimate's sampling noise explains at the window's labelled rows: the larger of "
                  "performance_tolerance and z(1 - alpha) x the metric's noise / sqrt(rows)."),
        MetricDoc("model_performance_sampling_error", "gauge", ("model", "window", "kind", "metric"),
                  "Sampling error of the window's realized (kind=realized, at its labelled rows) or estimated "
                  "(kind=estimated, at its rows) metric, as NannyML computes it: the band drawn around the metric."),
        MetricDoc("model_confusion_matrix", "gauge", ("model", "window", "kind", "actual", "predicted"),
                  "Rows of the window per actual and predicted class: the labelled rows (kind=realized) or every "
                  "row's expectation from its calibrated probabilities (kind=estimated, CBPE). Whole-model windows "
                  "only; classes the reference never had share the __other__ row and column."),
        MetricDoc("model_concept_drifted", "gauge", ("model", "window", "metric"),
                  "1 when realized performance is worse than its estimate by more than the gap threshold, else 0."),
        MetricDoc("model_estimated_performance_window_threshold", "gauge", ("model", "window", "metric"),
                  "Estimated performance below which the window fails: as model_performance_window_threshold, "
                  "at the window's rows."),
        MetricDoc("model_estimated_performance", "gauge", ("model", "window", "metric"),
                  "Performance estimated without labels (CBPE) on all of the window's predictions."),
        MetricDoc("model_label_coverage_ratio", "gauge", ("model", "window"),
                  "Share of the window's predictions that have a label."),
        MetricDoc("model_window_labelled_rows", "gauge", ("model", "window"),
                  "Predictions in the window that have a label."),
        MetricDoc("model_label_delay_seconds", "histogram", ("model",),
                  "Label time (its own timestamp, else when it was read) minus prediction time, for labels "
                  "joined from the labels log."),
        MetricDoc("model_window_label_delay_seconds", "gauge", ("model", "window", "percentile"),
                  "Percentiles (50, 90, 99) of the delay of the labels joined to the window's predictions "
                  "(from the labels log), interpolated within model_label_delay_seconds buckets."),
        MetricDoc("model_label_pending", "gauge", ("model", "kind"),
                  "Predictions waiting for a label (kind=prediction) and labels waiting for their "
                  "prediction (kind=label)."),
        MetricDoc("model_label_join_dropped_total", "counter", ("model", "reason"),
                  "Predictions or labels given up while waiting to be joined, by reason."),
        MetricDoc("model_score_calibration_error", "gauge", ("model",),
                  "Expected calibration error of the scores CBPE uses, on held-out reference data."),
        MetricDoc("model_score_calibrated", "gauge", ("model",),
                  "1 when CBPE uses isotonic-calibrated scores, 0 when raw scores (calibration did not help)."),
        MetricDoc("model_segment_other_rows_total", "counter", ("model", "column"),
                  "Rows whose segment value was not among the kept values and went to __other__."),
        MetricDoc("model_monitor_last_success_timestamp_seconds", "gauge", ("model",),
                  "Unix time at the end of the model's last successful update."),
        MetricDoc("model_monitor_last_run_duration_seconds", "gauge", ("model",),
                  "Duration of the model's last update."),
        MetricDoc("model_monitor_last_run_success", "gauge", ("model",),
                  "1 when the model's last update succeeded, else 0."),
        MetricDoc("model_monitor_errors_total", "counter", ("model", "stage"),
                  "Failures while reading or computing, by stage."),
        MetricDoc("model_monitor_component_errors_total", "counter", ("model", "component"),
                  "Window evaluations a component failed, by component: its results were left out of the "
                  "window, the other components' kept."),
        MetricDoc("model_monitor_rejected_rows_total", "counter", ("model", "reason"),
                  "Rows that could not be used, by reason."),
        MetricDoc("model_monitor_lost_files_total", "counter", ("model", "log"),
                  "Log files truncated or removed before their end was read, whose rest was found in no "
                  "rotated copy: rows written after the last read may be lost."),
        MetricDoc("model_monitor_unread_bytes_total", "counter", ("model", "log"),
                  "Bytes of such files known to have been written and never read."),
        # The HTTP server's own (exporter.publish.http.ServerCollector), served by ``serve`` only.
        MetricDoc("model_monitor_http_open_connections", "gauge", (),
                  "Connections open to the exporter's HTTP server."),
        MetricDoc("model_monitor_http_connections_total", "counter", (), "Connections the HTTP server accepted."),
        MetricDoc("model_monitor_http_refused_connections_total", "counter", ("reason",),
                  "Connections closed early, by reason (connection_limit, timeout, tls_handshake, "
                  "headers_too_large, body_too_large, bad_request)."),
    )
}
