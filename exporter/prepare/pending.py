"""What waits for the label join, in bounded memory (used by :mod:`exporter.prepare.label_join`).

A label that arrives after its prediction must land in the bucket of the
prediction's timestamp, so a past window's performance updates. For that the
exporter remembers, per prediction still waiting for its label, only what a
label needs: the prediction's timestamp, score, predicted class or value,
segment codes and the row's estimate for the concept-drift gap (its class
probabilities, or its estimated errors) (:class:`PendingPredictions`). A label that arrives before its
prediction waits in :class:`EarlyLabels`. Both are bounded: by age (a
prediction older than ``max_delay``, a label older than the retention) and by
count (``max_pending``, oldest first); everything dropped is counted by reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from exporter.values.vocabulary import JoinDrop

T = TypeVar("T")


@dataclass(frozen=True)
class Pending:
    ts: float
    score: float
    pred_class: int
    pred_value: float
    segments: tuple[int, ...]
    #: What an estimator computed for the row, compared with the truth once it arrives: the calibrated class
    #: probabilities (multiclass CBPE) or the estimated errors (regression); empty when there is none.
    estimate: tuple[float, ...] = ()


class _Waiting(Generic[T]):
    """Items waiting by id, oldest first (dict insertion order), at most ``max_pending`` of them.

    A repeated id replaces the waiting item, and beyond the bound the oldest is
    dropped; both are counted under the subclass's reasons.
    """

    DUPLICATE: JoinDrop
    OVERFLOW: JoinDrop

    def __init__(self, max_pending: int):
        self.max_pending = max_pending
        self.items: dict[str, T] = {}

    def __len__(self) -> int:
        return len(self.items)

    def add(self, ident: str, item: T, dropped: Counter[str]) -> None:
        if ident in self.items:
            dropped[self.DUPLICATE] += 1
            del self.items[ident]
        self.items[ident] = item
        while len(self.items) > self.max_pending:
            del self.items[next(iter(self.items))]
            dropped[self.OVERFLOW] += 1

    def pop(self, ident: str) -> T | None:
        return self.items.pop(ident, None)

    def _forget(self, stale: Callable[[T], bool], reason: str, dropped: Counter[str]) -> None:
        keys = [k for k, item in self.items.items() if stale(item)]
        for key in keys:
            del self.items[key]
        dropped[reason] += len(keys)


class PendingPredictions(_Waiting[Pending]):
    """Predictions waiting for a label."""

    DUPLICATE = JoinDrop.DUPLICATE_ID
    OVERFLOW = JoinDrop.PENDING_OVERFLOW

    def expire(self, oldest_ts: float, dropped: Counter[str]) -> None:
        """Forget predictions stamped before ``oldest_ts``."""
        self._forget(lambda p: p.ts < oldest_ts, JoinDrop.PREDICTION_EXPIRED, dropped)

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
            "estimate": estimates([p.estimate for p in items.values()]),
        }

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        ids = _unpack(arrays["ids"])
        segments = arrays["segments"]
        # Saved before predictions kept their estimate: they have none (the gap leaves their windows out).
        saved = arrays.get("estimate", np.zeros((len(ids), 0)))
        self.items = {
            ident: Pending(float(ts), float(score), int(cls), float(value), tuple(int(s) for s in segs),
                           tuple(float(e) for e in estimate if not np.isnan(e)))
            for ident, ts, score, cls, value, segs, estimate in zip(
                ids, arrays["ts"], arrays["score"], arrays["pred_class"], arrays["pred_value"], segments, saved,
                strict=True)
        }


def estimates(rows: list[tuple[float, ...]]) -> np.ndarray:
    """Rows' estimates as one array ``(rows, widest)``, NaN where a row has fewer (or none)."""
    width = max((len(e) for e in rows), default=0)
    out = np.full((len(rows), width), np.nan)
    for i, estimate in enumerate(rows):
        out[i, : len(estimate)] = estimate
    return out


class EarlyLabels(_Waiting[tuple[float, float, float]]):
    """Labels that arrived before their prediction: id -> (label, arrival time, label time).

    The arrival time (when the exporter read it) decides how long it waits; the label time (its own
    timestamp, else the arrival time) is what its delay is measured from once its prediction comes."""

    DUPLICATE = JoinDrop.DUPLICATE_LABEL
    OVERFLOW = JoinDrop.EARLY_OVERFLOW

    def __init__(self, max_pending: int, retention: float):
        super().__init__(max_pending)
        self.retention = retention

    def expire(self, now: float, dropped: Counter[str]) -> None:
        """Forget labels that arrived more than ``retention`` seconds before ``now``."""
        self._forget(lambda item: item[1] < now - self.retention, JoinDrop.LABEL_EXPIRED, dropped)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "ids": _pack(list(self.items)),
            "label": np.array([v[0] for v in self.items.values()], dtype=np.float64),
            "arrived": np.array([v[1] for v in self.items.values()], dtype=np.float64),
            "labelled_at": np.array([v[2] for v in self.items.values()], dtype=np.float64),
        }

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        ids = _unpack(arrays["ids"])
        at = arrays.get("labelled_at", arrays["arrived"])  # saved before labels had their own time
        self.items = {i: (float(v), float(a), float(t))
                      for i, v, a, t in zip(ids, arrays["label"], arrays["arrived"], at, strict=True)}


def _pack(ids: list[str]) -> np.ndarray:
    """Ids as one NUL-separated UTF-8 byte array (ids never contain NUL: see :func:`clean_id`)."""
    return np.frombuffer("\x00".join(ids).encode("utf-8"), dtype=np.uint8) if ids else np.zeros(0, np.uint8)


def _unpack(data: np.ndarray) -> list[str]:
    return data.tobytes().decode("utf-8").split("\x00") if data.size else []
