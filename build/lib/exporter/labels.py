"""Joining late labels to their predictions, in bounded memory.

A label that arrives after its prediction must land in the bucket of the
prediction's timestamp, so a past window's performance updates. For that the
exporter remembers, per prediction still waiting for its label, only what a
label needs: the prediction's timestamp, score, predicted class or value and
segment codes (:class:`PendingPredictions`). A label that arrives before its
prediction waits in :class:`EarlyLabels`. Both are bounded: by age (a
prediction older than ``max_delay``, a label older than the retention) and by
count (``max_pending``, oldest first); everything dropped is counted by reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

#: Reasons in ``model_label_join_dropped_total{reason}``.
PREDICTION_EXPIRED = "prediction_expired"
LABEL_EXPIRED = "label_expired"
PENDING_OVERFLOW = "pending_overflow"
EARLY_OVERFLOW = "early_label_overflow"
DUPLICATE_ID = "duplicate_id"
DUPLICATE_LABEL = "duplicate_label"


@dataclass(frozen=True)
class Pending:
    ts: float
    score: float
    pred_class: int
    pred_value: float
    segments: tuple[int, ...]


class PendingPredictions:
    """Predictions waiting for a label, oldest first (dict insertion order)."""

    def __init__(self, max_pending: int):
        self.max_pending = max_pending
        self.items: dict[str, Pending] = {}

    def __len__(self) -> int:
        return len(self.items)

    def add(self, ident: str, pending: Pending, dropped: Counter[str]) -> None:
        if ident in self.items:
            dropped[DUPLICATE_ID] += 1
            del self.items[ident]
        self.items[ident] = pending
        while len(self.items) > self.max_pending:
            del self.items[next(iter(self.items))]
            dropped[PENDING_OVERFLOW] += 1

    def pop(self, ident: str) -> Pending | None:
        return self.items.pop(ident, None)

    def expire(self, oldest_ts: float, dropped: Counter[str]) -> None:
        """Forget predictions stamped before ``oldest_ts`` (insertion order is close to time order)."""
        stale = [k for k, p in self.items.items() if p.ts < oldest_ts]
        for key in stale:
            del self.items[key]
        dropped[PREDICTION_EXPIRED] += len(stale)

    def to_arrays(self) -> dict[str, np.ndarray]:
        items = self.items
        width = max((len(p.segments) for p in items.values()), default=0)
        return {
            "ids": _pack(list(items)),
            "ts": np.array([p.ts for p in items.values()], dtype=np.float64),
            "score": np.array([p.score for p in items.values()], dtype=np.float64),
            "pred_class": np.array([p.pred_class for p in items.values()], dtype=np.int64),
            "pred_value": np.array([p.pred_value for p in items.values()], dtype=np.float64),
            "segments": np.array([p.segments for p in items.values()], dtype=np.int64).reshape(len(items), width),
        }

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        ids = _unpack(arrays["ids"])
        segments = arrays["segments"]
        self.items = {
            ident: Pending(float(ts), float(score), int(cls), float(value), tuple(int(s) for s in segs))
            for ident, ts, score, cls, value, segs in zip(
                ids, arrays["ts"], arrays["score"], arrays["pred_class"], arrays["pred_value"], segments, strict=True)
        }


class EarlyLabels:
    """Labels that arrived before their prediction: id -> (label, arrival time), oldest first."""

    def __init__(self, max_pending: int, retention: float):
        self.max_pending = max_pending
        self.retention = retention
        self.items: dict[str, tuple[float, float]] = {}

    def __len__(self) -> int:
        return len(self.items)

    def add(self, ident: str, label: float, arrived: float, dropped: Counter[str]) -> None:
        if ident in self.items:
            dropped[DUPLICATE_LABEL] += 1
            del self.items[ident]
        self.items[ident] = (label, arrived)
        while len(self.items) > self.max_pending:
            del self.items[next(iter(self.items))]
            dropped[EARLY_OVERFLOW] += 1

    def pop(self, ident: str) -> tuple[float, float] | None:
        return self.items.pop(ident, None)

    def expire(self, now: float, dropped: Counter[str]) -> None:
        stale = [k for k, (_, arrived) in self.items.items() if arrived < now - self.retention]
        for key in stale:
            del self.items[key]
        dropped[LABEL_EXPIRED] += len(stale)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "ids": _pack(list(self.items)),
            "label": np.array([v[0] for v in self.items.values()], dtype=np.float64),
            "arrived": np.array([v[1] for v in self.items.values()], dtype=np.float64),
        }

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        ids = _unpack(arrays["ids"])
        self.items = {i: (float(v), float(a)) for i, v, a in zip(ids, arrays["label"], arrays["arrived"], strict=True)}


def _pack(ids: list[str]) -> np.ndarray:
    """Ids as one NUL-separated UTF-8 byte array (ids never contain NUL: see :func:`clean_id`)."""
    return np.frombuffer("\x00".join(ids).encode("utf-8"), dtype=np.uint8) if ids else np.zeros(0, np.uint8)


def _unpack(data: np.ndarray) -> list[str]:
    return data.tobytes().decode("utf-8").split("\x00") if data.size else []


def clean_id(value: object) -> str | None:
    """An id as text (1, 1.0 and "1" agree); None when missing or empty."""
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        if value.is_integer():
            value = int(value)
    text = str(value).replace("\x00", "")
    return text or None
