"""How late labels arrive: a cumulative histogram, and percentiles per window of the predictions labelled."""

from __future__ import annotations

from typing import Any

import numpy as np

from exporter.components.base import Component, HasLabels, State, WindowContext
from exporter.stats.histograms import CumulativeHistogram, bucket_index, bucket_quantile
from exporter.summary.results import WindowBuilder
from exporter.summary.sketch import FieldSpec, Groups, Summary

#: Upper bounds of ``model_label_delay_seconds``: 1 s to 7 days.
LABEL_DELAY_BUCKETS = (1.0, 10.0, 60.0, 300.0, 900.0, 3600.0, 10800.0, 21600.0, 43200.0, 86400.0, 172800.0,
                       604800.0)
PERCENTILES = (50, 90, 99)


class LabelDelay(Component):
    """Delays of labels joined from the labels log (labels logged with their prediction have none)."""

    name = "label_delay"
    V1_FIELDS = {"counts": "label_delay"}

    def __init__(self) -> None:
        self.histogram = CumulativeHistogram(LABEL_DELAY_BUCKETS)

    def fields(self) -> dict[str, FieldSpec]:
        return {"counts": FieldSpec((len(LABEL_DELAY_BUCKETS) + 1,), np.int64)}

    def summarize_labels(self, rows: HasLabels, groups: Groups) -> Summary:
        index = bucket_index(LABEL_DELAY_BUCKETS, rows.label_delay)
        return {"counts": groups.counts(index, len(LABEL_DELAY_BUCKETS) + 1)}

    def observe_labels(self, rows: HasLabels) -> None:
        self.histogram.observe(rows.label_delay)

    def evaluate(self, merged: Summary, ctx: WindowContext, out: WindowBuilder) -> None:
        quantiles = {}
        for percentile in PERCENTILES:
            value = bucket_quantile(percentile / 100, LABEL_DELAY_BUCKETS, merged["counts"])
            if value is not None:
                quantiles[str(percentile)] = value
        out.set(label_delay_quantiles=quantiles)

    def snapshot_fields(self) -> dict[str, Any]:
        return {"label_delay": self.histogram.value()}

    def state(self) -> State:
        return self.histogram.state()

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.histogram.restore(meta, arrays)
