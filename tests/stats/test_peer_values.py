"""The literal expected values of the peers' own test suites, reproduced case by case on their data.

Each case cites the peer's file and test (``test_stattests.py``: Evidently's tests/stattests/test_stattests.py).
Where the exporter's definition legitimately differs, the case asserts the exporter's value and its documented
relation to the peer's (docs/concepts/drift.md, "Where the peers differ"). Started with Evidently's stattests (its
legacy stattests, Evidently 0.7); NannyML's drift and performance suites are to follow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pytest import approx
from scipy import stats

from tests.stats.test_methods import _categorical_score, _numeric_score


def _cat(method: str, reference: pd.Series, current: pd.Series) -> float:
    """A categorical feature's score (missing values left out, as Evidently's value counts do)."""
    return _categorical_score(method, reference.dropna().astype(str).to_numpy(),
                              current.dropna().astype(str).to_numpy())


def _num(method: str, reference: pd.Series, current: pd.Series) -> float:
    return _numeric_score(method, reference.dropna().to_numpy(dtype=float), current.dropna().to_numpy(dtype=float))


SIX = pd.Series([1, 2, 3, 4, 5, 6])
REFERENCE = SIX.repeat([16, 18, 16, 14, 12, 12])
CURRENT = SIX.repeat([16, 16, 16, 16, 16, 8])
EIGHT = pd.Series([38.7, 41.5, 43.8, 44.5, 45.5, 46.0, 47.7, 58.0])
OTHER_EIGHT = pd.Series([39.2, 39.3, 39.7, 41.4, 41.8, 42.9, 43.3, 45.8])


@pytest.mark.parametrize("reference", [REFERENCE, SIX.repeat([x * 2 for x in [16, 18, 16, 14, 12, 12]])],
                         ids=["test_freq_obs_eq_freq_exp", "test_freq_obs_not_eq_freq_exp"])
def test_chi2_and_hellinger_of_six_categories(reference: pd.Series) -> None:
    """test_stattests.py::test_freq_obs_eq_freq_exp and ::test_freq_obs_not_eq_freq_exp: 0.67309 and 0.06812."""
    assert _cat("chi2", reference, CURRENT) == approx(0.67309, abs=1e-5)
    assert _cat("hellinger", reference, CURRENT) == approx(0.06812, abs=1e-5)


def test_a_categorical_feature_with_missing_values() -> None:
    """test_stattests.py::test_cat_feature_with_nans: chi2 1.0, hellinger 0."""
    same = pd.Series(["a", "b", np.nan]).repeat([10, 10, 10])
    assert _cat("chi2", same, same) == approx(1.0, abs=1e-5)
    assert _cat("hellinger", same, same) == approx(0.0, abs=1e-5)


def test_identical_numbers_and_categories() -> None:
    """test_stattests.py::test_num_features, ::test_chi_stat_test_cat_feature, ::test_hellinger_distance,
    ::test_energy_distance (its first case) and ::test_z_stat_test_cat_feature (its first case)."""
    with_missing = pd.concat([EIGHT, pd.Series([np.nan])], ignore_index=True)
    assert _num("hellinger", with_missing, with_missing) == approx(0.0, abs=1e-5)
    three = pd.Series(["a", "b", "c"]).repeat([10, 10, 10])
    assert _cat("chi2", three, three) == approx(1.0, abs=1e-5)
    ones = pd.Series([1, 1, 1, 1, 1] * 10)
    assert _num("hellinger", ones, ones) == approx(0.0, abs=1e-3)
    assert _cat("hellinger", ones, ones) == approx(0.0, abs=1e-3)
    assert _num("energy_distance", EIGHT, EIGHT) == approx(0.0, abs=1e-5)
    two = pd.Series(["a", "b"] * 10)
    assert _cat("z", two, two) == approx(1.0, abs=1e-5)


def test_z_test_of_a_reference_with_missing_values_differs() -> None:
    """test_stattests.py::test_z_stat_test_cat_feature (second case) expects 1.0: Evidently counts a missing reference
    value as the other value ("b"). Here missing values are left out, so the reference holds only "a" and the
    window's "b" half is a value it never had: a clear difference."""
    assert _cat("z", pd.Series(["a", np.nan] * 10), pd.Series(["a", "b"] * 10)) == approx(0.00617, abs=1e-5)


def test_anderson_darling() -> None:
    """test_stattests.py::test_anderson_darling: 0.0635."""
    assert _num("anderson", EIGHT, OTHER_EIGHT) == approx(0.0635, abs=1e-3)


