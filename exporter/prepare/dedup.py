"""Duplicate prediction ids: a ring of the hashes of the most recent ids, saved with the state."""

from __future__ import annotations

from typing import Any

import numpy as np


class RecentIds:
    """The 64-bit hashes of the last ``size`` distinct ids seen (0: no duplicate detection)."""

    def __init__(self, size: int):
        self.hashes = np.zeros(size, dtype=np.uint64)
        self.pos = 0
        self.count = 0

    def duplicates(self, hashes: np.ndarray, present: np.ndarray) -> np.ndarray:
        """True for rows whose id was seen recently or earlier in the batch; remembers the others."""
        duplicate = self.find(hashes, present)
        self.remember(hashes[present & ~duplicate])
        return duplicate

    def find(self, hashes: np.ndarray, present: np.ndarray) -> np.ndarray:
        """True for rows whose id was seen recently or earlier in the batch (remembers nothing)."""
        if not self.hashes.size:
            return np.zeros(hashes.size, dtype=bool)
        masked = np.where(present, hashes, 0)
        # The batch in hash order (stable: the first of equal ids stays first): repeats are neighbours,
        # and the lookups walk the sorted ring in order instead of jumping about it (twice as fast).
        order = np.argsort(masked, kind="stable")
        ordered = masked[order]
        repeated = np.zeros(ordered.size, dtype=bool)
        repeated[1:] = ordered[1:] == ordered[:-1]
        seen = np.sort(self.hashes[: self.count])
        if seen.size:
            at = np.minimum(np.searchsorted(seen, ordered), seen.size - 1)
            repeated |= seen[at] == ordered
        out = np.empty(hashes.size, dtype=bool)
        out[order] = repeated
        return present & out

    def remember(self, new: np.ndarray) -> None:
        """Add the hashes of new ids to the ring (the oldest are overwritten)."""
        if not self.hashes.size:
            return
        for start in range(0, new.size, self.hashes.size):
            part = new[start:start + self.hashes.size]
            slots = (self.pos + np.arange(part.size)) % self.hashes.size
            self.hashes[slots] = part
            self.pos = int((self.pos + part.size) % self.hashes.size)
            self.count = min(self.hashes.size, self.count + part.size)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"pos": self.pos, "count": self.count}, {"hashes": self.hashes}

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        if arrays["hashes"].shape == self.hashes.shape:  # a changed max_recent_ids starts afresh
            self.hashes = arrays["hashes"].astype(np.uint64).copy()
            self.pos, self.count = int(meta["pos"]), int(meta["count"])
