"""Bucketed counts: cumulative Prometheus histograms and PromQL-style quantiles of them."""

from __future__ import annotations

from typing import Any

import numpy as np

from exporter.summary.results import Histogram


def bucket_index(bounds: tuple[float, ...] | np.ndarray, values: np.ndarray) -> np.ndarray:
    """Bucket ``(previous bound, bound]`` of each value, the last bucket beyond every bound; -1 where not finite."""
    index = np.searchsorted(np.asarray(bounds), values, side="left")
    return np.where(np.isfinite(values), index, -1)


def bucket_counts(bounds: tuple[float, ...] | np.ndarray, values: np.ndarray) -> np.ndarray:
    """Finite ``values`` counted per bucket ``(previous bound, bound]``, the last bucket beyond every bound."""
    index = bucket_index(bounds, values)
    return np.bincount(index[index >= 0], minlength=len(bounds) + 1).astype(np.int64)


def bucket_quantile(q: float, bounds: tuple[float, ...], counts: np.ndarray) -> float | None:
    """The ``q`` quantile of bucketed counts, interpolated linearly inside a bucket as PromQL's
    ``histogram_quantile`` does (the first bucket starts at 0; beyond the last bound, the last bound)."""
    total = float(counts.sum())
    if total <= 0:
        return None
    rank = q * total
    cumulative = np.cumsum(counts)
    i = int(np.searchsorted(cumulative, rank, side="left"))
    if i >= len(bounds):
        return float(bounds[-1])
    lower = 0.0 if i == 0 else float(bounds[i - 1])
    below = 0.0 if i == 0 else float(cumulative[i - 1])
    inside = float(counts[i])
    return lower + (float(bounds[i]) - lower) * ((rank - below) / inside if inside else 0.0)


class CumulativeHistogram:
    """A cumulative Prometheus histogram kept as per-bucket counts and a sum; saves and restores itself."""

    def __init__(self, bounds: tuple[float, ...]):
        self.bounds = np.asarray(bounds)
        self.counts = np.zeros(len(bounds) + 1, dtype=np.int64)
        self.total = 0.0

    def observe(self, values: np.ndarray) -> None:
        self.counts += bucket_counts(self.bounds, values)
        self.total += float(values[np.isfinite(values)].sum())

    def value(self) -> Histogram:
        cumulative = np.cumsum(self.counts)
        bounds = (*self.bounds.tolist(), float("inf"))
        return Histogram(tuple(zip(bounds, map(int, cumulative), strict=True)), self.total, int(cumulative[-1]))

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"sum": self.total}, {"counts": self.counts}

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        counts = arrays["counts"]
        if counts.shape != self.counts.shape:
            raise ValueError("histogram buckets changed")
        self.counts = counts.astype(np.int64).copy()
        self.total = float(meta["sum"])