def test_g_test() -> None:
    """test_stattests.py::test_g_test: 0.8176."""
    reference = pd.Series(["a", "b", "c"]).repeat([5, 5, 8])
    current = pd.Series(["a", "b", "c"]).repeat([4, 6, 8])
    assert _cat("g_test", reference, current) == approx(0.8176, abs=1e-3)


def test_cramer_von_mises() -> None:
    """test_stattests.py::test_cramer_von_mises: 0.8076839 (no ties: the CDF form is scipy's rank form)."""
    reference = pd.Series(stats.norm.rvs(size=100, random_state=0))
    current = pd.Series(stats.norm.rvs(size=100, random_state=1))
    assert _num("cramer_von_mises", reference, current) == approx(0.8076839, abs=1e-3)


@pytest.mark.parametrize(("reference", "current", "expected"), [
    (["a", "b", "b", "a", "a", "b"] * 15, ["b", "b", "a", "b", "b", "a"] * 15, 0.033),
    (["a", "b", "b", "a", "a", "b"], ["a"] * 6, 0.181),
    (["a"] * 6, ["a"] * 6, 1.0),
    (["a", "b", "b", "b", "a", "b"], ["b", "b", "b", "a", "b", "a"], 1.0),
    (["a"] * 6, ["b"] * 6, 0.0021),
    (["a", "a", "a", "b", "b"] * 30, ["b", "b", "b", "a", "a"] * 30, 0.00078),
])
def test_fisher_exact(reference: list[str], current: list[str], expected: float) -> None:
    """test_stattests.py::test_pvalue_fisher_exact, every case."""
    assert _cat("fisher_exact", pd.Series(reference), pd.Series(current)) == approx(expected, abs=1e-3)


def test_mann_whitney_is_two_sided() -> None:
    """test_stattests.py::test_mann_whitney expects 0.481, the one-sided (``alternative="less"``) p-value; the
    exporter's
    test is two-sided, so a fall of the values counts as well as a rise: twice the smaller one-sided p-value."""
    assert _num("mannw", REFERENCE, CURRENT) == approx(2 * 0.4814330305987495, abs=1e-6)


def test_t_test_of_few_values_in_shared_bins() -> None:
    """test_stattests.py::test_t_test expects 0.084. Eight reference values make a bin per value and per gap; three of
    the window's values share one gap bin, so the window's variance is read at the bins' means: 0.0818."""
    assert _num("t_test", EIGHT, OTHER_EIGHT) == approx(0.0818, abs=1e-3)
    assert stats.ttest_ind(EIGHT, OTHER_EIGHT).pvalue == approx(0.084, abs=1e-3)  # the peer's number, for the record


def test_energy_distance_is_in_reference_standard_deviations() -> None:
    """test_stattests.py::test_energy_distance expects 1.9 for the values moved by 5, in the feature's units; the
    exporter's
    is over the reference's standard deviation (1.93 / 5.33 = 0.363), here 0.390: the moved values fall in the
    reference's gap and overflow bins, read at their means."""
    assert stats.energy_distance(EIGHT, EIGHT + 5) == approx(1.9, abs=1e-1)
    assert _num("energy_distance", EIGHT, EIGHT + 5) == approx(0.390, abs=1e-3)


@pytest.mark.parametrize(("counts", "distance"), [
    ([16, 16, 16, 16, 16, 8], 0.0682), ([10, 10, 24, 24, 10, 10], 0.2045), ([0, 0, 0, 0, 0, 88], 0.8636),
    ([16, 18, 16, 14, 12, 12], 0.0), ([10, 24, 12, 16, 8, 16], 0.1512),
])
def test_total_variation_distance(counts: list[int], distance: float) -> None:
    """test_stattests.py::test_tvd_stattest expects permutation-test p-values (0.928, 0.085, 0.0, 1.0, 0.309), random by
    construction; the exporter's score is the distance itself, calibrated as the other distances are. The
    distances, by hand: half the sum of the share differences."""
    current = SIX.repeat(counts)
    shares = (REFERENCE.value_counts(normalize=True) - current.value_counts(normalize=True)).fillna(
        REFERENCE.value_counts(normalize=True)).abs().sum() / 2
    score = _cat("tvd", REFERENCE, current)
    assert score == approx(distance, abs=1e-4)
    assert score == approx(shares, abs=1e-12)
