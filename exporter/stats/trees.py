"""A fitted gradient-boosted regressor as plain arrays, evaluated with numpy.

scikit-learn's :class:`~sklearn.ensemble.HistGradientBoostingRegressor` fits the nanny models of the
exporter (:mod:`exporter.baseline.nanny`); what it learns is a baseline value plus a sum of binary trees.
:func:`from_sklearn` copies those trees into a :class:`TreeEnsemble` of flat node arrays, which a baseline
file stores as raw bytes (no pickle: a baseline file is data, never code), and :meth:`TreeEnsemble.predict`
evaluates them as scikit-learn does: a value goes left when it is at most the node's threshold, a missing
(NaN) value the way the node learned, and the trees are added to the baseline one after the other, in
scikit-learn's order, so the sum is the same to the last bit. Only numeric splits are used: categorical
features are given to the model as ordinal codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class TreeEnsemble:
    """Trees as flat node arrays (every tree's nodes one after the other); ``roots`` indexes each tree's root."""

    baseline: float
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    #: The longest path from a root to a leaf (the number of steps an evaluation takes).
    depth: int

    @property
    def n_features(self) -> int:
        return int(self.feature[~self.leaf].max()) + 1 if (~self.leaf).any() else 0

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The model's prediction for each row of ``x`` (rows x features, float64; NaN: missing)."""
        x = np.asarray(x, dtype=np.float64)
        total = np.full(x.shape[0], self.baseline)
        for root in self.roots.tolist():  # tree after tree, added as scikit-learn adds them
            total += self.value[self._leaves(x, root)]
        return total

    def _leaves(self, x: np.ndarray, root: int) -> np.ndarray:
        """The leaf each row of ``x`` reaches in the tree at ``root``: rows step down together, and a row leaves the
        working set once at a leaf, so a step costs the rows still on their way."""
        node = np.full(x.shape[0], root, dtype=np.int64)
        active = np.arange(x.shape[0])
        current = node
        for _ in range(self.depth):
            inner = ~self.leaf[current]
            active, current = active[inner], current[inner]
            if not active.size:
                break
            value = x[active, self.feature[current]]
            go_left = np.where(np.isnan(value), self.missing_left[current], value <= self.threshold[current])
            current = np.where(go_left, self.left[current], self.right[current])
            node[active] = current
        return node


def from_sklearn(model: Any) -> TreeEnsemble:
    """The trees of a fitted single-output ``HistGradientBoostingRegressor`` (numeric splits only)."""
    parts: dict[str, list[np.ndarray]] = {name: [] for name in (
        "feature", "threshold", "missing_left", "left", "right", "leaf", "value")}
    roots, offset, depth = [], 0, 0
    for iteration in model._predictors:
        (predictor,) = iteration
        nodes = predictor.nodes
        if nodes["is_categorical"].any():
            raise ValueError("categorical splits are not supported: pass categories as ordinal codes")
        roots.append(offset)
        parts["feature"].append(nodes["feature_idx"].astype(np.int32))
        parts["threshold"].append(nodes["num_threshold"].astype(np.float64))
        parts["missing_left"].append(nodes["missing_go_to_left"].astype(bool))
        parts["left"].append(nodes["left"].astype(np.int64) + offset)
        parts["right"].append(nodes["right"].astype(np.int64) + offset)
        parts["leaf"].append(nodes["is_leaf"].astype(bool))
        parts["value"].append(nodes["value"].astype(np.float64))
        depth = max(depth, int(nodes["depth"].max()))
        offset += nodes.shape[0]
    arrays = {name: np.concatenate(values) if values else np.zeros(0) for name, values in parts.items()}
    baseline = float(np.ravel(model._baseline_prediction)[0])
    return TreeEnsemble(baseline, roots=np.array(roots, dtype=np.int64), depth=depth, **arrays)
