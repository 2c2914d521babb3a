"""Drift of what the model said: its score (or predicted value), its predicted classes and, for a classifier,
its confidence (the top class's probability, or the score's distance from the decision threshold), with the
share of its unsure predictions."""

from __future__ import annotations

from typing import Any

import numpy as np

from exporter.baseline import drift
from exporter.baseline.classes import migrate_class_axes
from exporter.baseline.targets import TargetSpec
from exporter.components.base import Component, WindowContext
from exporter.prepare.preparer import PreparedBatch
from exporter.stats.methods.jensen_shannon import jensen_shannon
from exporter.summary.results import OutputDrift as OutputDriftResult
from exporter.summary.results import WindowBuilder
from exporter.summary.sketch import FieldSpec, Groups, Summary
from exporter.values.vocabulary import CheckName

#: Method and threshold of the predicted-class distribution drift.
CLASS_DRIFT_METHOD = "js"
CLASS_DRIFT_THRESHOLD = 0.1


class OutputDrift(Component):
    name = "output"

    def __init__(self, spec: TargetSpec):
        self.spec = spec
        self.output = spec.output
        self.kind = "score" if spec.task != "regression" else "value"
        self.classes = spec.class_slots if spec.task != "regression" else 0
        self.confidence = spec.confidence if spec.confidence is not None and spec.confidence.usable else None

    def fields(self) -> dict[str, FieldSpec]:
        fields = {}
        if self.output is not None:
            fields["out_counts"] = FieldSpec((self.output.n_bins,), np.int64)
            fields["out_sums"] = FieldSpec((self.output.n_bins,), np.float64)
        if self.classes:
            fields["class_counts"] = FieldSpec((self.classes,), np.int64)
        if self.confidence is not None:
            fields["confidence_counts"] = FieldSpec((self.confidence.n_bins,), np.int64)
            fields["confidence_sums"] = FieldSpec((self.confidence.n_bins,), np.float64)
            fields["unsure"] = FieldSpec((), np.int64)
        return fields

    def summarize(self, batch: PreparedBatch, groups: Groups) -> Summary:
        t = batch.outputs
        out: Summary = {}
        if self.output is not None:
            out["out_counts"] = groups.counts(t.out_index, self.output.n_bins)
            out["out_sums"] = groups.counts(t.out_index, self.output.n_bins, t.out_value)
        if self.classes:
            out["class_counts"] = groups.counts(t.pred_class, self.classes)
        if self.confidence is not None:
            confidence = self.spec.confidence_of(t.score, t.class_proba)
            known = np.isfinite(confidence)
            index = np.full(confidence.size, -1, dtype=np.int64)
            index[known] = self.confidence.binner(confidence[known])
            out["confidence_counts"] = groups.counts(index, self.confidence.n_bins)
            out["confidence_sums"] = groups.counts(index, self.confidence.n_bins, np.where(known, confidence, 0.0))
            out["unsure"] = groups.rows(confidence.size, known & (confidence < self.spec.low_confidence))
        return out

    def migrate_v1(self, old: Summary) -> Summary:
        fields = super().migrate_v1(old)
        if self.classes and self.spec.task == "multiclass_classification":
            fields["class_counts"] = migrate_class_axes(fields["class_counts"], self.spec.n_classes, self.classes,
                                                         square=False)
        return fields

    def evaluate(self, merged: Summary, ctx: WindowContext, out: WindowBuilder) -> None:
        results = []
        output = self.output
        if output is not None:
            counts = merged["out_counts"]
            total = int(counts.sum())
            out.set(prediction_out_of_range=float(counts[0] + counts[-1]) / total if total else None)
            if output.usable and total >= ctx.min_rows:
                score = drift.numeric_score(output, counts, merged["out_sums"])
                threshold, drifted = drift.judge(output, score, total, counts)
                results.append(OutputDriftResult(self.kind, output.method, score, threshold, drifted))
        reference = self.spec.reference_class_counts
        predicted = int(merged["class_counts"].sum()) if reference is not None and self.classes else 0
        if predicted >= ctx.min_rows:
            score = jensen_shannon(reference, merged["class_counts"])
            rule = self.spec.class_drift
            threshold = CLASS_DRIFT_THRESHOLD if rule is None else rule.threshold(CLASS_DRIFT_METHOD, predicted)
            results.append(OutputDriftResult("class", CLASS_DRIFT_METHOD, score, threshold, score > threshold))
        if self.confidence is not None:
            counts = merged["confidence_counts"]
            total = int(counts.sum())
            out.set(low_confidence_ratio=int(merged["unsure"]) / total if total else None)
            if total >= ctx.min_rows:
                score = drift.numeric_score(self.confidence, counts, merged["confidence_sums"])
                threshold, drifted = drift.judge(self.confidence, score, total, counts)
                results.append(OutputDriftResult("confidence", self.confidence.method, score, threshold, drifted))
        for r in results:
            out.verdict(CheckName.PREDICTION_DRIFT, r.score, r.threshold, r.drifted, (("output", r.output),),
                        (("method", r.method),))
        out.set(prediction_drift=tuple(results))

    def snapshot_fields(self) -> dict[str, Any]:
        thresholds = []
        if self.output is not None and self.output.usable:
            thresholds.append((self.kind, self.output.method, self.output.threshold))
        if self.spec.reference_class_counts is not None:
            rule = self.spec.class_drift
            thresholds.append(("class", CLASS_DRIFT_METHOD, CLASS_DRIFT_THRESHOLD if rule is None else rule.min_effect))
        if self.confidence is not None:
            rule = self.confidence.calibration
            thresholds.append(("confidence", self.confidence.method,
                               self.confidence.threshold if rule is None else rule.min_effect))
            return {"output_thresholds": tuple(thresholds), "low_confidence": self.spec.low_confidence}
        return {"output_thresholds": tuple(thresholds)}
