"""exporter.stats.distributions gives what scipy.stats gives, without importing it on the serving path."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from exporter.stats.distributions import binom_ppf, binom_quantile_at_most, chi2_ppf, chi2_sf, norm_ppf

RATES = np.array([0.0, 1e-9, 1e-6, 1e-4, 0.001, 0.01, 0.05, 0.1, 0.3, 0.5, 0.7, 0.99, 1 - 1e-9, 1.0])


@pytest.mark.parametrize("n", [1, 2, 5, 10, 30, 100, 1000, 12345, 10**6])
@pytest.mark.parametrize("q", [0.9, 0.99, 0.998, 0.999999])
def test_binomial_quantile_equals_scipy(n: int, q: float) -> None:
    np.testing.assert_array_equal(binom_ppf(q, n, RATES), stats.binom.ppf(q, n, RATES))


def test_binomial_quantile_is_the_smallest_count_whose_cdf_reaches_q() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        n, p, q = int(rng.integers(1, 5000)), float(rng.random()), float(rng.uniform(0.01, 0.999))
        k = float(binom_ppf(q, n, np.array([p]))[0])
        assert stats.binom.cdf(k, n, p) >= q
        assert k == 0 or stats.binom.cdf(k - 1, n, p) < q


@pytest.mark.parametrize("dof", [1, 2, 3, 4, 5, 13, 100, 999, 2500, 10_000])
def test_chi_square_quantile_and_tail_equal_scipy(dof: int) -> None:
    # Upper quantiles of whole degrees come from the closed-form tail: a sum of dof/2 terms, each with a
    # log-gamma of up to dof/2 whose rounding (1e-16 relative of a number near dof/2 log(dof/2)) sets the
    # error; measured at most 5e-14 up to 10,000 degrees, hence 1e-13. The rest is scipy's own function.
    q = np.array([0.5, 0.6, 0.9, 0.95, 0.998, 0.999999, 1 - 1e-12])
    np.testing.assert_allclose(chi2_ppf(q, dof), stats.chi2.ppf(q, dof), rtol=1e-13)
    np.testing.assert_allclose(chi2_ppf(np.array([1e-3, 0.2]), dof), stats.chi2.ppf([1e-3, 0.2], dof), rtol=1e-14)
    np.testing.assert_allclose(chi2_ppf(0.95, dof + 0.5), stats.chi2.ppf(0.95, dof + 0.5), rtol=1e-14)
    for x in (0.0, 0.1, 1.0, 10.0, 100.0, 5000.0):
        assert chi2_sf(x, dof) == pytest.approx(stats.chi2.sf(x, dof), rel=1e-14, abs=1e-300)


def test_normal_quantile_equals_scipy() -> None:
    # Two algorithms (AS241 in the standard library, Cephes' ndtri in scipy): equal to a few units in the
    # last place, which is 2.2e-16 relative at most; 1e-15 leaves room for four of them.
    qs = np.concatenate([[0.5, 0.9, 0.95, 0.998, 1 - 1e-9, 1e-300],
                         np.random.default_rng(1).uniform(1e-6, 1 - 1e-6, 2000)])
    np.testing.assert_allclose([norm_ppf(q) for q in qs], stats.norm.ppf(qs), rtol=1e-15, atol=0)
    assert norm_ppf(0.5) == 0.0


def test_the_chernoff_bound_never_says_a_quantile_is_at_most_k_when_it_is_not() -> None:
    """Sound on random binomials (compared with scipy's quantile), and decisive where it is meant to be."""
    rng = np.random.default_rng(2)
    decided = 0
    for _ in range(400):
        n = int(10 ** rng.uniform(0, 7))
        q = float(rng.choice([0.9, 0.99, 0.998, 0.999999]))
        p = np.concatenate([[0.0, 1.0, np.nan, 2 / (n + 1)], 10 ** rng.uniform(-9, 0, 16)])
        exact = stats.binom.ppf(q, n, p)
        for k in (np.zeros(p.size), np.maximum(exact - 1, 0), exact, np.floor(rng.uniform(0, 3) * exact),
                  np.full(p.size, float(n))):
            at_most = binom_quantile_at_most(q, n, p, k)
            assert not (at_most & ~(exact <= k)).any(), (n, q, p[at_most & ~(exact <= k)])
            decided += int((at_most & (k < n)).sum())  # beyond the trivial k >= n
    assert decided > 10_000, decided  # 12,912 of 40,000 on these seeds
    # A rate of 1e-4 in a million rows against a 1% limit; the out-of-range rate 2 / (m + 1) against 20 rows.
    assert binom_quantile_at_most(0.998, 10**6, np.array([1e-4]), np.array([10_000.0]))[0]
    assert binom_quantile_at_most(0.998, 10**6, np.array([2 / (10**6 + 1)]), np.array([20.0]))[0]


@pytest.mark.parametrize("n", [1, 7, 1000, 10**6])
@pytest.mark.parametrize("q", [0.9, 0.998, 0.999999])
def test_the_inverse_fallback_equals_scipy_too(n: int, q: float) -> None:
    from exporter.stats.distributions import _binom_ppf_by_inverse

    np.testing.assert_array_equal(_binom_ppf_by_inverse(q, n, RATES), stats.binom.ppf(q, n, RATES))


def test_a_rate_outside_zero_one_has_no_binomial_quantile_as_in_scipy() -> None:
    rates = np.array([np.nan, -0.5, 2.0, 0.5])
    np.testing.assert_array_equal(binom_ppf(0.998, 100, rates), stats.binom.ppf(0.998, 100, rates))
