"""Performance estimated without labels (CBPE): expected confusion counts from calibrated probabilities.

Binary: each scored row adds its calibrated probability ``p`` as an expected
positive and ``1 - p`` as an expected negative, in the column of its
predicted class and in its score bin (for ROC AUC). Multiclass: each row adds
its renormalised class probabilities to the column of its predicted class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from exporter.baseline.classes import migrate_class_axes
from exporter.baseline.outputs import auc_index
from exporter.baseline.targets import TargetSpec, migrate_score_bins
from exporter.components.base import Component, WindowContext
from exporter.components.realized import PerformanceBaseline
from exporter.prepare.preparer import PreparedBatch
from exporter.stats import performance
from exporter.summary.results import WindowBuilder
from exporter.summary.sketch import FieldSpec, Groups, Summary
from exporter.values.vocabulary import CheckName


class Cbpe(Component):
    name = "cbpe"
    V1_FIELDS = {"pos": "cbpe_pos", "neg": "cbpe_neg", "confusion": "cbpe_confusion",
                 "class_confusion": "cbpe_class_confusion"}

    def __init__(self, spec: TargetSpec, baseline: PerformanceBaseline):
        self.spec = spec
        self.baseline = baseline
        self.binary = spec.task == "binary_classification" and spec.auc_edges is not None
        self.multiclass = bool(spec.class_score_columns)
        self.auc_bins = spec.auc_edges.size + 1 if spec.auc_edges is not None else 0
        self.k = spec.class_slots

    def fields(self) -> dict[str, FieldSpec]:
        fields = {}
        if self.binary:
            fields["pos"] = FieldSpec((self.auc_bins,), np.float64)
            fields["neg"] = FieldSpec((self.auc_bins,), np.float64)
            fields["confusion"] = FieldSpec((2, 2), np.float64)
        if self.multiclass:
            fields["class_confusion"] = FieldSpec((self.k, self.k), np.float64)
        return fields

    def migrate_v1(self, old: Summary) -> Summary:
        fields = super().migrate_v1(old)
        if self.multiclass:
            fields["class_confusion"] = migrate_class_axes(fields["class_confusion"], self.spec.n_classes, self.k,
                                                           square=True)
        if self.binary:
            for name in ("pos", "neg"):
                fields[name] = migrate_score_bins(self.spec, fields[name])
        return fields

    def summarize(self, batch: PreparedBatch, groups: Groups) -> Summary:
        t = batch.outputs
        out: Summary = {}
        if self.binary:
            ok = np.isfinite(t.score)
            calibration = self.spec.calibration
            p = np.zeros(t.score.size)
            p[ok] = calibration.calibrator(t.score[ok]) if calibration else np.clip(t.score[ok], 0, 1)
            index = auc_index(self.spec, t.score)  # -1 where the score is missing: not counted
            out["pos"] = groups.counts(index, self.auc_bins, p)
            out["neg"] = groups.counts(index, self.auc_bins, np.where(ok, 1 - p, 0.0))
            # Expected confusion [true class, predicted class]: P(1) and P(0) summed per predicted class.
            predicted = np.where(ok & (t.pred_class >= 0) & (t.pred_class < 2), t.pred_class, -1)
            out["confusion"] = np.stack([groups.counts(predicted, 2, np.where(ok, 1 - p, 0.0)),
                                         groups.counts(predicted, 2, p)], axis=1)
        if self.multiclass and t.class_proba is not None:
            ok = (t.pred_class >= 0) & np.isfinite(t.class_proba).all(axis=1)
            predicted = np.where(ok, t.pred_class, -1)
            proba = np.where(ok[:, None], t.class_proba, 0.0)
            expected = np.zeros((groups.count, self.k, self.k))
            for true_class in range(t.class_proba.shape[1]):
                expected[:, true_class] = groups.counts(predicted, self.k, proba[:, true_class])
            out["class_confusion"] = expected
        return out

    def evaluate(self, merged: Summary, ctx: WindowContext, out: WindowBuilder) -> None:
        metrics: dict[str, float] = {}
        if ctx.rows >= ctx.min_rows:
            if self.multiclass:
                metrics = performance.multiclass_metrics(merged["class_confusion"])
            elif self.binary:
                metrics = performance.cbpe_metrics(merged["confusion"], merged["pos"], merged["neg"])
        out.set(estimated_performance=metrics)
        out.set(estimated_performance_limits=self.baseline.verdicts(CheckName.ESTIMATED_PERFORMANCE, metrics, out,
                                                                    ctx.rows))

    def snapshot_fields(self) -> dict[str, Any]:
        calibration, per_class = self.spec.calibration, self.spec.class_calibrations
        if calibration is not None:
            return {"calibration_error": calibration.error, "calibrated": calibration.calibrated}
        if per_class:
            return {"calibration_error": float(np.mean([c.error for c in per_class])),
                    "calibrated": any(c.calibrated for c in per_class)}
        return {}
