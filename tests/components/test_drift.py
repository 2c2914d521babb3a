"""The drift component: each feature's score against the reference, exact against scipy where the bins allow."""

from __future__ import annotations

import numpy as np
from scipy import stats

from tests.cases import binary_reference


def test_ks_of_a_discrete_feature_equals_scipy_and_drift_is_flagged(binary, window) -> None:
    frame = binary_reference(800, seed=5)
    frame["age"] = np.minimum(frame["age"] + 8, 79.0)  # everyone older
    out = window(binary.component("drift"), binary.batch(frame))
    drift = out.features["age"]["drift"]
    expected = stats.ks_2samp(binary.frame["age"], frame["age"]).statistic
    assert drift.method == "ks"
    assert abs(drift.score - expected) < 1e-12
    assert drift.drifted and drift.score > drift.threshold
    failed = {dict(v.subject).get("feature") for v in out.verdicts if v.check == "feature_drift" and v.failed}
    assert "age" in failed


def test_rows_like_the_reference_do_not_drift(binary, window) -> None:
    out = window(binary.component("drift"), binary.batch(binary_reference(800, seed=6)))
    assert out.features.keys() == {"age", "income", "country"}
    assert all(not facts["drift"].drifted for facts in out.features.values())
    assert out.values["drifted_ratio"] == 0.0
