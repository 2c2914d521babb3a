"""Regression performance estimated without labels: direct loss estimation (DLE), as NannyML does it.

Two nanny models learn, on the reference, each prediction's error from what is known when it is made (the
model's features and its prediction): one its absolute error, one its squared error. In production each
prediction gets both estimates when it is prepared, clipped at zero as NannyML clips them; a window's
estimated MAE is the mean of its rows' estimated absolute errors, its MSE the mean of the squared ones and its
RMSE the root of that mean (NannyML's definitions). The estimates are sums per bucket, so windows merge and
restarts restore as every other field.

The nanny models are scikit-learn's :class:`~sklearn.ensemble.HistGradientBoostingRegressor` (NannyML uses
LightGBM's regressor; both are histogram gradient boosting with default settings), fitted with a fixed seed
on at most :data:`MAX_FIT_ROWS` reference rows, of which the regressor holds out a tenth to stop early
(above 10,000 rows). Categorical features are given as the reference's category slots (ordinal codes, where
NannyML uses LightGBM's categorical splits); missing values stay missing (NaN), which both handle natively.
What they learn is kept as arrays (:class:`~exporter.stats.trees.TreeEnsemble`), saved in baseline files and
evaluated with numpy: scikit-learn is needed to fit them, never to use them.

As NannyML says of its own: the reference must be data the monitored model did not learn from (a test set,
or production data with labels), or the nanny models learn the model's training error, which is too small.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from exporter.stats.trees import TreeEnsemble, from_sklearn

log = logging.getLogger(__name__)

#: Reference rows the nanny models learn from at most (a random sample of them beyond, fixed seed).
MAX_FIT_ROWS = 100_000
#: Labelled reference rows below which no nanny model is fitted (too few to learn errors from).
MIN_FIT_ROWS = 200
#: The metrics estimated, each from the mean of one model's estimates.
ESTIMATED_METRICS = ("mae", "mse", "rmse")


@dataclass(frozen=True, eq=False)
class NannyModels:
    """The fitted nanny models of a regression model: its absolute and squared error per row."""

    absolute_error: TreeEnsemble
    squared_error: TreeEnsemble
    #: Inputs in order: the numeric features, the categorical features (slots), the prediction.
    n_inputs: int

    def estimate(self, inputs: np.ndarray) -> np.ndarray:
        """Each row's estimated (absolute, squared) error, ``(rows, 2)``, never below zero."""
        return np.maximum(0.0, np.stack([self.absolute_error.predict(inputs), self.squared_error.predict(inputs)],
                                        axis=1))


def metrics_from_sums(rows: int, absolute: float, squared: float) -> dict[str, float]:
    """Estimated MAE, MSE and RMSE of ``rows`` rows from the sums of their estimated errors."""
    if rows <= 0:
        return {}
    mse = squared / rows
    return {"mae": absolute / rows, "mse": mse, "rmse": float(np.sqrt(mse))}


def fit_rows(truth: np.ndarray, predicted: np.ndarray, seed: int = 0) -> np.ndarray | None:
    """The reference rows the nanny models learn from, in order: those with a label and a prediction, a random
    sample of :data:`MAX_FIT_ROWS` of them beyond that; None with fewer than :data:`MIN_FIT_ROWS`."""
    usable = np.flatnonzero(np.isfinite(truth) & np.isfinite(predicted))
    if usable.size < MIN_FIT_ROWS:
        log.warning("nanny models: %d labelled, predicted reference rows, fewer than %d: no DLE estimate",
                    usable.size, MIN_FIT_ROWS)
        return None
    if usable.size > MAX_FIT_ROWS:
        usable = np.sort(np.random.default_rng(seed).choice(usable, MAX_FIT_ROWS, replace=False))
    return usable


def fit(inputs: np.ndarray, truth: np.ndarray, predicted: np.ndarray, seed: int = 0) -> NannyModels | None:
    """The nanny models learned from rows (:func:`fit_rows`'s) with their inputs as :class:`NannyModels` takes
    them, their labels and their predictions; None when scikit-learn cannot fit them (logged)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    x = np.array(inputs, dtype=np.float64)
    x[:, ~np.isfinite(x).any(axis=0)] = 0.0  # an input never present cannot be split on (nor binned by sklearn)
    error = truth - predicted
    try:
        models = [from_sklearn(HistGradientBoostingRegressor(random_state=seed).fit(x, target))
                  for target in (np.abs(error), np.square(error))]
    except (ValueError, FloatingPointError) as failure:  # e.g. errors too large for float64 once squared
        log.warning("nanny models: not fitted (%s): no DLE estimate", failure)
        return None
    return NannyModels(models[0], models[1], int(inputs.shape[1]))
