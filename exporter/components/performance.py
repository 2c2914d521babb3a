"""Realized performance once labels arrive: classification (binary, multiclass) and regression.

Both compare each window with thresholds taken from the reference's own
performance (:class:`PerformanceBaseline`), which CBPE shares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exporter import performance
from exporter.checks import CheckName
from exporter.classes import migrate_class_axes
from exporter.components.base import Component, HasLabels, WindowContext
from exporter.config import DEFAULT_ALPHA
from exporter.distributions import norm_ppf
from exporter.results import WindowBuilder
from exporter.sketch import FieldSpec, Groups, Summary
from exporter.targets import TargetSpec, auc_index, migrate_score_bins


@dataclass
class PerformanceBaseline:
    """The reference's realized performance and the thresholds below which performance fails.

    A window's threshold is the reference's value minus the larger of ``tolerance`` and the metric's
    sampling noise at the window's size: ``z(1 - alpha) * noise[metric] / sqrt(n)``, where
    ``noise`` is the metric's standard deviation over subsamples of the reference times the square
    root of their size (:func:`exporter.model.performance_noise`), so a small window is not judged
    on a difference its size cannot tell from chance.
    """

    tolerance: float
    reference: dict[str, float] = field(default_factory=dict)
    #: Standard deviation of each metric on one row's worth of data (sigma(n) * sqrt(n)).
    noise: dict[str, float] = field(default_factory=dict)
    alpha: float = DEFAULT_ALPHA

    @property
    def thresholds(self) -> dict[str, float]:
        """The thresholds of a window large enough for its noise to be below the tolerance."""
        return {metric: max(0.0, value - self.tolerance)
                for metric, value in self.reference.items() if metric in performance.HIGHER_IS_BETTER}

    def thresholds_at(self, n: int) -> dict[str, float]:
        z = norm_ppf(1 - self.alpha)
        out = {}
        for metric, value in self.reference.items():
            if metric in performance.HIGHER_IS_BETTER:
                noise = z * self.noise.get(metric, 0.0) / math.sqrt(max(n, 1))
                out[metric] = max(0.0, value - max(self.tolerance, noise))
        return out

    def verdicts(self, check: CheckName, metrics: dict[str, float], out: WindowBuilder, n: int) -> dict[str, float]:
        """Record the failures of ``metrics`` measured on ``n`` rows; returns the thresholds in force."""
        limits = self.thresholds_at(n) if metrics else {}
        for metric, limit in limits.items():
            if metric in metrics and metrics[metric] < limit:  # only failures: the threshold is exported
                out.verdict(check, metrics[metric], limit, True, (("metric", metric),))
        return limits


class _Realized(Component):
    def __init__(self, baseline: PerformanceBaseline):
        self.baseline = baseline

    def metrics(self, merged: Summary) -> dict[str, float]:
        raise NotImplementedError

    def evaluate(self, merged: Summary, ctx: WindowContext, out: WindowBuilder) -> None:
        metrics = self.metrics(merged) if ctx.labelled >= ctx.min_rows else {}
        out.set(performance=metrics)
        out.set(performance_limits=self.baseline.verdicts(CheckName.PERFORMANCE, metrics, out, ctx.labelled))

    def snapshot_fields(self) -> dict[str, Any]:
        return {"reference_performance": dict(self.baseline.reference),
                "performance_thresholds": self.baseline.thresholds}


class Classification(_Realized):
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


class Regression(_Realized):
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
