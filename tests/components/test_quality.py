"""The quality component: missing, out-of-range and new-category shares of a window, exact against pandas."""

from __future__ import annotations

import numpy as np

from tests.cases import binary_reference


def test_ratios_are_the_shares_of_the_window_rows(binary, window) -> None:
    frame = binary_reference(500, seed=3)
    rng = np.random.default_rng(3)
    frame.loc[rng.random(500) < 0.2, "income"] = np.nan
    frame.loc[rng.random(500) < 0.1, "age"] = 120.0  # beyond the reference's oldest
    frame.loc[rng.random(500) < 0.15, "country"] = "NZ"  # a country the reference never had
    out = window(binary.component("quality"), binary.batch(frame))
    features = out.features
    assert features["income"]["missing_ratio"] == frame["income"].isna().mean()
    reference_age = binary.frame["age"]
    outside = (frame["age"] < reference_age.min()) | (frame["age"] > reference_age.max())
    assert features["age"]["out_of_range_ratio"] == outside.mean()
    assert features["country"]["new_category_ratio"] == (~frame["country"].isin(["US", "DE", "FR"])).mean()
    # 20% missing income is far past the default completeness limit: a failed check naming the feature.
    failed = {(v.check, dict(v.subject)["feature"]) for v in out.verdicts if v.failed}
    assert ("completeness", "income") in failed and ("completeness", "age") not in failed


def test_a_clean_window_fails_no_check(binary, window) -> None:
    out = window(binary.component("quality"), binary.batch(binary_reference(500, seed=4)))
    assert all(facts["missing_ratio"] == 0 for facts in out.features.values())
    assert not [v for v in out.verdicts if v.failed]
