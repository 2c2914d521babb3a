"""The output component: drift of the score and of the predicted classes, and the score's out-of-range share."""

from __future__ import annotations

import numpy as np
from scipy.spatial import distance

from tests.cases import binary_reference


def test_predicted_class_drift_is_the_jensen_shannon_distance_of_the_class_shares(binary, window) -> None:
    frame = binary_reference(600, seed=7)
    frame["prediction"] = (np.random.default_rng(7).random(600) < 0.8).astype(int)  # mostly class 1 now
    out = window(binary.component("output"), binary.batch(frame))
    by_output = {d.output: d for d in out.values["prediction_drift"]}
    reference = np.bincount(binary.frame["prediction"], minlength=2)
    current = np.bincount(frame["prediction"], minlength=2)
    expected = distance.jensenshannon(reference / reference.sum(), current / current.sum())  # natural log
    assert abs(by_output["class"].score - expected) < 1e-12
    assert by_output["class"].drifted


def test_scores_outside_the_reference_range_are_counted(binary, window) -> None:
    frame = binary_reference(400, seed=8)
    frame.loc[frame.index[:40], "score"] = 1.5  # above every reference score
    out = window(binary.component("output"), binary.batch(frame))
    assert out.values["prediction_out_of_range"] == 40 / 400
    assert "score" in {d.output for d in out.values["prediction_drift"]}
