"""Label drift: the arrived labels against the reference's, judged as a feature of their kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from exporter.components import PerformanceBaseline, build_components
from tests.cases import binary_reference, regression_reference
from tests.components.conftest import _model


def test_class_labels_drift_by_the_jensen_shannon_distance_of_their_shares(binary, window) -> None:
    label = binary.spec.label
    assert label is not None and label.method == "js" and label.categories == ("0", "1")
    frame = binary_reference(800, seed=3)
    frame["label"] = (np.random.default_rng(3).random(800) < 0.8).astype(int)  # 80% positive, reference 50%
    out = window(binary.component("label_drift"), binary.batch(frame))
    result = out.values["label_drift"]
    reference = np.bincount(binary.frame["label"], minlength=2)
    current = np.bincount(frame["label"], minlength=2)
    assert abs(result.score - distance.jensenshannon(reference / reference.sum(), current / current.sum())) < 1e-12
    assert result.drifted
    assert [v.check for v in out.verdicts] == ["label_drift"] and out.verdicts[0].failed


def test_stable_labels_do_not_drift_and_the_threshold_follows_the_labelled_rows(binary, window) -> None:
    component = binary.component("label_drift")
    small = window(component, binary.batch(binary_reference(200, seed=11))).values["label_drift"]
    large = window(component, binary.batch(binary_reference(3000, seed=12))).values["label_drift"]
    assert not small.drifted and not large.drifted
    assert small.threshold > large.threshold >= binary.spec.label.calibration.min_effect


def test_only_rows_whose_label_arrived_count(binary, window) -> None:
    frame = binary_reference(400, seed=5)
    frame["label"] = frame["label"].astype(object)
    frame.loc[frame.index[:390], "label"] = None  # ten labels: as many as min_window_rows
    out = window(binary.component("label_drift"), binary.batch(frame))
    assert out.values["label_drift"] is not None  # 10 labels reach min_window_rows
    frame.loc[frame.index[390], "label"] = None
    out = window(binary.component("label_drift"), binary.batch(frame))
    assert "label_drift" not in out.values and not out.verdicts  # 9 labels: no verdict, no number


def test_a_regression_target_drifts_as_a_numeric_feature_exact_against_scipy_ks(tmp_path: Path, window) -> None:
    reference = regression_reference(2000, seed=1)
    reference["y"] = np.round(reference["y"] / 2)  # at most 100 distinct values: KS on its bins is exact
    model = _model(tmp_path, reference, task="regression", prediction_column="pred", label_column="y",
                   drift={"method": "ks", "threshold": 0.1})
    current = regression_reference(700, seed=2)
    current["y"] = np.round((current["y"] + 1.5) / 2)
    out = window(model.component("label_drift"), model.batch(current))
    result = out.values["label_drift"]
    expected = stats.ks_2samp(reference["y"], current["y"]).statistic
    assert result.method == "ks" and abs(result.score - expected) < 1e-12
    assert result.threshold == 0.1 and result.drifted == (expected > 0.1)


def test_a_class_the_reference_never_had_is_new_and_drifts(tmp_path: Path, window) -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(size=1000), "prediction": rng.choice(["a", "b", "c"], 1000),
                              "label": rng.choice(["a", "b", "c"], 1000)})
    model = _model(tmp_path, reference, task="multiclass_classification", prediction_column="prediction",
                   label_column="label", drift={"categorical_method": "chi2"})
    current = reference.iloc[:300].copy()
    current.loc[current.index[:60], "label"] = "d"  # a fifth of the labels: a class never seen
    out = window(model.component("label_drift"), model.batch(current))
    result = out.values["label_drift"]
    assert result.method == "chi2" and result.drifted
    assert result.score < 1e-6


def test_no_label_column_in_the_reference_no_label_drift(tmp_path: Path) -> None:
    reference = binary_reference(500).drop(columns=["label"])
    model = _model(tmp_path, reference, task="binary_classification", prediction_column="prediction",
                   score_column="score", label_column="label")
    assert model.spec.label is None
    built = build_components(model.config, model.reference, model.spec, PerformanceBaseline(0.05))
    assert "label_drift" not in {c.name for c in built}
