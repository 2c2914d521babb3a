"""Performance estimated without labels (CBPE): expected confusion counts from calibrated probabilities.

Binary: each scored row adds its calibrated probability ``p`` as an expected
positive and ``1 - p`` as an expected negative, in the column of its
predicted class and in its score bin (for ROC AUC). Multiclass: each row adds
its renormalised class probabilities to the column of its predicted class.

The same expectations are kept for the rows whose label has arrived, so that a window's realized
performance can be set against the estimate of the very same rows: their difference, beyond what the
estimate's sampling noise explains, is the concept-drift signal (the world no longer answers as the
calibrated scores say; :meth:`~exporter.components.realized.PerformanceBaseline.gap_verdicts`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from exporter.baseline.classes import migrate_class_axes
from exporter.baseline.outputs import auc_index
from exporter.baseline.targets import Targets, TargetSpec, migrate_score_bins
from exporter.components.base import Component, HasLabels, WindowContext
from exporter.components.classification import class_histograms, named_confusion
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

    def __init__(self, spec: TargetSpec, baseline: PerformanceBaseline, labels: bool = True):
        self.spec = spec
        #: Whether labels may arrive: without, the labelled rows' expectations (the gap) are not kept.
        self.labels = labels
        self.baseline = baseline
        self.binary = spec.task == "binary_classification" and spec.auc_edges is not None
        self.multiclass = bool(spec.class_score_columns)
        #: Multiclass with the reference's bins of each class's probability: estimated ROC AUC per class.
        self.class_scored = self.multiclass and bool(spec.class_auc_edges)
        self.auc_bins = spec.auc_edges.size + 1 if spec.auc_edges is not None else 0
        self.k = spec.class_slots

    def fields(self) -> dict[str, FieldSpec]:
        fields = {}
        # Every row's expectations; and the labelled rows' (the concept-drift gap), for a model that gets labels.
        for prefix in ("", "labelled_") if self.labels else ("",):
            if self.binary:
                fields[prefix + "pos"] = FieldSpec((self.auc_bins,), np.float64)
                fields[prefix + "neg"] = FieldSpec((self.auc_bins,), np.float64)
                fields[prefix + "confusion"] = FieldSpec((2, 2), np.float64)
            if self.multiclass:
                fields[prefix + "class_confusion"] = FieldSpec((self.k, self.k), np.float64)
            if self.class_scored:
                shape = (self.spec.n_classes, self.spec.class_auc_bins)
                fields[prefix + "class_auc_pos"] = FieldSpec(shape, np.float64)
                fields[prefix + "class_auc_neg"] = FieldSpec(shape, np.float64)
        if self.labels:
            fields["labelled_predicted"] = FieldSpec((), np.int64)
            fields["labelled_estimated"] = FieldSpec((), np.int64)
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
        return self._expected(batch.outputs, groups)

    def summarize_labels(self, rows: HasLabels, groups: Groups) -> Summary:
        """The expected counts of the labelled rows alone: the estimate that the realized performance of the
        same rows is compared with (the concept-drift gap). ``predicted`` counts the labelled rows that realized
        performance counts, ``estimated`` those of them with an estimate: the gap is computed where they agree."""
        t = rows.outputs
        if not self.labels:
            return {}
        if self.multiclass:  # realized multiclass performance leaves out the overflow class slot
            counted = t.labelled() & (t.pred_class >= 0) & (t.pred_class < self.k - 1) & (t.label < self.k - 1)
        else:
            counted = t.labelled() & (t.pred_class >= 0) & (t.pred_class < 2)
        t, groups = t.take(counted), groups.take(counted)
        out = {f"labelled_{name}": value for name, value in self._expected(t, groups).items()}
        out["labelled_predicted"] = groups.rows(t.label.size)
        out["labelled_estimated"] = groups.rows(t.label.size, self._estimable(t))
        return out

    def _estimable(self, t: Targets) -> np.ndarray:
        """The rows with an estimate: a score (binary), or every class probability (multiclass)."""
        if self.multiclass:
            if t.class_proba is None:
                return np.zeros(t.pred_class.size, dtype=bool)
            return (t.pred_class >= 0) & np.isfinite(t.class_proba).all(axis=1)
        return np.isfinite(t.score) & (t.pred_class >= 0) & (t.pred_class < 2)

    def _expected(self, t: Targets, groups: Groups) -> Summary:
        """Expected confusion (and, binary, expected score histograms) of the rows ``t``, per group."""
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
        if self.multiclass:
            expected = np.zeros((groups.count, self.k, self.k))
            if t.class_proba is not None:
                ok = self._estimable(t)
                predicted = np.where(ok, t.pred_class, -1)
                proba = np.where(ok[:, None], t.class_proba, 0.0)
                for true_class in range(t.class_proba.shape[1]):
                    expected[:, true_class] = groups.counts(predicted, self.k, proba[:, true_class])
            out["class_confusion"] = expected
        if self.class_scored:
            proba = t.class_proba if t.class_proba is not None else np.full((t.pred_class.size, self.k), np.nan)
            out.update(class_histograms(self.spec, t, groups, weights=proba[:, : self.spec.n_classes]))
        return out

    def _metrics(self, merged: Summary, prefix: str = "") -> dict[str, float]:
        if self.multiclass:
            metrics = performance.multiclass_metrics(merged[prefix + "class_confusion"])
            if self.class_scored and metrics:
                auc = performance.macro_auc(merged[prefix + "class_auc_pos"], merged[prefix + "class_auc_neg"])
                if auc is not None:
                    metrics["roc_auc"] = auc
            return metrics
        if self.binary:
            return performance.cbpe_metrics(merged[prefix + "confusion"], merged[prefix + "pos"],
                                            merged[prefix + "neg"])
        return {}

    def evaluate(self, merged: Summary, ctx: WindowContext, out: WindowBuilder) -> None:
        metrics = self._metrics(merged) if ctx.rows >= ctx.min_rows else {}
        out.set(estimated_performance=metrics,
                estimated_performance_sampling_error=self.baseline.sampling_errors(metrics, ctx.rows))
        if metrics and not ctx.segment:
            expected = merged["class_confusion"] if self.multiclass else merged["confusion"]
            out.set(estimated_confusion_matrix=named_confusion(self.spec, expected))
        out.set(estimated_performance_limits=self.baseline.verdicts(CheckName.ESTIMATED_PERFORMANCE, metrics, out,
                                                                    ctx.rows))
        labelled = int(merged["labelled_predicted"]) if self.labels else 0
        realized = out.values.get("performance") or {}  # the realized component's, evaluated before this one
        if realized and labelled >= ctx.min_rows and int(merged["labelled_estimated"]) == labelled:
            self.baseline.gap_verdicts(realized, self._metrics(merged, "labelled_"), out, labelled)

    def snapshot_fields(self) -> dict[str, Any]:
        calibration, per_class = self.spec.calibration, self.spec.class_calibrations
        if calibration is not None:
            return {"calibration_error": calibration.error, "calibrated": calibration.calibrated}
        if per_class:
            return {"calibration_error": float(np.mean([c.error for c in per_class])),
                    "calibrated": any(c.calibrated for c in per_class)}
        return {}
