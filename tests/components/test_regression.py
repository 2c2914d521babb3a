"""The regression component: realized error metrics of the labelled rows, exact against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from tests.cases import regression_reference


def test_metrics_equal_sklearn(regression, window) -> None:
    frame = regression_reference(500, seed=11)
    frame["y"] = frame["y"] + 0.3  # a bias the model does not have
    out = window(regression.component("regression"), regression.batch(frame))
    got = out.values["performance"]
    y, predicted = frame["y"], frame["pred"]
    assert got["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, predicted)), rel=1e-9)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, predicted), rel=1e-9)
    assert got["r2"] == pytest.approx(skm.r2_score(y, predicted), rel=1e-9)


def test_no_metric_below_the_window_minimum(regression, window) -> None:
    out = window(regression.component("regression"), regression.batch(regression_reference(5, seed=12)))
    assert out.values["performance"] == {}
