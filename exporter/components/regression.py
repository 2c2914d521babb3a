"""Realized regression performance once labels arrive: sums of errors, recentred on the reference's mean."""

from __future__ import annotations

import numpy as np

from exporter.baseline.targets import TargetSpec
from exporter.components.base import HasLabels
from exporter.components.realized import PerformanceBaseline, Realized
from exporter.stats import performance
from exporter.summary.sketch import FieldSpec, Groups, Summary


class Regression(Realized):
    """Sums of errors of labelled predictions: rmse, mae, mape, r2, mean error."""

    name = "regression"

    def __init__(self, spec: TargetSpec, baseline: PerformanceBaseline):
        super().__init__(baseline)
        self.shift = spec.label_shift

    def fields(self) -> dict[str, FieldSpec]:
        return {"sums": FieldSpec((performance.REGRESSION_SUMS,), np.float64)}

    def summarize_labels(self, rows: HasLabels, groups: Groups) -> Summary:
        ok = rows.outputs.labelled() & np.isfinite(rows.outputs.pred_value)
        terms = performance.regression_terms(rows.outputs.label[ok], rows.outputs.pred_value[ok], self.shift)
        return {"sums": groups.take(ok).sums(terms)}

    def migrate_v1(self, old: Summary) -> Summary:
        """Release 1 summed the raw target: recentre its sums on the shift."""
        sums = old["reg_sums"].astype(np.float64).copy()
        n, total, squares = sums[..., performance.REG_N], sums[..., performance.REG_Y], sums[..., performance.REG_Y2]
        c = self.shift
        sums[..., performance.REG_Y2] = squares - 2 * c * total + n * c * c
        sums[..., performance.REG_Y] = total - n * c
        return {"sums": sums}

    def metrics(self, merged: Summary) -> dict[str, float]:
        return performance.regression_metrics(merged["sums"])
