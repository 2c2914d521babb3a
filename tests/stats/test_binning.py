"""The table lookup of :class:`exporter.stats.binning.EdgeTable` bins every value exactly as :func:`bin_index`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.baseline.features import build_numeric
from exporter.stats.binning import CELLS, MAX_STEPS, EdgeTable, bin_index, bin_index_sorted
from exporter.values.numbers import numeric_values

DISTRIBUTIONS = {
    "normal": lambda rng, n: rng.normal(size=n),
    "lognormal": lambda rng, n: rng.lognormal(0, 2, n),
    "cauchy": lambda rng, n: rng.standard_cauchy(n),
    "integers": lambda rng, n: rng.integers(0, 50, n).astype(float),
    "half zeros": lambda rng, n: np.where(rng.random(n) < 0.5, 0.0, rng.normal(size=n)),
    "tiny range": lambda rng, n: 1e9 + rng.normal(0, 1e-6, n),
    "huge range": lambda rng, n: rng.normal(0, 1e300, n),
}


@pytest.mark.filterwarnings("ignore:overflow encountered")  # the reference std of "huge range" is inf
@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_table_bins_like_the_exact_rule_on_reference_edges(name: str) -> None:
    rng = np.random.default_rng(1)
    draw = DISTRIBUTIONS[name]
    edges = build_numeric(name, pd.Series(draw(rng, 50_000)), "ks", 0.1).edges
    values = np.concatenate([
        draw(rng, 200_000) * rng.choice([1.0, 1.5, -1.0], 200_000),
        edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf),  # on and beside every edge
        [np.inf, -np.inf, np.nan, 0.0, -0.0, edges[0], edges[-1], np.finfo(float).max, -np.finfo(float).max],
    ])
    table = EdgeTable(edges)
    np.testing.assert_array_equal(table(values), bin_index(edges, values))
    finite = values[np.isfinite(values)]  # the caller vouches for them: no NaN to look for
    np.testing.assert_array_equal(table(finite, finite=True), bin_index(edges, finite))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=60, unique=True),
       st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=64, max_size=300))
def test_table_bins_like_the_exact_rule_on_any_edges(edges: list[float], values: list[float]) -> None:
    ordered = np.sort(np.array(edges))
    if ordered.size == 1:
        ordered = np.array([ordered[0], ordered[0]])
    probe = np.array(values + ordered.tolist() + np.nextafter(ordered, np.inf).tolist())
    np.testing.assert_array_equal(EdgeTable(ordered)(probe), bin_index(ordered, probe))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=40),
       st.lists(st.floats(-2e3, 2e3, allow_nan=False), max_size=300))
def test_sorted_values_are_binned_by_the_exact_rule(edges: list[float], values: list[float]) -> None:
    """The table's cells are binned by placing the edges among them: the rule's answer, repeated edges and
    values on an edge (the last one included) alike."""
    ordered = np.sort(np.array(edges))
    probe = np.sort(np.array(values + edges + np.nextafter(ordered, -np.inf).tolist()))
    np.testing.assert_array_equal(bin_index_sorted(ordered, probe), bin_index(ordered, probe))


@pytest.mark.parametrize("cluster", [3, 40])
def test_unsure_values_are_binned_exactly_however_close_the_edges(cluster: int) -> None:
    """Values in cells an edge crosses: stepped over the few edges of their neighbourhood, or searched
    among all edges when a neighbourhood holds more than MAX_STEPS (edges 1e-12 apart, far inside a cell)."""
    rng = np.random.default_rng(4)
    close = 0.5 + np.arange(cluster) * 1e-12
    edges = np.unique(np.concatenate([np.linspace(0, 1, 100), close]))
    table = EdgeTable(edges)
    assert table.table is not None and (table.steps > MAX_STEPS) == (cluster > MAX_STEPS)
    values = np.concatenate([rng.uniform(-0.1, 1.1, 100_000), edges, np.nextafter(edges, np.inf),
                             np.nextafter(edges, -np.inf), 0.5 + rng.uniform(-1e-5, 1e-5, 10_000)])
    np.testing.assert_array_equal(table(values), bin_index(edges, values))


@pytest.mark.parametrize("beyond", [0.0, 0.05, 0.5, 1.0])
def test_values_beyond_the_edges_are_binned_exactly_however_many(beyond: float) -> None:
    """A batch with few values beyond the reference's edges picks them out among the unsure ones; one with
    many (a drifted feature) sets them over the whole batch: the same bins either way, NaN and infinities
    included."""
    rng = np.random.default_rng(6)
    edges = build_numeric("x", pd.Series(rng.normal(size=50_000)), "ks", 0.1).edges
    n = 40_000
    far = rng.random(n) < beyond
    values = np.where(far, rng.choice([-1.0, 1.0], n) * rng.uniform(5, 50, n), rng.normal(size=n))
    values[rng.random(n) < 0.01] = rng.choice([np.nan, np.inf, -np.inf, edges[0], edges[-1]])
    np.testing.assert_array_equal(EdgeTable(edges)(values), bin_index(edges, values))


def test_most_values_are_answered_by_the_table() -> None:
    rng = np.random.default_rng(2)
    edges = build_numeric("x", pd.Series(rng.normal(size=100_000)), "ks", 0.1).edges
    table = EdgeTable(edges)
    assert table.table is not None and table.table.size == CELLS + 2
    assert (table.table >= 0).mean() > 0.8


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), max_size=50))
def test_float_columns_read_as_every_other_dtype_reads_them(values: list[float]) -> None:
    """NumPy float columns (the usual case) take a short path: same values, missing and invalid masks as
    the general path gives the same numbers held as Python objects or as pandas' nullable floats."""
    floats = pd.Series(values, dtype=np.float64)
    fast = numeric_values(floats)
    for other in (pd.Series(values, dtype=object), floats.astype("Float64")):
        for got, want in zip(fast, numeric_values(other), strict=True):
            np.testing.assert_array_equal(got, want)
    fast[0][:] = 7.0  # the values are the caller's own copy
    assert floats.isna().sum() == int(fast[1].sum())
    np.testing.assert_array_equal(floats.to_numpy(), np.array(values, dtype=np.float64))


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_a_batchs_features_are_binned_by_the_rule_whatever_their_columns_hold() -> None:
    """bin_features bins clean float columns as they are, without masks; every other column (NaN, infinities,
    finite values whose sum overflows, integers, text, a missing column) takes the general path. Each gives
    the rule's bins, its values, its counted violations and histograms of its valid values."""
    from exporter.baseline.reference import Reference
    from exporter.prepare.rows import Rejections, bin_features
    from exporter.values.vocabulary import SchemaCheck

    rng = np.random.default_rng(3)
    n = 5_000
    huge = np.finfo(float).max
    columns = {
        "clean": rng.normal(size=n),
        "nan": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
        "inf": np.where(rng.random(n) < 0.1, np.inf, rng.normal(size=n)),
        "overflowing sum": rng.choice([huge, huge / 2, 0.0], n),
        "ints": rng.integers(-3, 3, n),
        "text": pd.Series(rng.choice(["1.5", "x", "", "-2"], n), dtype=object),
    }
    names = [*columns, "absent"]
    numeric = tuple(build_numeric(name, pd.Series(rng.normal(size=2_000)), "wasserstein", 0.1) for name in names)
    reference = Reference(numeric, (), 2_000)
    issues = Rejections()
    binned = bin_features(pd.DataFrame(columns), reference, issues)
    b = reference.num_bins
    code = binned.num_code
    for i, name in enumerate(names):
        if name == "absent":
            assert (code[i] == b).all()
            assert issues.violations[(SchemaCheck.MISSING_COLUMN, name)] == n
            continue
        values, missing, invalid = numeric_values(pd.Series(columns[name]))
        ok = ~missing & ~invalid
        want = np.where(missing, b, b + 1)
        want[ok] = bin_index(numeric[i].edges, values[ok])
        np.testing.assert_array_equal(code[i], want, err_msg=name)
        np.testing.assert_array_equal(binned.num_values[i][ok], values[ok], err_msg=name)
        histograms = binned.histograms()
        np.testing.assert_array_equal(histograms.num_counts[0, i], np.bincount(want[ok], minlength=b), err_msg=name)
        assert (histograms.num_missing[0, i], histograms.num_invalid[0, i]) == (missing.sum(), invalid.sum())
        with np.errstate(over="ignore"):
            np.testing.assert_array_equal(histograms.num_sums[0, i], np.bincount(want[ok], values[ok], minlength=b))
        assert issues.violations[(SchemaCheck.DATA_TYPE, name)] == int(invalid.sum()), name
