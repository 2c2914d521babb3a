"""Every drift statistic against its exact reference implementation in scipy, on the same data.

The data goes through the real path: reference bins from :mod:`exporter.baseline.reference`,
row binning from :mod:`exporter.prepare.rows`, one bucket summary from :mod:`exporter.summary.sketch`,
and the score from :mod:`exporter.baseline.drift`.
"""

from __future__ import annotations

import statistics as pystats

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats
from scipy.spatial.distance import jensenshannon

from exporter.baseline.drift import categorical_score, numeric_score
from exporter.baseline.features import FINE_BINS, build_categorical, build_numeric, feature_codes
from exporter.stats.binning import bin_index
from exporter.stats.methods.base import EMPTY_BIN_FLOOR, MIN_REFERENCE_STD
from exporter.stats.methods.chi2 import chi2_pvalue
from exporter.stats.methods.psi import psi

# Continuous reference/current pairs: no shift, location shift, scale change, other shape.
CASES = {
    "same": (lambda r, n: r.normal(0, 1, n), lambda r, n: r.normal(0, 1, n)),
    "shift": (lambda r, n: r.normal(0, 1, n), lambda r, n: r.normal(0.3, 1, n)),
    "big-shift": (lambda r, n: r.normal(10, 2, n), lambda r, n: r.normal(14, 2, n)),
    "scale": (lambda r, n: r.normal(0, 1, n), lambda r, n: r.normal(0, 1.6, n)),
    "shape": (lambda r, n: r.lognormal(0, 0.8, n), lambda r, n: r.gamma(2.0, 1.0, n)),
}


def _binned(reference: np.ndarray, current: np.ndarray, method: str):
    feature = build_numeric("x", pd.Series(reference), method, 0.1)
    index = bin_index(feature.edges, current)
    counts = np.bincount(index, minlength=feature.n_bins)
    sums = np.bincount(index, weights=current, minlength=feature.n_bins)
    return feature, counts, sums


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize(("n_ref", "n_cur"), [(5000, 2000), (20000, 20000), (2000, 300)])
def test_ks_within_bin_resolution_of_scipy(case: str, n_ref: int, n_cur: int) -> None:
    rng = np.random.default_rng(abs(hash((case, n_ref, n_cur))) % 2**32)
    make_ref, make_cur = CASES[case]
    reference, current = make_ref(rng, n_ref), make_cur(rng, n_cur)
    feature, counts, sums = _binned(reference, current, "ks")
    exact = stats.ks_2samp(reference, current).statistic
    ours = numeric_score(feature, counts, sums)
    # Documented guarantee: |error| <= largest reference bin mass = 1 / FINE_BINS.
    assert abs(ours - exact) <= 1.0 / FINE_BINS + 1e-12
    assert abs(ours - exact) <= 0.01


@pytest.mark.parametrize("case", sorted(CASES))
def test_wasserstein_within_its_documented_bound_of_scipy(case: str) -> None:
    rng = np.random.default_rng(11)
    make_ref, make_cur = CASES[case]
    reference, current = make_ref(rng, 20000), make_cur(rng, 5000)
    if case == "same":
        current = current + 0.05  # a tiny shift: with none at all the distance is pure sampling noise
    feature, counts, sums = _binned(reference, current, "wasserstein")
    exact = stats.wasserstein_distance(reference, current) / np.std(reference)
    ours = numeric_score(feature, counts, sums)
    # The bound of docs/concepts/drift.md for light-tailed data: 0.01 reference standard deviations (the old claim of 1%
    # relative error did not hold near small distances; see tests/system/test_properties.py for heavy tails).
    assert abs(ours - exact) <= 0.01


def test_wasserstein_exact_outside_reference_range() -> None:
    rng = np.random.default_rng(3)
    reference = rng.uniform(0, 1, 4000)
    current = rng.uniform(2, 5, 1000)  # entirely above the reference maximum
    feature, counts, sums = _binned(reference, current, "wasserstein")
    exact = stats.wasserstein_distance(reference, current) / np.std(reference)
    assert numeric_score(feature, counts, sums) == pytest.approx(exact, rel=1e-9)


@pytest.mark.parametrize("scale", [1.0, 1e200, 1e300])
def test_wasserstein_normalised_by_a_finite_std_at_any_scale(scale: float) -> None:
    """A reference of huge numbers (squares beyond float64) still has its std, so the normalised
    distance is what it is at scale 1: the distance is scale-free, as scipy's is (down to the floor of
    MIN_REFERENCE_STD, an absolute std below which a reference counts as constant)."""
    rng = np.random.default_rng(17)
    reference, current = rng.normal(0, 1, 4000) * scale, rng.normal(0.5, 1, 1000) * scale
    feature, counts, sums = _binned(reference, current, "wasserstein")
    # statistics.pstdev sums the squares exactly (as fractions): a reference free of overflow.
    assert feature.reference_std == pytest.approx(pystats.pstdev(reference.tolist()), rel=1e-12)
    exact = stats.wasserstein_distance(reference / scale, current / scale) / np.std(reference / scale)
    assert abs(numeric_score(feature, counts, sums) - exact) <= 0.01


