"""The CBPE component: performance expected from calibrated scores, before any label arrives."""

from __future__ import annotations

import numpy as np

from tests.cases import binary_reference


def test_expected_accuracy_is_the_mean_probability_of_each_decision(binary, window) -> None:
    frame = binary_reference(600, seed=13).drop(columns=["label"])  # no label yet
    out = window(binary.component("cbpe"), binary.batch(frame))
    calibration = binary.spec.calibration
    p = calibration.calibrator(frame["score"].to_numpy()) if calibration else frame["score"].to_numpy()
    expected = np.where(frame["prediction"] == 1, p, 1 - p).mean()
    assert abs(out.values["estimated_performance"]["accuracy"] - expected) < 1e-12


def test_no_estimate_below_the_window_minimum(binary, window) -> None:
    frame = binary_reference(5, seed=14).drop(columns=["label"])
    assert window(binary.component("cbpe"), binary.batch(frame)).values["estimated_performance"] == {}
