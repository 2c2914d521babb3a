"""Property tests: generated frames of discrete, constant, one-sided and tiny data, every statistic
compared with scipy and sklearn on the same values (tolerances as the accuracy table of docs/concepts/drift.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sklearn import metrics as skm

from exporter.baseline import drift
from exporter.baseline.features import FINE_BINS, build_categorical, build_numeric, feature_codes
from exporter.stats import performance
from exporter.stats.binning import bin_index
from exporter.values.keys import binary_codes, canonical_class

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
small_ints = st.lists(st.integers(-5, 5), min_size=1, max_size=60)


def _binned(feature, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    index = bin_index(feature.edges, values)
    return (np.bincount(index, minlength=feature.n_bins),
            np.bincount(index, weights=values, minlength=feature.n_bins))


@SETTINGS
@given(reference=small_ints, current=small_ints)
def test_ks_is_exact_for_discrete_data(reference: list[int], current: list[int]) -> None:
    """Constant, one-sided, disjoint and tiny samples included: at most 200 distinct reference values give
    a bin per value, and KS equals scipy's to rounding."""
    feature = build_numeric("x", pd.Series(reference, dtype=float), "ks", 0.1)
    counts, sums = _binned(feature, np.asarray(current, dtype=float))
    exact = stats.ks_2samp(reference, current, method="asymp").statistic
    assert drift.numeric_score(feature, counts, sums) == pytest.approx(exact, abs=1e-12)


@SETTINGS
@given(reference=small_ints, current=small_ints, far=st.lists(st.integers(-100, 100), max_size=5))
def test_wasserstein_is_exact_for_discrete_data(reference: list[int], current: list[int], far: list[int]) -> None:
    """Exact when the current values are values of the reference or outside its range."""
    assume(np.std(reference) > 1e-3)
    feature = build_numeric("x", pd.Series(reference, dtype=float), "wasserstein", 0.1)
    on_support = [v for v in current if v in set(reference)] + [v for v in far if not min(reference) <= v <=
                                                                 max(reference)]
    for values, exact_expected in ((on_support, True),):
        if not values:
            continue
        counts, sums = _binned(feature, np.asarray(values, dtype=float))
        exact = stats.wasserstein_distance(reference, values) / np.std(reference)
        got = drift.numeric_score(feature, counts, sums)
        if exact_expected:
            assert got == pytest.approx(exact, rel=1e-9, abs=1e-12)


@SETTINGS
@given(st.data())
def test_ks_on_continuous_data_is_within_one_reference_bin(data: st.DataObject) -> None:
    n = data.draw(st.integers(300, 3000))
    shift = data.draw(st.floats(-1, 1))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    reference, current = rng.normal(0, 1, 5000), rng.normal(shift, 1, n)
    feature = build_numeric("x", pd.Series(reference), "ks", 0.1)
    counts, sums = _binned(feature, current)
    exact = stats.ks_2samp(reference, current).statistic
    got = drift.numeric_score(feature, counts, sums)
    assert exact - 1 / FINE_BINS - 1e-12 <= got <= exact + 1e-12


@SETTINGS
@given(st.data())
def test_ks_on_small_tied_skewed_or_discrete_references_is_within_the_largest_bin_share(data: st.DataObject) -> None:
    """The drift page's bound with its assumption made explicit: the binned D is never above scipy's exact D, and
    below it by at most the largest share of the reference in one fine bin (1/200 only where the reference has
    many distinct values evenly spread; more on a small reference, or where ties pile a value into one bin)."""
    n = data.draw(st.integers(30, 700), label="reference rows")
    kind = data.draw(st.sampled_from(["rounded normal", "lognormal", "discrete", "mostly one value"]), label="kind")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))

    def sample(size: int, shift: float) -> np.ndarray:
        if kind == "rounded normal":
            return np.round(rng.normal(shift, 1, size), 1)  # many ties
        if kind == "lognormal":
            return rng.lognormal(shift, 1.5, size)
        if kind == "discrete":
            return rng.integers(0, 400, size) + np.round(shift * 50)  # up to 400 distinct values
        values = np.round(rng.normal(shift, 3, size), 2)
        values[rng.random(size) < 0.4] = 0.0  # a value 40% of the rows hold
        return values

    reference = sample(n, 0.0)
    current = sample(data.draw(st.integers(20, 2000), label="current rows"), data.draw(st.floats(-1, 1)))
    feature = build_numeric("x", pd.Series(reference), "ks", 0.1)
    counts, sums = _binned(feature, current)
    exact = stats.ks_2samp(reference, current).statistic
    got = drift.numeric_score(feature, counts, sums)
    bound = float(np.max(feature.reference_counts)) / float(np.sum(feature.reference_counts))
    assert exact - bound - 1e-12 <= got <= exact + 1e-12


