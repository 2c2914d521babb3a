"""Realized regression performance once labels arrive: sums of errors, recentred on the reference's mean."""

from __future__ import annotations

import numpy as np

from exporter.baseline.targets import TargetSpec
from exporter.components.base import HasLabels
from exporter.components.realized import PerformanceBaseline, Realized
from exporter.stats import performance
from exporter.summary.sketch import FieldSpec, Groups, Summary


class Regression(Realized):
    """Sums of errors of labelled predictions: rmse, mae, mape, r2, mean error, error std; msle and rmsle; and the
    largest absolute error (max_error, merged by its maximum)."""

    name = "regression"

    def __init__(self, spec: TargetSpec, baseline: PerformanceBaseline):
        super().__init__(baseline)
        self.shift = spec.label_shift

    def fields(self) -> dict[str, FieldSpec]:
        return {"sums": FieldSpec((performance.REGRESSION_SUMS,), np.float64),
                "log_sums": FieldSpec((performance.LOG_SUMS,), np.float64),
                # The largest absolute error, and the rows it was taken over (merged by their sums): a window whose
                # buckets were not all summed with it (buckets of an older release) has no max_error.
                "max_abs_error": FieldSpec((), np.float64, reduce="max"),
                "max_rows": FieldSpec((), np.float64)}

    def summarize_labels(self, rows: HasLabels, groups: Groups) -> Summary:
        ok = rows.outputs.labelled() & np.isfinite(rows.outputs.pred_value)
        truth, predicted = rows.outputs.label[ok], rows.outputs.pred_value[ok]
        labelled = groups.take(ok)
        return {"sums": labelled.sums(performance.regression_terms(truth, predicted, self.shift)),
                "log_sums": labelled.sums(performance.log_error_terms(truth, predicted)),
                "max_abs_error": labelled.maxima(np.abs(predicted - truth)),
                "max_rows": labelled.sums(np.ones(truth.size))}

    def migrate_v1(self, old: Summary) -> Summary:
        """Release 1 summed the raw target: recentre its sums on the shift."""
        sums = old["reg_sums"].astype(np.float64).copy()
        n, total, squares = sums[..., performance.REG_N], sums[..., performance.REG_Y], sums[..., performance.REG_Y2]
        c = self.shift
        sums[..., performance.REG_Y2] = squares - 2 * c * total + n * c * c
        sums[..., performance.REG_Y] = total - n * c
        return {"sums": sums}

    def metrics(self, merged: Summary) -> dict[str, float]:
        metrics = performance.regression_metrics(merged["sums"])
        if metrics:
            rows = float(merged["sums"][performance.REG_N])
            metrics.update(performance.log_error_metrics(merged["log_sums"], rows))
            if float(merged["max_rows"]) == rows:
                metrics["max_error"] = float(merged["max_abs_error"])
        return metrics
