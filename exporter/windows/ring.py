"""Sliding windows as rings of time buckets.

A window of length ``W`` is kept as ``window_buckets`` (default 60) buckets of
``W / window_buckets`` seconds, in a ring of fixed-size summaries: memory is
fixed whatever the traffic. A bucket with id ``b`` holds the rows whose
timestamp is in ``[b * width, (b + 1) * width)``. The window ending at ``now``
is the merge of buckets ``floor((now - W) / width) + 1 .. floor(now / width)``:
its newest edge is exact and its oldest edge is rounded to a bucket, i.e. the
window spans between ``W - width`` and ``W``. Recomputing it is one masked sum
over the ring (a maximum for the fields merged by their maximum): O(bins x
buckets), independent of how many rows it holds.
"""

from __future__ import annotations

import math

import numpy as np

from exporter.config import Window
from exporter.summary.sketch import Layout, Summary

EMPTY = -1


class Ring:
    """The buckets of one window, each a summary of :class:`exporter.summary.sketch.Layout`."""

    def __init__(self, window: Window, layout: Layout, buckets: int):
        self.window = window
        self.width = window.seconds / buckets
        # One extra slot so the current, still-filling bucket never evicts a live one.
        self.slots = buckets + 1
        self.ids = np.full(self.slots, EMPTY, dtype=np.int64)
        self.data: Summary = layout.empty((self.slots,))
        #: The fields merged by their maximum (:class:`~exporter.summary.sketch.FieldSpec`).
        self.maxima = layout.maxima
        #: Slots changed since the state was last saved (the journal writes only those).
        self.dirty: set[int] = set()

    def bucket_of(self, ts: np.ndarray) -> np.ndarray:
        return np.floor(ts / self.width).astype(np.int64)

    def buckets_at(self, ts: np.ndarray, now: float) -> np.ndarray:
        """The bucket each row is added to at ``now``: its own, but the newest for a row stamped ahead of
        ``now`` (accepted within ``max_clock_skew``). A bucket after the newest would take the slot of a
        live one, and the window would lose that bucket's rows while it still spans them."""
        return np.minimum(self.bucket_of(ts), self.newest_bucket(now))

    def oldest_live_bucket(self, now: float) -> int:
        return math.floor((now - self.window.seconds) / self.width) + 1

    def add(self, bucket_ids: np.ndarray, summary: Summary) -> int:
        """Add each summary of ``summary`` (leading axis matches ``bucket_ids``, which may repeat) to its bucket;
        returns how many were dropped as too old.

        A slot holding an older bucket is reset before the newer one is added. A bucket older than
        the one its slot holds (already, or after this call) has left the ring.
        """
        bucket_ids = np.asarray(bucket_ids, dtype=np.int64)
        if not bucket_ids.size:
            return 0
        slots = bucket_ids % self.slots
        newest = self.ids.copy()
        np.maximum.at(newest, slots, bucket_ids)
        renewed = np.flatnonzero(newest != self.ids)
        if renewed.size:
            for array in self.data.values():
                array[renewed] = 0
            self.ids = newest
        keep = bucket_ids == newest[slots]
        if not keep.all():
            slots = slots[keep]
            summary = {name: array[keep] for name, array in summary.items()}
        unique = np.unique(slots)
        if unique.size < slots.size:  # several summaries for one slot: sum them first (np.add.at is slow)
            order = np.argsort(slots, kind="stable")
            starts = np.searchsorted(slots[order], unique)
            summary = {name: (np.maximum if name in self.maxima else np.add).reduceat(array[order], starts, axis=0)
                       for name, array in summary.items()}
            slots = unique
        with np.errstate(over="ignore"):  # absurd values (1e308) may sum to inf, which is what they are
            for name, values in summary.items():
                if name in self.maxima:
                    self.data[name][slots] = np.maximum(self.data[name][slots], values)
                else:
                    self.data[name][slots] += values
        self.dirty.update(slots.tolist())
        self.dirty.update(renewed.tolist())
        return int((~keep).sum())

    def add_one(self, bucket: int, summary: Summary) -> bool:
        """Add one bucket's ``summary`` (any subset of the fields); False when the bucket has left the ring."""
        slot = bucket % self.slots
        held = int(self.ids[slot])
        if held > bucket:
            return False
        if held < bucket:
            for array in self.data.values():
                array[slot] = 0
            self.ids[slot] = bucket
        for name, value in summary.items():
            if name in self.maxima:
                self.data[name][slot] = np.maximum(self.data[name][slot], value)
            else:
                self.data[name][slot] += value
        self.dirty.add(slot)
        return True

    def newest_bucket(self, now: float) -> int:
        return math.floor(now / self.width)

    def live_mask(self, now: float) -> np.ndarray:
        return (self.ids >= self.oldest_live_bucket(now)) & (self.ids <= self.newest_bucket(now))

    def merged(self, now: float) -> Summary:
        """The summary of the window ending at ``now``."""
        mask = self.live_mask(now)
        return {name: (array[mask].max(axis=0, initial=0) if name in self.maxima else array[mask].sum(axis=0))
                for name, array in self.data.items()}

    def state(self) -> dict[str, np.ndarray]:
        return {"ids": self.ids, **self.data}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        if arrays["ids"].shape != self.ids.shape:
            raise ValueError("window ring size changed")
        for name, array in self.data.items():
            if name not in arrays or arrays[name].shape != array.shape:
                raise ValueError(f"window field {name} changed shape")
        self.ids = arrays["ids"].astype(np.int64).copy()
        for name in self.data:
            self.data[name] = arrays[name].astype(self.data[name].dtype).copy()
        self.dirty = set()
