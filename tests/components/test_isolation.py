"""A component whose evaluation fails is isolated: its part of the window is taken back, the failure counted
with its name, and every other component's results kept (as node_exporter isolates a failing collector)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from exporter.components import Component, evaluate_window, namespaced
from exporter.components.base import WindowContext
from exporter.monitor.building import build_monitor
from exporter.publish.exposition import build_families, families_as_json
from exporter.summary.results import WindowBuilder
from exporter.summary.sketch import ONE_GROUP, Summary
from tests.cases import binary_reference
from tests.helpers import model_config, rows_at, write_jsonl


class _Broken(Component):
    """Writes part of its results, then fails."""

    name = "broken"

    def evaluate(self, merged: Summary, ctx: WindowContext, out: WindowBuilder) -> None:
        out.set(labelled_rows=123456, performance={"accuracy": 2.0})
        out.feature("age", missing_ratio=0.99)
        out.feature("made_up", kind="numeric", missing_ratio=1.0, type_violation_ratio=0.0)
        out.verdict("performance", 2.0, 1.0, True)
        raise ZeroDivisionError("a bug")


def test_evaluate_window_takes_back_what_a_failing_component_wrote(binary) -> None:
    components = [binary.component(name) for name in ("volume", "quality", "drift")]
    batch = binary.batch(binary_reference(200, seed=3))
    merged: Summary = {}
    for component in components:
        fields = {**component.summarize(batch, ONE_GROUP), **component.summarize_labels(batch, ONE_GROUP)}
        merged.update({name: value[0] for name, value in namespaced(component, fields).items()})
    healthy = evaluate_window(components, "1h", "", merged, 10)
    failures: list[tuple[str, str]] = []
    broken = evaluate_window([components[0], _Broken(), *components[1:]], "1h", "", merged, 10,
                             on_error=lambda component, error: failures.append((component.name, str(error))))
    assert failures == [("broken", "a bug")]
    assert repr(broken) == repr(healthy)  # nothing of the failing component's part is left, every other part is there
    with pytest.raises(ZeroDivisionError):
        evaluate_window([_Broken()], "1h", "", merged, 10)


def test_a_monitor_counts_the_failing_component_and_keeps_the_others(tmp_path: Path, caplog) -> None:
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows_at(now - 30, 200))
    monitor = build_monitor(model_config(tmp_path), None)
    drift = next(c for c in monitor.components if c.name == "drift")

    def failing(*_args: object) -> None:
        raise ValueError("drift bug")

    drift.evaluate = failing  # type: ignore[method-assign]
    with caplog.at_level(logging.DEBUG, logger="exporter.monitor.model"):
        first = monitor.update(now, persist=False)
        second = monitor.update(now + 1, persist=False)
    assert first.up and second.up
    assert second.component_errors == {c.name: (4 if c.name == "drift" else 0) for c in monitor.components}
    for window in second.windows:  # two windows, each evaluated at each update
        assert window.rows == 200 and window.performance == {} and window.label_coverage is not None
        assert all(f.drift is None for f in window.features)  # drift left out ...
        assert all(f.missing_ratio == 0 for f in window.features)  # ... quality kept
    errors = [r for r in caplog.records if "component drift failed" in r.getMessage()]
    assert [r.levelno for r in errors] == [logging.ERROR, logging.DEBUG, logging.DEBUG, logging.DEBUG]
    samples = {(s["name"], s["labels"].get("component")): s["value"]
               for s in families_as_json(build_families([second]))}
    assert samples[("model_monitor_component_errors_total", "drift")] == 4
    assert samples[("model_monitor_component_errors_total", "quality")] == 0
