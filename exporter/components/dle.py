"""Regression performance estimated without labels (DLE): the nanny models' per-row error estimates, summed.

Each prediction's estimated absolute and squared error (:mod:`exporter.baseline.nanny`) is computed when it
is prepared; a bucket keeps their sums and count, a window's estimated MAE, MSE and RMSE come from the merged
sums. The same sums over the rows whose label has arrived set the estimate against the realized errors of the
very same rows: the concept-drift gap, as CBPE's for classifiers.
"""

from __future__ import annotations

import numpy as np

from exporter.baseline.nanny import metrics_from_sums
from exporter.baseline.targets import Targets
from exporter.components.base import Component, HasLabels, WindowContext
from exporter.components.realized import PerformanceBaseline
from exporter.prepare.preparer import PreparedBatch
from exporter.summary.results import WindowBuilder
from exporter.summary.sketch import FieldSpec, Groups, Summary
from exporter.values.vocabulary import CheckName


class DirectLossEstimation(Component):
    name = "dle"

    def __init__(self, baseline: PerformanceBaseline):
        self.baseline = baseline

    def fields(self) -> dict[str, FieldSpec]:
        return {
            "rows": FieldSpec((), np.int64),
            "errors": FieldSpec((2,), np.float64),  # sums of the estimated absolute and squared errors
            "labelled_predicted": FieldSpec((), np.int64),
            "labelled_rows": FieldSpec((), np.int64),
            "labelled_errors": FieldSpec((2,), np.float64),
        }

    @staticmethod
    def _sums(t: Targets, groups: Groups) -> tuple[np.ndarray, np.ndarray]:
        """Rows with an estimate, and the sums of their estimates, per group."""
        n = t.pred_value.size
        if t.est_error is None:
            return groups.rows(n, np.zeros(n, dtype=bool)), np.zeros((groups.count, 2))
        ok = np.isfinite(t.est_error).all(axis=1)
        return groups.rows(n, ok), groups.sums(np.where(ok[:, None], t.est_error, 0.0)).reshape(groups.count, 2)

    def summarize(self, batch: PreparedBatch, groups: Groups) -> Summary:
        rows, errors = self._sums(batch.outputs, groups)
        return {"rows": rows, "errors": errors}

    def summarize_labels(self, rows: HasLabels, groups: Groups) -> Summary:
        """The estimates of the rows that realized performance counts (labelled, with a prediction)."""
        counted = rows.outputs.labelled() & np.isfinite(rows.outputs.pred_value)
        t, groups = rows.outputs.take(counted), groups.take(counted)
        estimated, errors = self._sums(t, groups)
        return {"labelled_predicted": groups.rows(t.pred_value.size), "labelled_rows": estimated,
                "labelled_errors": errors}

    def evaluate(self, merged: Summary, ctx: WindowContext, out: WindowBuilder) -> None:
        rows = int(merged["rows"])
        metrics = metrics_from_sums(rows, *map(float, merged["errors"])) if rows >= ctx.min_rows else {}
        out.set(estimated_performance=metrics,
                estimated_performance_sampling_error=self.baseline.sampling_errors(metrics, rows))
        out.set(estimated_performance_limits=self.baseline.verdicts(CheckName.ESTIMATED_PERFORMANCE, metrics, out,
                                                                    rows))
        labelled = int(merged["labelled_predicted"])
        realized = out.values.get("performance") or {}  # the regression component's, evaluated before this one
        if realized and labelled >= ctx.min_rows and int(merged["labelled_rows"]) == labelled:
            estimated = metrics_from_sums(labelled, *map(float, merged["labelled_errors"]))
            self.baseline.gap_verdicts(realized, estimated, out, labelled)
