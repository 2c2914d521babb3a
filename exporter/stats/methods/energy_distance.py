"""Energy distance over the reference's standard deviation, from the fine bins (Evidently's ``ed``)."""

from __future__ import annotations

import numpy as np

from exporter.stats.methods.base import MIN_REFERENCE_STD, Bins, DriftMethod, Null, one_row, register
from exporter.stats.methods.points import bin_means


def energy_distance_rows(reference: Bins, counts: np.ndarray, sums: np.ndarray | None) -> np.ndarray:
    """``sqrt(2 * integral (F_ref - F_cur)**2 dx)`` (``scipy.stats.energy_distance``) of each row of ``counts``
    (windows by fine bins) over the reference's standard deviation, each side's values at their bins' means."""
    if reference.edges is None or reference.sums is None or sums is None:
        raise ValueError("the energy distance reads the fine bins and their sums")
    ref_means = bin_means(reference.edges, reference.counts, reference.sums)
    cur_means = bin_means(reference.edges, counts, sums)
    rows = counts.shape[0]
    values = np.concatenate([np.broadcast_to(ref_means, cur_means.shape), cur_means], axis=-1)
    ref_weights = np.concatenate([np.broadcast_to(reference.counts / reference.counts.sum(), counts.shape),
                                  np.zeros(counts.shape)], axis=-1)
    cur_weights = np.concatenate([np.zeros(counts.shape), counts / counts.sum(axis=-1, keepdims=True)], axis=-1)
    order = np.argsort(values, axis=-1, kind="stable")
    ordered = np.take_along_axis(values, order, axis=-1)
    gap = np.cumsum(np.take_along_axis(ref_weights, order, axis=-1), axis=-1) - np.cumsum(
        np.take_along_axis(cur_weights, order, axis=-1), axis=-1)
    integral = np.sum(gap[:, :-1] ** 2 * np.diff(ordered, axis=-1), axis=-1).reshape(rows)
    return np.sqrt(2.0 * np.maximum(integral, 0.0)) / max(reference.std, MIN_REFERENCE_STD)


ENERGY_DISTANCE = register(DriftMethod(
    name="energy_distance",
    title="energy distance (reference standard deviations)",
    statistic=one_row(energy_distance_rows),
    rows=energy_distance_rows,
    kinds=frozenset({"numeric"}),
    fine=True,
    null=Null.MULTINOMIAL,
    default_threshold=0.1,
    default_min_effect=0.05,
    aliases=("ed", "energy"),
    origin="Evidently ed (Evidently's is in the feature's units: multiply by the reference's standard deviation)",
), __name__)