#: The drift page's bound on binned Wasserstein, in reference standard deviations, by kind of tail.
WASSERSTEIN_BOUND = {"normal": 0.01, "exponential": 0.01, "mixture": 0.01, "lognormal": 0.035, "lognormal2": 0.035,
                     "pareto": 0.035, "pareto15": 0.035}


def _family(rng: np.random.Generator, family: str, n: int, s: float) -> np.ndarray:
    if family == "normal":
        return rng.normal(s, 1, n)
    if family == "exponential":
        return rng.exponential(1 + s, n)
    if family == "mixture":
        return np.where(rng.random(n) < 0.3 + s / 4, rng.normal(5, 1, n), rng.normal(0, 1, n))
    if family.startswith("lognormal"):
        return rng.lognormal(s, 2.0 if family == "lognormal2" else 1.0, n)
    return rng.pareto(1.5 if family == "pareto15" else 2.5, n) * (1 + s)


@pytest.mark.parametrize("family", sorted(WASSERSTEIN_BOUND))
@pytest.mark.parametrize("rows", [100, 300, 3000, 30000])
def test_wasserstein_on_continuous_data_is_within_its_documented_bound(family: str, rows: int) -> None:
    """Binned Wasserstein against scipy on light and heavy tails, from no shift to a large one."""
    for seed in range(3):
        rng = np.random.default_rng([seed, rows, len(family)])

        def draw(n: int, s: float, rng: np.random.Generator = rng) -> np.ndarray:
            return _family(rng, family, n, s)

        reference = draw(20000, 0.0)
        feature = build_numeric("x", pd.Series(reference), "wasserstein", 0.1)
        for shift in (0.0, 0.1, 0.2, 0.5):
            current = draw(rows, shift)
            counts, sums = _binned(feature, current)
            exact = stats.wasserstein_distance(reference, current) / np.std(reference)
            got = drift.numeric_score(feature, counts, sums)
            assert abs(got - exact) <= WASSERSTEIN_BOUND[family], (seed, shift, exact, got)


categories = st.lists(st.sampled_from(["a", "b", "c", "d", "", "e"]), min_size=1, max_size=80)


@SETTINGS
@given(reference=categories, current=categories, cap=st.integers(1, 6))
def test_categorical_js_and_new_values_match_scipy(reference: list[str], current: list[str], cap: int) -> None:
    """Blank values are missing; a value is new only if the reference lacks it, whatever the cap on tracked
    categories; JS over tracked categories, the reference's other values and new values equals scipy's."""
    ref = [v for v in reference if v]
    cur = [v for v in current if v]
    assume(ref and cur)
    feature = build_categorical("c", pd.Series(reference), "js", 0.1, max_categories=cap)
    codes = feature_codes(pd.Series(current), feature)
    assert (codes == -1).sum() == current.count("")
    new = sum(v not in set(ref) for v in cur)
    assert (codes == feature.unseen_slot).sum() == new
    counts = np.bincount(codes[codes >= 0], minlength=feature.n_bins)

    def group(v: str) -> str:
        return v if v in feature.categories else ("~other" if v in set(ref) else "~new")

    groups = sorted({group(v) for v in ref + cur})
    p = pd.Series([group(v) for v in ref]).value_counts().reindex(groups, fill_value=0)
    q = pd.Series([group(v) for v in cur]).value_counts().reindex(groups, fill_value=0)
    assert drift.categorical_score(feature, counts) == pytest.approx(float(jensenshannon(p, q)), abs=1e-12)


label_values = st.sampled_from([True, False, 1, 0, 1.0, 0.0, "1", "0", "true", "False", " yes ", "No"])


@SETTINGS
@given(st.lists(st.tuples(label_values, label_values), min_size=2, max_size=60), st.sampled_from(["numeric", "text"]))
def test_binary_metrics_on_any_label_type_match_sklearn(pairs: list[tuple], kind: str) -> None:
    """Labels and decisions of mixed types (booleans, numbers, words) are matched by canonical value."""
    truth = [canonical_class(t) for t, _ in pairs]
    decided = [canonical_class(p) for _, p in pairs]
    positive, negative = ("1", "0") if kind == "numeric" else ("yes", "no")
    mapping = {"1": positive, "0": negative, "yes": positive, "no": negative}
    y = [mapping[t] for t in truth]
    p = [mapping[d] for d in decided]
    labels = binary_codes(pd.Series([mapping[t] for t in truth], dtype=object), positive, negative)
    predictions = binary_codes(pd.Series([mapping[d] for d in decided], dtype=object), positive, negative)
    confusion = np.zeros((2, 2))
    np.add.at(confusion, (labels, predictions), 1)
    got = performance.binary_from_confusion(confusion)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, p), abs=1e-12)
    for name, metric in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        assert got[name] == pytest.approx(metric(y, p, pos_label=positive, zero_division=0), abs=1e-12), name
