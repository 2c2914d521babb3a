"""Label drift (target drift): the distribution of the labels that arrived, against the reference's labels.

The labels are judged as a feature of their kind: a regression target as a numeric feature on the reference
target's quantile bins (fine bins for KS and Wasserstein, deciles for PSI, JS and chi2), a class label as a
categorical feature over the model's classes. The method and threshold are the model's ``drift`` settings
(or ``drift.features`` under the label column's name), and a calibrated threshold is calibrated to the
window's labelled rows, as a feature's is to its values. The rows are the window's predictions whose label
has arrived, so the counts grow as labels come in: a window is judged once it holds ``min_window_rows``
labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from exporter.baseline import drift
from exporter.baseline.features import NumericFeature
from exporter.baseline.targets import TargetSpec
from exporter.components.base import Component, HasLabels, WindowContext
from exporter.summary.results import DriftResult, WindowBuilder
from exporter.summary.sketch import FieldSpec, Groups, Summary
from exporter.values.vocabulary import CheckName


class LabelDrift(Component):
    name = "label_drift"

    def __init__(self, spec: TargetSpec):
        assert spec.label is not None
        self.spec = spec
        self.label = spec.label
        self.numeric = isinstance(self.label, NumericFeature)

    def fields(self) -> dict[str, FieldSpec]:
        fields = {"counts": FieldSpec((self.label.n_bins,), np.int64)}
        if self.numeric:
            fields["sums"] = FieldSpec((self.label.n_bins,), np.float64)
        return fields

    def summarize_labels(self, rows: HasLabels, groups: Groups) -> Summary:
        labelled = rows.outputs.labelled()
        label = rows.outputs.label[labelled]
        groups = groups.take(labelled)
        bins = self.label.n_bins
        if isinstance(self.label, NumericFeature):
            index = self.label.binner(label.astype(np.float64))
            return {"counts": groups.counts(index, bins), "sums": groups.counts(index, bins, label)}
        codes = label.astype(np.int64)
        n = self.spec.n_classes
        return {"counts": groups.counts(np.where(codes < n, codes, n + 1), bins)}  # a class the reference lacks: new

    def evaluate(self, merged: Summary, ctx: WindowContext, out: WindowBuilder) -> None:
        counts = merged["counts"]
        n = int(counts.sum())
        if not self.label.usable or n < ctx.min_rows:
            return
        if isinstance(self.label, NumericFeature):
            score = drift.numeric_score(self.label, counts, merged["sums"])
        else:
            score = drift.categorical_score(self.label, counts)
        threshold, drifted = drift.judge(self.label, score, n, counts)
        out.set(label_drift=DriftResult(self.label.method, score, threshold, drifted))
        out.verdict(CheckName.LABEL_DRIFT, score, threshold, drifted, (), (("method", self.label.method),))

    def snapshot_fields(self) -> dict[str, Any]:
        if not self.label.usable:
            return {}
        rule = self.label.calibration
        return {"label_drift_threshold": (self.label.method,
                                          self.label.threshold if rule is None else rule.min_effect)}
