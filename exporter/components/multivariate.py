"""Multivariate drift: the window's mean PCA reconstruction error against the reference's.

Each row's error (:mod:`exporter.baseline.multivariate`) is counted in the bins of the reference's errors,
with its sum, so a window's mean error is exact from the merged bins and the distribution is there for the
report. The window drifts when its mean lies further from the reference's mean error than the reference's
own chunk-to-chunk variability allows at its size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from exporter.baseline.multivariate import Reconstruction
from exporter.components.base import Component, WindowContext
from exporter.prepare.preparer import PreparedBatch
from exporter.summary.results import MultivariateDrift as MultivariateResult
from exporter.summary.results import WindowBuilder
from exporter.summary.sketch import FieldSpec, Groups, Summary
from exporter.values.vocabulary import CheckName


class MultivariateDrift(Component):
    name = "multivariate"

    def __init__(self, reconstruction: Reconstruction):
        self.reconstruction = reconstruction
        self.bins = reconstruction.error.n_bins

    def fields(self) -> dict[str, FieldSpec]:
        return {"counts": FieldSpec((self.bins,), np.int64), "sums": FieldSpec((self.bins,), np.float64)}

    def summarize(self, batch: PreparedBatch, groups: Groups) -> Summary:
        errors = batch.reconstruction_error
        if errors is None:  # rows without features (narrow rows under pushdown): nothing to count
            return {"counts": np.zeros((groups.count, self.bins), np.int64),
                    "sums": np.zeros((groups.count, self.bins))}
        known = np.isfinite(errors)
        index = np.full(errors.size, -1, dtype=np.int64)
        index[known] = self.reconstruction.error.binner(errors[known])
        return {"counts": groups.counts(index, self.bins),
                "sums": groups.counts(index, self.bins, np.where(known, errors, 0.0))}

    def evaluate(self, merged: Summary, ctx: WindowContext, out: WindowBuilder) -> None:
        n = int(merged["counts"].sum())
        if n < ctx.min_rows:
            return
        r = self.reconstruction
        score = float(merged["sums"].sum()) / n
        band = r.threshold_band(n)
        lower, upper = max(0.0, r.error_mean - band), r.error_mean + band
        drifted = not lower <= score <= upper
        out.set(multivariate_drift=MultivariateResult(score, lower, upper, drifted))
        out.verdict(CheckName.MULTIVARIATE_DRIFT, score, lower if score < r.error_mean else upper, drifted)

    def snapshot_fields(self) -> dict[str, Any]:
        return {"multivariate_reference_error": self.reconstruction.error_mean}
