"""The classification component: realized metrics of the labelled rows, exact against scikit-learn."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from exporter.components import PerformanceBaseline
from tests.cases import binary_reference


def test_metrics_equal_sklearn_on_the_labelled_rows(binary, window) -> None:
    frame = binary_reference(700, seed=9)
    frame["label"] = frame["label"].astype(float)
    frame.loc[frame.index[::4], "label"] = np.nan
    out = window(binary.component("classification"), binary.batch(frame))
    labelled = frame.dropna(subset=["label"])
    y, predicted, score = labelled["label"].astype(int), labelled["prediction"], labelled["score"]
    got = out.values["performance"]
    assert got["accuracy"] == skm.accuracy_score(y, predicted)
    assert abs(got["precision"] - skm.precision_score(y, predicted)) < 1e-12
    assert abs(got["recall"] - skm.recall_score(y, predicted)) < 1e-12
    assert abs(got["f1"] - skm.f1_score(y, predicted)) < 1e-12
    # ROC AUC from score histograms: exact while no two scores of different labels share a bin.
    assert abs(got["roc_auc"] - skm.roc_auc_score(y, score)) < 2e-3


def test_a_drop_below_the_reference_fails_the_performance_check(binary, window) -> None:
    frame = binary_reference(700, seed=10)
    frame["prediction"] = 1 - frame["prediction"]  # every decision flipped
    baseline = PerformanceBaseline(0.05, {"accuracy": 0.75})
    out = window(binary.component("classification", baseline), binary.batch(frame))
    [verdict] = [v for v in out.verdicts if v.check == "performance" and dict(v.subject)["metric"] == "accuracy"]
    assert verdict.failed and verdict.value == out.values["performance"]["accuracy"] < 0.5
    assert verdict.threshold == out.values["performance_limits"]["accuracy"] <= 0.70
