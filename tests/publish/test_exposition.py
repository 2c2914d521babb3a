"""The exposition formats samples itself: it must write exactly what prometheus_client writes."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.utils import floatToGoString

from exporter.publish.exposition import Sample, go_float


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


@settings(max_examples=2000, deadline=None)
@given(st.one_of(st.floats(), st.integers(-10**25, 10**25).map(float),
                 st.sampled_from([1e5, 1e6, 1234567.0, 12345678.9, 1e7, 1e15, 1e16, 1e22, 1e23, 0.5e-4])))
def test_numbers_are_written_as_prometheus_client_writes_them(value: float) -> None:
    # Go's exponent form for large positive numbers (the `le` of a histogram bucket) is where they could differ.
    assert go_float(value) == floatToGoString(value)


def test_one_shot_commands_import_no_http_server() -> None:
    """check and report print metrics; the HTTP server (prometheus_client, http.server, the web config's
    bcrypt and ssl) is serve's alone and costs a one-shot command 20-30 ms of imports."""
    code = "import sys, exporter.cli; print(sorted(m for m in ('prometheus_client', 'http.server', 'bcrypt', " \
           "'exporter.publish.http', 'exporter.publish.webconfig', 'exporter.commands.serve', 'apscheduler') " \
           "if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
