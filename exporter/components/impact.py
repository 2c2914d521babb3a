"""How much each feature's drift matters: ranks drifted features so the drift that hurts is read first.

A drifted feature's impact in a window is

    importance * (score / threshold) * (1 + max(0, -correlation))

- ``importance``: the feature's weight in ``feature_importance`` (default 1), e.g. the model's own
  feature importances;
- ``score / threshold``: how far past its threshold the drift is (threshold / p-value for chi2);
- ``correlation``: Pearson's correlation, over the window's recent history, between the feature's
  drift score and the model's performance (estimated by CBPE, else realized; roc_auc, accuracy or
  r2, the first the window has): a feature whose drift rose while performance fell counts up to
  twice, as NannyML's correlation ranker ranks features by that correlation.

The history is one point per window length (a window's successive updates overlap), up to
:data:`HISTORY` points per window, kept in the saved state; with fewer than :data:`MIN_POINTS`
points the correlation is taken as 0. Exported as ``model_feature_drift_impact`` for whole-model
windows; the report sorts features by it and the drift alert's description quotes it.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from exporter.baseline.drift import is_test
from exporter.components.base import Component, State, WindowContext
from exporter.summary.results import DriftResult, WindowBuilder

#: Points of history kept per window, and the fewest for a correlation.
HISTORY, MIN_POINTS = 48, 6
#: Performance metrics followed, in order of preference (estimated first, then realized).
PERFORMANCE_METRICS = ("roc_auc", "accuracy", "r2")


def exceedance(drift: DriftResult) -> float:
    """How far past (above 1) or short of its threshold a drift score is."""
    if is_test(drift.method):
        return min(100.0, drift.threshold / drift.score) if drift.score > 0 else 100.0
    return drift.score / drift.threshold if drift.threshold > 0 else 0.0


class DriftImpact(Component):
    name = "impact"
    optional_state = True  # a history: it may start empty

    def __init__(self, features: list[str], importance: dict[str, float], window_seconds: dict[str, float]):
        self.features = features
        self.importance = {f: float(importance.get(f, 1.0)) for f in features}
        self.window_seconds = window_seconds
        #: Per window: (time, drift score per feature (NaN without one), performance) points.
        self.history: dict[str, deque[tuple[float, np.ndarray, float]]] = {}

    def _performance(self, out: WindowBuilder) -> float:
        for source in ("estimated_performance", "performance"):
            metrics = out.values.get(source) or {}
            for metric in PERFORMANCE_METRICS:
                if metric in metrics and math.isfinite(metrics[metric]):
                    return float(metrics[metric])
        return math.nan

    def _correlations(self, window: str) -> np.ndarray:
        points = self.history.get(window, ())
        if len(points) < MIN_POINTS:
            return np.zeros(len(self.features))
        scores = np.array([p[1] for p in points])
        performance = np.array([p[2] for p in points])
        out = np.zeros(len(self.features))
        for k in range(len(self.features)):
            ok = np.isfinite(scores[:, k]) & np.isfinite(performance)
            if ok.sum() >= MIN_POINTS and scores[ok, k].std() > 0 and performance[ok].std() > 0:
                out[k] = float(np.corrcoef(scores[ok, k], performance[ok])[0, 1])
        return out

    def evaluate(self, merged: dict[str, Any], ctx: WindowContext, out: WindowBuilder) -> None:
        if ctx.segment:
            return
        drifts = [out.features.get(f, {}).get("drift") for f in self.features]
        if not any(drifts):
            return
        correlation = self._correlations(ctx.window)
        for k, (feature, drift) in enumerate(zip(self.features, drifts, strict=True)):
            if drift is not None:
                impact = self.importance[feature] * exceedance(drift) * (1 + max(0.0, -correlation[k]))
                out.feature(feature, impact=impact)
        if ctx.record:
            self._record(ctx, drifts, self._performance(out))

    def _record(self, ctx: WindowContext, drifts: list[DriftResult | None], performance: float) -> None:
        points = self.history.setdefault(ctx.window, deque(maxlen=HISTORY))
        spacing = self.window_seconds.get(ctx.window, 0.0)
        if points and ctx.now - points[-1][0] < spacing:
            return  # one point per window length: successive updates of a window overlap
        points.append((ctx.now, np.array([d.score if d else math.nan for d in drifts]), performance))

    def state(self) -> State | None:
        arrays = {}
        for window, points in self.history.items():
            if points:
                arrays[f"{window}/times"] = np.array([p[0] for p in points])
                arrays[f"{window}/scores"] = np.array([p[1] for p in points])
                arrays[f"{window}/performance"] = np.array([p[2] for p in points])
        return {"features": self.features}, arrays

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        if list(meta["features"]) != self.features:
            raise ValueError("the features changed")
        for window in self.window_seconds:
            if f"{window}/times" in arrays:
                times, scores = arrays[f"{window}/times"], arrays[f"{window}/scores"]
                performance = arrays[f"{window}/performance"]
                self.history[window] = deque(zip(times.tolist(), list(scores), performance.tolist(), strict=True),
                                             maxlen=HISTORY)
