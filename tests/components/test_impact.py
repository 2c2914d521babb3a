"""Drift impact: importance x distance past the threshold x (1 + negative correlation with performance)."""

from __future__ import annotations

import numpy as np
import pytest

from exporter.components.base import WindowContext
from exporter.components.impact import MIN_POINTS, DriftImpact
from exporter.summary.results import DriftResult, WindowBuilder


def _window(impact: DriftImpact, now: float, scores: dict[str, float], auc: float) -> dict[str, float]:
    out = WindowBuilder("1h", "", 1000)
    for feature, score in scores.items():
        out.feature(feature, drift=DriftResult("ks", score, 0.1, score > 0.1))
    out.set(estimated_performance={"roc_auc": auc, "accuracy": 0.5})
    impact.evaluate({}, WindowContext("1h", "", 1000, 0, 30, now), out)
    return {f: facts["impact"] for f, facts in out.features.items() if "impact" in facts}


def test_drift_that_moves_with_a_performance_drop_ranks_first() -> None:
    impact = DriftImpact(["hurts", "harmless", "weighted"], {"weighted": 3.0}, {"1h": 3600.0})
    rng = np.random.default_rng(0)
    for k in range(20):  # hurts drifts as roc_auc falls; harmless drifts at random
        level = k / 20
        _window(impact, k * 3600.0, {"hurts": 0.05 + level, "harmless": rng.random(), "weighted": 0.05},
                0.9 - 0.2 * level)
    now = _window(impact, 20 * 3600.0, {"hurts": 0.2, "harmless": 0.2, "weighted": 0.2}, 0.7)
    assert now["hurts"] == pytest.approx(2 * 2.0, rel=0.02)  # exceedance 2, correlation about -1
    assert 2.0 <= now["harmless"] < 3.0
    assert now["weighted"] == pytest.approx(3 * 2.0, rel=0.5)  # importance 3; its constant history has no correlation
    assert len(impact.history["1h"]) == 21


def test_history_keeps_one_point_per_window_length_and_survives_a_restart() -> None:
    impact = DriftImpact(["a"], {}, {"1h": 3600.0})
    for k in range(10):
        _window(impact, k * 600.0, {"a": 0.3}, 0.8)  # six updates per hour
    assert len(impact.history["1h"]) == 2
    assert _window(impact, 6000.0, {"a": 0.3}, 0.8) == {"a": pytest.approx(3.0)}  # < MIN_POINTS: no correlation
    assert MIN_POINTS > 2
    meta, arrays = impact.state()
    restored = DriftImpact(["a"], {}, {"1h": 3600.0})
    restored.restore(meta, arrays)
    assert [p[0] for p in restored.history["1h"]] == [p[0] for p in impact.history["1h"]]
    with pytest.raises(ValueError, match="features changed"):
        DriftImpact(["b"], {}, {"1h": 3600.0}).restore(meta, arrays)


def test_segments_and_windows_without_drift_get_no_impact() -> None:
    impact = DriftImpact(["a"], {}, {"1h": 3600.0})
    out = WindowBuilder("1h", "device=mobile", 100)
    out.feature("a", drift=DriftResult("ks", 0.5, 0.1, True))
    impact.evaluate({}, WindowContext("1h", "device=mobile", 100, 0, 30, 0.0), out)
    assert "impact" not in out.features["a"] and not impact.history
