"""The service component: the latency histogram and error count of every accepted prediction."""

from __future__ import annotations

import numpy as np

from exporter.components.service import LATENCY_BUCKETS
from tests.cases import binary_reference


def test_latency_buckets_and_errors_count_every_row(binary) -> None:
    frame = binary_reference(300, seed=16)
    rng = np.random.default_rng(16)
    frame["latency"] = rng.lognormal(-4, 1.5, 300)  # seconds (latency_unit's default)
    frame["error"] = np.where(rng.random(300) < 0.1, "timeout", "ok")
    component = binary.component("service")
    component.observe(binary.batch(frame))
    latency = component.snapshot_fields()["latency"]
    cumulative = [count for _, count in latency.buckets]
    expected = [int((frame["latency"] <= bound).sum()) for bound in LATENCY_BUCKETS] + [300]
    assert cumulative == expected
    assert latency.count == 300 and abs(latency.total - frame["latency"].sum()) < 1e-9
    assert component.snapshot_fields()["prediction_errors"] == int((frame["error"] != "ok").sum())
