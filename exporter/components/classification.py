"""Realized classification performance once labels arrive: binary (with scores: ROC AUC, log loss) and
multiclass, from confusion counts and score histograms by label."""

from __future__ import annotations

import numpy as np

from exporter.baseline.classes import migrate_class_axes
from exporter.baseline.outputs import auc_index
from exporter.baseline.targets import TargetSpec, migrate_score_bins
from exporter.components.base import HasLabels
from exporter.components.realized import PerformanceBaseline, Realized
from exporter.stats import performance
from exporter.summary.sketch import FieldSpec, Groups, Summary


class Classification(Realized):
    """Confusion counts of labelled predictions; with scores (binary), score histograms by label and log loss."""

    name = "classification"

    def __init__(self, spec: TargetSpec, baseline: PerformanceBaseline):
        super().__init__(baseline)
        self.spec = spec
        self.k = spec.class_slots
        self.scored = spec.task == "binary_classification" and spec.auc_edges is not None
        self.auc_bins = spec.auc_edges.size + 1 if spec.auc_edges is not None else 0

    def fields(self) -> dict[str, FieldSpec]:
        fields = {"confusion": FieldSpec((self.k, self.k), np.int64)}
        if self.scored:
            fields.update({
                "auc_pos": FieldSpec((self.auc_bins,), np.int64),
                "auc_neg": FieldSpec((self.auc_bins,), np.int64),
                "logloss_sum": FieldSpec((), np.float64),
                "scored_labelled": FieldSpec((), np.int64),
            })
        return fields

    def migrate_v1(self, old: Summary) -> Summary:
        fields = super().migrate_v1(old)
        if self.spec.task == "multiclass_classification":
            fields["confusion"] = migrate_class_axes(fields["confusion"], self.spec.n_classes, self.k, square=True)
        if self.scored:
            for name in ("auc_pos", "auc_neg"):
                fields[name] = migrate_score_bins(self.spec, fields[name])
        return fields

    def summarize_labels(self, rows: HasLabels, groups: Groups) -> Summary:
        labelled = rows.outputs.labelled()
        t = rows.outputs.take(labelled)
        groups = groups.take(labelled)
        k = self.k
        flat = np.where(t.pred_class >= 0, t.label.astype(np.int64) * k + t.pred_class, -1)
        out: Summary = {"confusion": groups.counts(flat, k * k).reshape(groups.count, k, k)}
        if self.scored:
            scored = np.isfinite(t.score)
            index = auc_index(self.spec, t.score)  # -1 where the score is missing: not counted
            out["auc_pos"] = groups.counts(np.where(t.label == 1, index, -1), self.auc_bins)
            out["auc_neg"] = groups.counts(np.where(t.label == 0, index, -1), self.auc_bins)
            terms = np.zeros(t.score.size)
            terms[scored] = performance.log_loss_terms(t.label[scored], t.score[scored])
            out["logloss_sum"] = groups.sums(terms)
            out["scored_labelled"] = groups.rows(t.score.size, scored)
        return out

    def metrics(self, merged: Summary) -> dict[str, float]:
        if self.spec.task == "multiclass_classification":
            # Rows whose label or prediction is in the overflow slot (untracked classes) are left out.
            return performance.multiclass_metrics(merged["confusion"][:-1, :-1])
        confusion = merged["confusion"][:2, :2]
        if self.scored:
            return performance.binary_metrics(confusion, merged["auc_pos"], merged["auc_neg"],
                                              float(merged["logloss_sum"]), int(merged["scored_labelled"]))
        return performance.binary_from_confusion(confusion)