@pytest.mark.parametrize("offset", [0.0, 1e6, 1e8])
def test_wasserstein_within_its_bound_far_from_zero(offset: float) -> None:
    """Values with a large offset against their spread (sensor readings, prices, epoch times): each
    reference bin's sum is its own values' (a running total's differences put bin means several bins
    away at 1e8 here, the distance 5 times scipy's)."""
    rng = np.random.default_rng(23)
    reference, current = offset + rng.normal(0, 1e-3, 1_000_000), offset + rng.normal(0, 1e-3, 200_000)
    feature, counts, sums = _binned(reference, current, "wasserstein")
    exact = stats.wasserstein_distance(reference, current) / np.std(reference)
    # As accurate as at offset 0 (an error of 0.0002 there, 0.01 allowed in general): the running total's
    # error was 0.004 at 1e6 and 0.011 at 1e8.
    assert abs(numeric_score(feature, counts, sums) - exact) <= 0.002


@pytest.mark.parametrize("case", sorted(CASES))
def test_psi_matches_symmetric_kl_from_scipy(case: str) -> None:
    rng = np.random.default_rng(5)
    make_ref, make_cur = CASES[case]
    reference, current = make_ref(rng, 10000), make_cur(rng, 3000)
    feature, counts, sums = _binned(reference, current, "psi")
    # Independent path: histogram the raw values on the decile edges, +-inf for out-of-range.
    deciles = np.quantile(reference, np.linspace(0, 1, FINE_BINS + 1))[:: FINE_BINS // 10]
    edges = np.concatenate([[-np.inf], deciles[:-1], [deciles[-1] + 1e-12 * max(1, abs(deciles[-1])), np.inf]])
    p = np.histogram(reference, edges)[0] / reference.size
    q = np.histogram(current, edges)[0] / current.size
    p, q = np.maximum(p, EMPTY_BIN_FLOOR), np.maximum(q, EMPTY_BIN_FLOOR)
    exact = float(np.sum(special.rel_entr(q, p) + special.rel_entr(p, q)))
    assert numeric_score(feature, counts, sums) == pytest.approx(exact, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_js_matches_scipy_on_the_same_bins(case: str) -> None:
    rng = np.random.default_rng(6)
    make_ref, make_cur = CASES[case]
    reference, current = make_ref(rng, 10000), make_cur(rng, 3000)
    feature, counts, sums = _binned(reference, current, "js")
    exact = jensenshannon(feature.coarse(feature.reference_counts), feature.coarse(counts))
    assert numeric_score(feature, counts, sums) == pytest.approx(float(exact), rel=1e-9, abs=1e-12)


def test_js_categorical_matches_scipy() -> None:
    rng = np.random.default_rng(8)
    ref = pd.Series(rng.choice(list("abcde"), 5000, p=[0.4, 0.3, 0.15, 0.1, 0.05]))
    cur = pd.Series(rng.choice(list("abcdz"), 2000, p=[0.2, 0.2, 0.2, 0.2, 0.2]))
    feature = build_categorical("c", ref, "js", 0.1, max_categories=100)
    counts = _category_counts(feature, cur)
    assert counts[-1] == (cur == "z").sum()  # the unseen category has its own slot
    ref_counts = np.append(ref.value_counts().reindex(list("abcde")).to_numpy(), 0)
    cur_counts = np.append(cur.value_counts().reindex(list("abcde"), fill_value=0).to_numpy(), (cur == "z").sum())
    exact = jensenshannon(ref_counts, cur_counts)
    assert categorical_score(feature, counts) == pytest.approx(float(exact), rel=1e-9)


def _category_counts(feature, values: pd.Series) -> np.ndarray:
    return np.bincount(feature_codes(values, feature), minlength=feature.n_bins)


@pytest.mark.parametrize("drifted", [False, True])
def test_chi2_pvalue_matches_scipy_chisquare(drifted: bool) -> None:
    rng = np.random.default_rng(9)
    probabilities = [0.5, 0.3, 0.2]
    ref = pd.Series(rng.choice(list("xyz"), 4000, p=probabilities))
    cur = pd.Series(rng.choice(list("xyz"), 800, p=[0.3, 0.3, 0.4] if drifted else probabilities))
    feature = build_categorical("c", ref, "chi2", 0.05, max_categories=100)
    counts = _category_counts(feature, cur)
    expected = ref.value_counts(normalize=True).reindex(list("xyz")).to_numpy() * len(cur)
    observed = cur.value_counts().reindex(list("xyz"), fill_value=0).to_numpy()
    exact = stats.chisquare(observed, expected).pvalue
    assert categorical_score(feature, counts) == pytest.approx(exact, rel=1e-9, abs=1e-300)
    assert (exact < 0.05) == drifted


def test_chi2_unseen_category_is_drift_not_a_division_by_zero() -> None:
    ref = np.array([500, 500, 0])
    cur = np.array([10, 10, 80])
    assert chi2_pvalue(ref, cur) < 1e-10


def test_psi_is_zero_for_identical_distributions_and_grows_with_shift() -> None:
    same = psi(np.array([10, 20, 30]), np.array([1, 2, 3]))
    assert same == pytest.approx(0.0, abs=1e-12)
    small = psi(np.array([10, 20, 30]), np.array([12, 20, 28]))
    big = psi(np.array([10, 20, 30]), np.array([30, 20, 10]))
    assert 0 < small < big


def test_constant_reference_column_bins_and_scores() -> None:
    feature = build_numeric("k", pd.Series([3.0] * 100), "wasserstein", 0.1)
    assert feature.usable and feature.n_bins == 3
    current = np.array([3.0, 3.0, 4.0, 2.0])
    index = bin_index(feature.edges, current)
    assert index.tolist() == [1, 1, 2, 0]
    counts = np.bincount(index, minlength=3)
    sums = np.bincount(index, weights=current, minlength=3)
    exact = stats.wasserstein_distance(np.full(100, 3.0), current) / MIN_REFERENCE_STD
    assert numeric_score(feature, counts, sums) == pytest.approx(exact, rel=1e-9)
