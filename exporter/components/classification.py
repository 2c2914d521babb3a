"""Realized classification performance once labels arrive: binary (with scores: ROC AUC, log loss) and
multiclass, from confusion counts and score histograms by label."""

from __future__ import annotations

import numpy as np

from exporter.baseline.classes import migrate_class_axes
from exporter.baseline.outputs import auc_index
from exporter.baseline.targets import Targets, TargetSpec, migrate_score_bins
from exporter.components.base import HasLabels
from exporter.components.realized import PerformanceBaseline, Realized
from exporter.stats import performance
from exporter.summary.results import ConfusionMatrix
from exporter.summary.sketch import FieldSpec, Groups, Summary

#: The column and row of the classes the reference never had (first seen in production, or beyond those tracked).
NEW_CLASSES = "__other__"


def class_histograms(spec: TargetSpec, t: Targets, groups: Groups, weights: np.ndarray | None = None) -> Summary:
    """Per class, the histograms of its probability (as logged) of the rows whose label is that class and of the
    rest: counted for labelled rows, or (``weights``: each row's calibrated probability of each class, CBPE)
    expected. Rows without every class's probability, or (counted) labelled with a class the reference never
    had, are left out."""
    scores = t.class_scores
    k, bins = spec.n_classes, spec.class_auc_bins
    if scores is None:  # rows that waited for their label under an older release: their probabilities are gone
        dtype = np.int64 if weights is None else np.float64
        return {"class_auc_pos": np.zeros((groups.count, k, bins), dtype=dtype),
                "class_auc_neg": np.zeros((groups.count, k, bins), dtype=dtype)}
    ok = np.isfinite(scores).all(axis=1)
    if weights is None:
        ok &= (t.label >= 0) & (t.label < k)
    else:
        ok &= np.isfinite(weights).all(axis=1)
    index = np.where(ok[:, None], spec.class_auc_index(np.where(ok[:, None], scores, 0.0)), -1)
    positive, negative = [], []
    for c in range(k):
        if weights is None:
            positive.append(groups.counts(np.where(t.label == c, index[:, c], -1), bins))
            negative.append(groups.counts(np.where(t.label != c, index[:, c], -1), bins))
        else:
            p = np.where(ok, weights[:, c], 0.0)
            positive.append(groups.counts(index[:, c], bins, p))
            negative.append(groups.counts(index[:, c], bins, np.where(ok, 1 - p, 0.0)))
    return {"class_auc_pos": np.stack(positive, axis=1), "class_auc_neg": np.stack(negative, axis=1)}


def named_confusion(spec: TargetSpec, counts: np.ndarray) -> ConfusionMatrix:
    """``counts[actual slot][predicted slot]`` by class name: binary (negative, positive), multiclass the reference's
    classes and one :data:`NEW_CLASSES` row and column for every other slot (when any row falls there)."""
    if spec.task == "binary_classification":
        return ConfusionMatrix((spec.negative_label or "negative", spec.positive_label), counts[:2, :2].copy())
    n = spec.n_classes
    folded = np.zeros((n + 1, n + 1), dtype=counts.dtype)
    folded[:n, :n] = counts[:n, :n]
    folded[:n, n] = counts[:n, n:].sum(axis=1)
    folded[n, :n] = counts[n:, :n].sum(axis=0)
    folded[n, n] = counts[n:, n:].sum()
    if folded[n].any() or folded[:, n].any():
        return ConfusionMatrix((*spec.classes, NEW_CLASSES), folded)
    return ConfusionMatrix(tuple(spec.classes), folded[:n, :n])


class Classification(Realized):
    """Confusion counts of labelled predictions; with scores (binary), score histograms by label and log loss."""

    name = "classification"

    def __init__(self, spec: TargetSpec, baseline: PerformanceBaseline):
        super().__init__(baseline)
        self.spec = spec
        self.k = spec.class_slots
        self.scored = spec.task == "binary_classification" and spec.auc_edges is not None
        self.auc_bins = spec.auc_edges.size + 1 if spec.auc_edges is not None else 0
        #: Multiclass with probability columns: a score histogram per class, by whether the label is that class.
        self.class_scored = spec.task == "multiclass_classification" and bool(spec.class_auc_edges)

    def fields(self) -> dict[str, FieldSpec]:
        fields = {"confusion": FieldSpec((self.k, self.k), np.int64)}
        if self.scored:
            fields.update({
                "auc_pos": FieldSpec((self.auc_bins,), np.int64),
                "auc_neg": FieldSpec((self.auc_bins,), np.int64),
                "logloss_sum": FieldSpec((), np.float64),
                "scored_labelled": FieldSpec((), np.int64),
            })
        if self.class_scored:
            shape = (self.spec.n_classes, self.spec.class_auc_bins)
            fields.update({"class_auc_pos": FieldSpec(shape, np.int64), "class_auc_neg": FieldSpec(shape, np.int64)})
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
        if self.class_scored:
            out.update(class_histograms(self.spec, t, groups))
        return out

    def confusion(self, merged: Summary) -> ConfusionMatrix:
        return named_confusion(self.spec, merged["confusion"])

    def metrics(self, merged: Summary) -> dict[str, float]:
        if self.spec.task == "multiclass_classification":
            # Rows whose label or prediction is in the overflow slot (untracked classes) are left out.
            metrics = performance.multiclass_metrics(merged["confusion"][:-1, :-1])
            if self.class_scored and metrics:
                auc = performance.macro_auc(merged["class_auc_pos"], merged["class_auc_neg"])
                if auc is not None:
                    metrics["roc_auc"] = auc
            return metrics
        confusion = merged["confusion"][:2, :2]
        if self.scored:
            return performance.binary_metrics(confusion, merged["auc_pos"], merged["auc_neg"],
                                              float(merged["logloss_sum"]), int(merged["scored_labelled"]))
        return performance.binary_from_confusion(confusion)
