"""The exposition formats samples itself: it must write exactly what prometheus_client writes."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from exporter.exposition import Sample


@pytest.mark.parametrize("value", [0.0, 1.0, 0.1, 1e-12, 123456789.123, 1e300, -2.5, math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("label", ["plain", 'quo"te', "back\\slash", "new\nline", "ünïcode", ""])
def test_sample_lines_are_those_of_prometheus_client(value: float, label: str) -> None:
    family = GaugeMetricFamily("model_x", "help", labels=["model", "feature"])
    family.add_metric(["m", label], value)

    class Collector:
        def collect(self):
            yield family

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())
    expected = [line for line in generate_latest(registry).decode().splitlines() if not line.startswith("#")]
    assert Sample("model_x", {"model": "m", "feature": label}, value).line() == expected[0] + "\n"
