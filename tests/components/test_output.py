"""The output component: drift of the score and of the predicted classes, and the score's out-of-range share."""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.spatial import distance

from tests.cases import CASES, binary_reference
from tests.components.conftest import _model


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


def test_binary_confidence_is_the_scores_distance_from_the_threshold(tmp_path, window) -> None:
    binary = _model(tmp_path, binary_reference(), task="binary_classification", prediction_column="prediction",
                    score_column="score", label_column="label", drift={"prediction_method": "ks"})
    confidence = binary.spec.confidence
    assert confidence is not None and binary.spec.low_confidence == 0.1
    frame = binary_reference(800, seed=9)
    frame["score"] = 0.5 + (frame["score"] - 0.5) * 0.3  # the same decisions, made with far less confidence
    out = window(binary.component("output"), binary.batch(frame))
    margin = np.abs(frame["score"].to_numpy() - 0.5)
    assert out.values["low_confidence_ratio"] == np.mean(margin < 0.1)
    drift = {d.output: d for d in out.values["prediction_drift"]}["confidence"]
    assert drift.method == confidence.method == "ks" and drift.drifted
    # KS on the reference's fine bins: within the largest reference bin mass of scipy's exact D.
    reference = np.abs(binary.frame["score"].to_numpy() - 0.5)
    exact = stats.ks_2samp(reference, margin).statistic
    assert exact - 1 / 200 - 1e-9 <= drift.score <= exact + 1e-12


def test_stable_confidence_does_not_drift(binary, window) -> None:
    out = window(binary.component("output"), binary.batch(binary_reference(800, seed=10)))
    drift = {d.output: d for d in out.values["prediction_drift"]}["confidence"]
    assert not drift.drifted
    assert abs(out.values["low_confidence_ratio"] - 0.2) < 0.05  # uniform scores: 20% within 0.1 of 0.5


def test_multiclass_confidence_is_the_top_class_probability(tmp_path, window) -> None:
    make, settings = CASES["multiclass"]
    model = _model(tmp_path, make(np.random.default_rng(1), 3000), **settings)
    frame = make(np.random.default_rng(2), 600)
    out = window(model.component("output"), model.batch(frame))
    top = model.spec.class_probabilities(frame).max(axis=1)
    assert out.values["low_confidence_ratio"] == np.mean(top < 0.5)
    assert "confidence" in {d.output for d in out.values["prediction_drift"]}
