"""The label-delay component: percentiles of how late a window's labels came, within their bucket's bounds."""

from __future__ import annotations

import numpy as np

from exporter.components.base import WindowContext
from exporter.components.label_delay import LABEL_DELAY_BUCKETS, LabelDelay
from exporter.summary.results import WindowBuilder
from exporter.summary.sketch import Groups, merge


class _Labelled:
    """Rows whose labels arrived ``label_delay`` seconds after their predictions."""

    def __init__(self, delays: np.ndarray):
        self.label_delay = delays

    def __len__(self) -> int:
        return self.label_delay.size


def test_percentiles_fall_in_the_bucket_of_the_exact_percentile() -> None:
    delays = np.random.default_rng(15).lognormal(6, 1.5, 1000)
    component = LabelDelay()
    parts = component.summarize_labels(_Labelled(delays), Groups(np.arange(1000) % 3, 3))
    merged = merge(merge({"counts": parts["counts"][0]}, {"counts": parts["counts"][1]}),
                   {"counts": parts["counts"][2]})
    assert merged["counts"].sum() == 1000
    out = WindowBuilder("1h", "", 1000)
    component.evaluate(merged, WindowContext("1h", "", 1000, 1000, 10), out)
    quantiles = out.build().label_delay_quantiles
    bounds = (0.0, *LABEL_DELAY_BUCKETS, np.inf)
    for percentile in ("50", "90", "99"):
        exact = np.percentile(delays, int(percentile))
        bucket = np.searchsorted(LABEL_DELAY_BUCKETS, exact)
        assert bounds[bucket] <= quantiles[percentile] <= bounds[bucket + 1]
    component.observe_labels(_Labelled(delays))
    assert component.snapshot_fields()["label_delay"].count == 1000
