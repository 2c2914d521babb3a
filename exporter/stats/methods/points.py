"""A window's fine bins as what the rank and value statistics read.

The fine bins keep each side's count and sum per bin. What they lose is where the two sides' values fall
inside one bin, and two models fill that in:

- for the rank tests (Mann-Whitney, Cramér-von Mises, Anderson-Darling, :class:`Blocks`): a bin that holds one
  value (a value's own bin: a feature of at most 100 distinct reference values has one per value) holds ties,
  exactly; in any other bin the two sides' values are distinct and evenly interleaved, the expectation when
  they come from one distribution there;
- for the value statistics (energy distance, the t-test, :func:`bin_means`): each side's values of a bin sit at
  their mean there.

Both are exact where every bin holds one value. On continuous data the error is bounded by the mass the two
sides share in a bin (at most ``1/200`` of the reference per bin); it is measured against scipy on skewed,
discrete and heavy-tailed data in ``tests/stats/test_methods.py``, and the docs state the bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from exporter.stats.methods.base import Bins


def bin_means(edges: np.ndarray, counts: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """Each bin's mean value (last axis), inner bins clipped into ``[left, right)``; empty bins at their left edge
    (the underflow bin at the reference minimum, the overflow bin at its maximum)."""
    left = np.concatenate([[edges[0]], edges[:-1], [edges[-1]]])
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.where(counts > 0, counts, 1), left)
    inner = means[..., 1:-1]
    # A bin's values are below its right edge: a mean rounded onto it belongs to the bin (a value's own bin in the
    # discrete layout is [v, next float after v), whose values are all v).
    below_right = np.nextafter(edges[1:], -np.inf)
    means[..., 1:-1] = np.clip(inner, edges[:-1], np.maximum(below_right, edges[:-1]))
    means[..., 0] = np.minimum(means[..., 0], edges[0])
    means[..., -1] = np.maximum(means[..., -1], edges[-1])
    return means


@dataclass(frozen=True)
class Blocks:
    """Both sides' counts per fine bin, in the bins' order, and which bins hold a single value (ties)."""

    reference: np.ndarray
    current: np.ndarray
    tied: np.ndarray

    @property
    def before(self) -> tuple[np.ndarray, np.ndarray]:
        """Each side's values in the bins before each bin."""
        return np.cumsum(self.reference) - self.reference, np.cumsum(self.current) - self.current


def blocks(reference: Bins, counts: np.ndarray) -> Blocks:
    """The reference's and one window's fine-bin counts as :class:`Blocks`."""
    if reference.edges is None:
        raise ValueError("the rank statistics read the fine bins")
    edges = reference.edges
    # An inner bin [left, right) holds one value when no float lies between them; the under- and overflow bins hold
    # whatever fell beyond the reference's range.
    single = np.nextafter(edges[:-1], np.inf) >= edges[1:]
    tied = np.concatenate([[False], single, [False]])
    return Blocks(reference.counts.astype(np.float64), counts.astype(np.float64), tied)
