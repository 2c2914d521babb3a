"""Service health logged with each prediction: latency histogram and error count (model-wide, not windowed)."""

from __future__ import annotations

from typing import Any

import numpy as np

from exporter.components.base import Component, State
from exporter.prepare.preparer import PreparedBatch
from exporter.stats.histograms import CumulativeHistogram

#: Upper bounds of ``model_prediction_latency_seconds``: 1 ms to 10 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceHealth(Component):
    name = "service"

    def __init__(self, has_latency: bool, has_errors: bool):
        self.has_latency = has_latency
        self.has_errors = has_errors
        self.latency = CumulativeHistogram(LATENCY_BUCKETS)
        self.errors_total = 0

    def observe(self, batch: PreparedBatch) -> None:
        if batch.latency is not None:
            self.latency.observe(batch.latency)
        if batch.is_error is not None:
            self.errors_total += int(batch.is_error.sum())

    def snapshot_fields(self) -> dict[str, Any]:
        return {"latency": self.latency.value() if self.has_latency else None,
                "prediction_errors": self.errors_total if self.has_errors else None}

    def state(self) -> State:
        meta, arrays = self.latency.state()
        return {"latency_sum": meta["sum"], "errors_total": self.errors_total}, {"latency_counts": arrays["counts"]}

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.latency.restore({"sum": meta["latency_sum"]}, {"counts": arrays["latency_counts"]})
        self.errors_total = int(meta["errors_total"])
