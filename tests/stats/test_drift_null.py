"""Calibrated drift thresholds: few false flags on stable data at every window size, real shifts found.

Windows are drawn from the population the reference was drawn from (not from its bins), scored by
the production functions, and judged by the calibrated rule, as the drift component does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kstwo

from exporter.baseline import drift
from exporter.baseline.features import build_categorical, build_numeric
from exporter.baseline.methods import DriftSetting, calibrated
from exporter.cli import main
from exporter.stats.binning import bin_index
from exporter.stats.drift_null import calibrate
from exporter.stats.methods import Bins
from exporter.stats.methods.jensen_shannon import jensen_shannon_rows
from tests.helpers import write_config

ALPHA, REFERENCE_ROWS, WINDOWS = 0.002, 20_000, 300

POPULATIONS = {
    "normal": lambda rng, n, shift=0.0: rng.normal(shift, 1.0, n),
    "lognormal": lambda rng, n, shift=0.0: rng.lognormal(shift, 0.8, n),
    "poisson": lambda rng, n, shift=0.0: rng.poisson(4.0 + 4 * shift, n).astype(float),
}
CATEGORIES = np.array(["a", "b", "c", "d", "e", "f"])
WEIGHTS = np.array([0.35, 0.25, 0.15, 0.12, 0.08, 0.05])


def _numeric(method: str, population: str, min_effect: float = 0.0):
    rng = np.random.default_rng(1)
    feature = build_numeric("x", pd.Series(POPULATIONS[population](rng, REFERENCE_ROWS)), method, min_effect)
    return calibrated(feature, DriftSetting(method, min_effect, True, ALPHA, min_effect))


def _numeric_verdicts(feature, values: np.ndarray) -> tuple[float, float, bool]:
    index = bin_index(feature.edges, values)
    counts = np.bincount(index, minlength=feature.n_bins)
    sums = np.bincount(index, weights=values, minlength=feature.n_bins)
    score = drift.numeric_score(feature, counts, sums)
    return score, *drift.judge(feature, score, len(values), counts)


@pytest.mark.parametrize("method", ["ks", "wasserstein", "psi", "js"])
@pytest.mark.parametrize("population", list(POPULATIONS))
def test_stable_windows_are_rarely_flagged_at_every_size(method: str, population: str) -> None:
    feature = _numeric(method, population)
    rng = np.random.default_rng(2)
    for n in (30, 100, 300, 1000, 10_000):
        flagged = sum(_numeric_verdicts(feature, POPULATIONS[population](rng, n))[2] for _ in range(WINDOWS))
        # alpha is 0.2%: 1% of 300 windows is 3; with fixed thresholds (0.1) small windows flag 10-90%.
        assert flagged <= 4, (method, population, n, flagged)


@pytest.mark.parametrize("method", ["ks", "wasserstein"])
def test_a_shift_with_a_ks_of_0_2_is_found_at_300_rows(method: str) -> None:
    feature = _numeric(method, "normal", min_effect=0.05)
    rng = np.random.default_rng(3)
    shift = 0.51  # the KS distance between N(0, 1) and N(0.51, 1) is 0.2
    found = sum(_numeric_verdicts(feature, rng.normal(shift, 1.0, 300))[2] for _ in range(200))
    assert found >= 190


def _categorical(method: str):
    rng = np.random.default_rng(4)
    reference = pd.Series(rng.choice(CATEGORIES, REFERENCE_ROWS, p=WEIGHTS))
    feature = build_categorical("c", reference, method, 0.05, max_categories=100)
    return calibrated(feature, DriftSetting(method, ALPHA if method == "chi2" else 0.05, True, ALPHA, 0.05))


def _categorical_verdict(feature, values: np.ndarray) -> bool:
    position = {c: i for i, c in enumerate(feature.categories)}
    counts = np.bincount([position[v] for v in values], minlength=feature.n_bins)
    return drift.judge(feature, drift.categorical_score(feature, counts), len(values), counts)[1]


@pytest.mark.parametrize("method", ["js", "psi", "chi2"])
def test_categorical_drift_calibrated_flags_little_noise_and_finds_a_js_of_0_15(method: str) -> None:
    feature = _categorical(method)
    rng = np.random.default_rng(5)
    for n in (30, 100, 300, 3000):
        flagged = sum(_categorical_verdict(feature, rng.choice(CATEGORIES, n, p=WEIGHTS)) for _ in range(WINDOWS))
        assert flagged <= 4, (method, n, flagged)
    shifted = np.array([0.23, 0.19, 0.15, 0.152, 0.148, 0.13])
    js = float(jensen_shannon_rows(WEIGHTS * 1e6, shifted[None, :] * 1e6)[0])
    assert 0.14 < js < 0.16
    found = sum(_categorical_verdict(feature, rng.choice(CATEGORIES, 300, p=shifted)) for _ in range(200))
    assert found >= 190, found


def test_a_negligible_shift_on_a_million_rows_does_not_count() -> None:
    """KS of 0.02 is significant on a million rows, but below the minimum effect (0.05)."""
    feature = _numeric("ks", "normal", min_effect=0.05)
    values = np.random.default_rng(6).normal(0.05, 1.0, 1_000_000)
    score, threshold, drifted = _numeric_verdicts(feature, values)
    assert 0.015 < score < 0.03 and threshold == 0.05 and not drifted
    assert feature.calibration.null_quantile(1_000_000) < 0.015  # a p-value alone would have flagged it


def test_simulated_quantiles_meet_their_chi_square_asymptote() -> None:
    """At 1,000 values on well-filled bins, simulation and asymptote agree (the two halves of the grid)."""
    from scipy.stats import chi2

    counts = np.array([3000, 2500, 2000, 1500, 1000])
    x2 = chi2.ppf(1 - ALPHA, counts.size - 1)
    for method, asymptote in (("js", np.sqrt(x2 / 8000)), ("psi", x2 / 1000)):
        rule = calibrate("c", method, Bins(counts), ALPHA, 0.0)
        simulated = rule.quantiles[list(rule.sizes).index(1000)]
        assert simulated == pytest.approx(asymptote, rel=0.15), method


def test_check_exports_the_threshold_in_force_per_window(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(7)
    pd.DataFrame({"x": rng.normal(0, 1, 5000), "score": rng.random(5000),
                  "prediction": rng.integers(0, 2, 5000)}).to_parquet(tmp_path / "reference.parquet")
    now = 1_800_000_000.0
    (tmp_path / "logs").mkdir()
    rows = [{"ts": now - (30 if i < 100 else 1800), "x": float(v), "score": 0.5, "prediction": 1}
            for i, v in enumerate(rng.normal(0, 1, 1000))]
    (tmp_path / "logs" / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = write_config(tmp_path / "monitor.yaml", {"models": [{
        "name": "m", "task": "binary_classification", "reference": "reference.parquet",
        "predictions": {"path": "logs/*.jsonl", "timestamp_column": "ts"}, "prediction_column": "prediction",
        "score_column": "score", "windows": ["5m", "1h"], "features": {"numeric": ["x"]},
        "drift": {"method": "ks"}}]})
    assert main(["--log-level", "ERROR", "check", "--config", str(config), "--now", str(now)]) == 0
    samples = json.loads(capsys.readouterr().out)["metrics"]
    by = {(s["name"], s["labels"].get("window")): s["value"] for s in samples if s["labels"].get("feature") == "x"}
    small = by[("model_feature_drift_window_threshold", "5m")]
    large = by[("model_feature_drift_window_threshold", "1h")]

    # Kolmogorov's law at 100 values (n_eff 98), raised by at most a few percent by the reference's own
    # chunk noise (independent rows here).
    assert kstwo.ppf(1 - ALPHA, 100) <= small <= 1.08 * kstwo.ppf(1 - ALPHA, 98)
    assert kstwo.ppf(1 - ALPHA, 1000) <= large <= 1.08 * kstwo.ppf(1 - ALPHA, 900) and large < small
    assert by[("model_feature_drift_threshold", None)] == 0.05  # the fixed part: the minimum effect
    outputs = {(s["labels"]["output"], s["labels"]["window"]): s["value"] for s in samples
               if s["name"] == "model_prediction_drift_window_threshold"}
    # The model's output drift is calibrated the same way (psi on the score, JS on the predicted class).
    assert outputs[("score", "5m")] > outputs[("score", "1h")] >= 0.1
    assert outputs[("class", "5m")] > outputs[("class", "1h")] >= 0.05
    for window in ("5m", "1h"):
        score = by[("model_feature_drift_score", window)]
        threshold = by[("model_feature_drift_window_threshold", window)]
        assert by[("model_feature_drifted", window)] == float(score > threshold)


def test_clustered_rows_raise_the_thresholds_by_the_reference_s_own_chunk_noise() -> None:
    """Rows that come in runs (households, sessions) are noisier than independent draws: the reference's
    consecutive chunks show it, and the thresholds grow to keep false flags rare."""

    def clustered(rng: np.random.Generator, n: int) -> pd.Series:
        return pd.Series(np.repeat(rng.choice(CATEGORIES, n // 8 + 1, p=WEIGHTS), 8)[:n])

    rng = np.random.default_rng(10)
    reference = clustered(rng, REFERENCE_ROWS)
    feature = build_categorical("c", reference, "js", 0.05, max_categories=100)
    setting = DriftSetting("js", 0.05, True, ALPHA, 0.0)
    naive, aware = calibrated(feature, setting), calibrated(feature, setting, reference)
    assert naive.calibration.inflation == 1.0 and aware.calibration.inflation > 2  # runs of 8: about sqrt(8)
    windows = [clustered(rng, 300).to_numpy() for _ in range(WINDOWS)]
    assert sum(_categorical_verdict(naive, w) for w in windows) > 30  # independent-draw thresholds: >10% flagged
    assert sum(_categorical_verdict(aware, w) for w in windows) <= 4
