"""The set of every value a categorical feature had in the reference, in bounded memory.

A value is *new* only when the reference never had it, however rare it was there, so the
new-category check needs the full set of reference values, not the capped categories that
drift tracks. :class:`KnownValues` keeps the 64-bit hashes of the distinct values in a sorted
array: exact up to hash collisions (about n / 2**64 per lookup) for up to
:data:`MAX_EXACT_VALUES` distinct values (8 bytes each). Beyond that it is a Bloom filter
sized for a false-positive rate of :data:`BLOOM_FALSE_POSITIVE_RATE`: a truly new value is then
taken as known with that probability (never the other way round), and its size is about
1.8 bytes per value.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

#: Distinct values kept exactly (as 64-bit hashes); more become a Bloom filter.
MAX_EXACT_VALUES = 1_000_000
#: False-positive rate of the Bloom filter: the share of truly new values it takes as known.
BLOOM_FALSE_POSITIVE_RATE = 0.001


def value_hashes(text: np.ndarray) -> np.ndarray:
    """Stable 64-bit hashes of category strings (the same in every process and release)."""
    return pd.util.hash_array(np.asarray(text, dtype=object), categorize=False)


class KnownValues:
    def __init__(self, hashes: np.ndarray):
        distinct = np.unique(hashes.astype(np.uint64))
        self.size = int(distinct.size)
        self.exact = self.size <= MAX_EXACT_VALUES
        if self.exact:
            self.sorted = distinct
            return
        bits = math.ceil(-self.size * math.log(BLOOM_FALSE_POSITIVE_RATE) / math.log(2) ** 2)
        self.n_bits = bits
        self.k = max(1, round(bits / self.size * math.log(2)))
        self.bits = np.zeros((bits + 7) // 8, dtype=np.uint8)
        positions = self._positions(distinct)
        np.bitwise_or.at(self.bits, positions >> 3, (1 << (positions & 7)).astype(np.uint8))

    @staticmethod
    def of(text: np.ndarray) -> KnownValues:
        return KnownValues(value_hashes(text))

    def _positions(self, hashes: np.ndarray) -> np.ndarray:
        """Bloom positions by double hashing: h1 + i * h2 for i < k."""
        h1 = hashes & np.uint64(0xFFFFFFFF)
        h2 = (hashes >> np.uint64(32)) | np.uint64(1)
        i = np.arange(self.k, dtype=np.uint64)[:, None]
        return ((h1[None, :] + i * h2[None, :]) % np.uint64(self.n_bits)).astype(np.int64).ravel()

    def contains(self, text: np.ndarray) -> np.ndarray:
        """Whether each string was a value of the reference."""
        hashes = value_hashes(text)
        if self.exact:
            if not self.size:
                return np.zeros(hashes.size, dtype=bool)
            index = np.minimum(np.searchsorted(self.sorted, hashes), self.size - 1)
            return self.sorted[index] == hashes
        positions = self._positions(hashes)
        hit = (self.bits[positions >> 3] >> (positions & 7).astype(np.uint8)) & 1
        return hit.reshape(self.k, hashes.size).all(axis=0)

    def including(self, text: np.ndarray) -> KnownValues:
        """A copy that also knows the strings ``text`` (a constraints file's domain, for example)."""
        hashes = value_hashes(text).astype(np.uint64)
        if self.exact:
            return KnownValues(np.concatenate([self.sorted, hashes]))
        out = KnownValues.__new__(KnownValues)
        out.exact, out.n_bits, out.k = False, self.n_bits, self.k
        out.bits = self.bits.copy()
        fresh = hashes[~self.contains(text)] if hashes.size else hashes
        out.size = self.size + int(np.unique(fresh).size)
        positions = out._positions(np.unique(hashes))
        np.bitwise_or.at(out.bits, positions >> 3, (1 << (positions & 7)).astype(np.uint8))
        return out
