"""Multivariate drift: the PCA reconstruction error, exact against NannyML's, and what it sees that no single
feature's drift does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exporter.prepare.rows import Rejections, bin_features
from tests.baseline.test_nanny import CAR_PRICE, car_price_baseline
from tests.components.conftest import _model, one_window


def test_the_reconstruction_error_is_nannymls_on_its_car_prices(tmp_path: Path) -> None:
    """NannyML 0.13.1's DataReconstructionDriftCalculator on its own example (recorded by
    benchmarks/multivariate_nannyml.py): the same imputation, encoding, scaling and PCA, so the same mean error
    per chunk up to the order of floating-point sums."""
    recorded = json.loads((CAR_PRICE / "nannyml_multivariate.json").read_text())
    analysis = pd.read_parquet(CAR_PRICE / "analysis.parquet")
    baseline = car_price_baseline(tmp_path, dle=False)
    reconstruction = baseline.reference.multivariate
    assert reconstruction is not None
    size = recorded["chunk_size"]
    ours = [reconstruction.errors(bin_features(analysis.iloc[start:start + size], baseline.reference,
                                               Rejections()).inputs()).mean()
            for start in range(0, len(analysis), size)]
    np.testing.assert_allclose(ours, recorded["reconstruction_error"]["value"], rtol=1e-9)


def _correlated(n: int, seed: int, sign: float = 1.0) -> pd.DataFrame:
    """Five features: a and b move together (correlation 0.9, or -0.9 with ``sign`` -1: the same marginals), the
    others independent; a classifier's output."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = sign * 0.9 * a + np.sqrt(1 - 0.81) * rng.normal(size=n)
    score = rng.random(n)
    return pd.DataFrame({"a": a, "b": b, "c": rng.normal(size=n), "d": rng.exponential(size=n),
                         "e": rng.choice(["x", "y", "z"], n), "score": score, "prediction": (score > 0.5).astype(int),
                         "label": (rng.random(n) < score).astype(int)})


@pytest.fixture()
def correlated(tmp_path: Path):
    return _model(tmp_path, _correlated(20000, 0), task="binary_classification", prediction_column="prediction",
                  score_column="score", label_column="label")


def test_a_change_in_correlation_is_multivariate_drift_that_no_feature_shows(correlated) -> None:
    assert correlated.reference.multivariate is not None
    batch = correlated.batch(_correlated(3000, 1, sign=-1.0))
    features = one_window(correlated.component("drift"), batch)
    assert not any(v.failed for v in features.verdicts), [v for v in features.verdicts if v.failed]
    multivariate = one_window(correlated.component("multivariate"), batch)
    result = multivariate.values["multivariate_drift"]
    assert result.drifted and result.score > result.upper
    assert [(v.check, v.failed) for v in multivariate.verdicts] == [("multivariate_drift", True)]


@pytest.mark.parametrize("rows", [100, 1000, 10000])
def test_stable_rows_stay_inside_the_band(correlated, rows: int) -> None:
    for seed in range(1, 6):
        result = one_window(correlated.component("multivariate"),
                            correlated.batch(_correlated(rows, seed))).values["multivariate_drift"]
        assert result.lower <= result.score <= result.upper, (rows, seed, result)


def test_the_window_score_is_the_mean_error_of_its_rows(correlated) -> None:
    frame = _correlated(700, 9, sign=0.5)
    batch = correlated.batch(frame)
    result = one_window(correlated.component("multivariate"), batch).values["multivariate_drift"]
    assert batch.reconstruction_error is not None
    assert abs(result.score - batch.reconstruction_error.mean()) < 1e-12
    # The band narrows with the window's rows, never below 5% of the reference's mean error.
    r = correlated.reference.multivariate
    assert r.threshold_band(100) > r.threshold_band(10000) >= 0.05 * r.error_mean
