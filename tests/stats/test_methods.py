"""Every registered drift method, enumerated from the registry: exact against its peers' definition where the
statistic is a function of the binned counts, within the documented bound where it reads values from the fine
bins, calibrated (few false flags on stable data, a real shift found), named by the configuration, listed in the
docs and exported under its canonical name.

A new method gets every test here by being registered; only its reference implementation (the peers' own
definition, computed by scipy on the raw values) and, for a fine-bin method, its documented bound are added below,
and a test fails until they are.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from exporter.baseline import drift
from exporter.baseline.features import build_categorical, build_numeric
from exporter.baseline.methods import DriftSetting, calibrated
from exporter.cli import main
from exporter.config import ConfigError, parse_config
from exporter.stats.binning import bin_index
from exporter.stats.methods import DriftMethod, all_methods, canonical, get
from exporter.stats.methods.base import EMPTY_BIN_FLOOR
from tests.helpers import write_config

ROOT = Path(__file__).resolve().parents[2]
METHODS = all_methods()
NAMES = [m.name for m in METHODS]


# --- the peers' definitions, on raw values ----------------------------------------------------------------------

def _shares(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Counts and shares of both sides over the values either holds (as Evidently's value_counts over the keys)."""
    keys = np.union1d(np.unique(reference), np.unique(current))
    ref = np.array([np.sum(reference == k) for k in keys], dtype=np.float64)
    cur = np.array([np.sum(current == k) for k in keys], dtype=np.float64)
    return ref, cur, ref / ref.sum(), cur / cur.sum()


def _evidently_filled(shares: np.ndarray) -> np.ndarray:
    """Evidently's ``get_binned_data(feel_zeroes=True)``."""
    shares = shares.copy()
    smallest = shares[shares != 0].min()
    np.place(shares, shares == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return shares


def _psi(r: np.ndarray, c: np.ndarray) -> float:
    _, _, p, q = _shares(r, c)
    p, q = np.maximum(p, EMPTY_BIN_FLOOR), np.maximum(q, EMPTY_BIN_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def _expected(r: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The window's counts and the counts the reference's shares (floored at 1e-4) expect of it."""
    _, cur, p, _ = _shares(r, c)
    p = np.maximum(p, EMPTY_BIN_FLOOR)
    return cur, p / p.sum() * cur.sum()


def _hellinger(r: np.ndarray, c: np.ndarray) -> float:
    """Evidently's categorical form, ``sqrt(1 - sum(sqrt(p q)))``."""
    _, _, p, q = _shares(r, c)
    return math.sqrt(1 - float(np.clip(np.sum(np.sqrt(p * q)), 0, 1)))


def _l_infinity(r: np.ndarray, c: np.ndarray) -> float:
    """NannyML's ``LInfinityDistance._calculate``."""
    reference = pd.Series(r).value_counts(normalize=True)
    return float(reference.sub(pd.Series(c).value_counts(normalize=True), fill_value=0).abs().max())


def _z(r: np.ndarray, c: np.ndarray) -> float:
    """Evidently's ``proportions_diff_z_stat_ind`` and two-sided ``proportions_diff_z_test``."""
    key = sorted(set(r.tolist()) | set(c.tolist()))[0]
    ref, cur = (r != key).astype(float), (c != key).astype(float)
    n1, n2 = len(ref), len(cur)
    p1, p2 = ref.sum() / n1, cur.sum() / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return float(2 * stats.norm.sf(abs(z)))


def _fisher(r: np.ndarray, c: np.ndarray) -> float:
    ref, cur, _, _ = _shares(r, c)
    return float(stats.fisher_exact(np.array([ref, cur]).astype(int)).pvalue)


def _cramer_von_mises(r: np.ndarray, c: np.ndarray) -> float:
    """scipy's ``cramervonmises_2samp`` without ties; with ties Anderson's CDF form, summed over the distinct values
    weighted by their ties (scipy's rank form then measures the ties: see docs/concepts/drift.md), and scipy's
    asymptotic p-value of it."""
    from scipy._lib._array_api import array_namespace
    from scipy.stats._hypotests import _pval_cvm_2samp_asymptotic

    values, index = np.unique(np.concatenate([r, c]), return_inverse=True)
    if values.size == r.size + c.size:
        return float(stats.cramervonmises_2samp(r, c, method="asymptotic").pvalue)
    nx, ny = r.size, c.size
    a = np.bincount(index[:nx], minlength=values.size)
    b = np.bincount(index[nx:], minlength=values.size)
    gap = np.cumsum(a) / nx - np.cumsum(b) / ny
    t = nx * ny / (nx + ny) ** 2 * float(np.sum((a + b) * gap ** 2))
    statistic = np.asarray(t)
    return float(_pval_cvm_2samp_asymptotic(statistic, nx + ny, nx, ny, nx * ny, xp=array_namespace(statistic)))


def _anderson(r: np.ndarray, c: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "p-value capped": the cap is the definition
        return float(stats.anderson_ksamp([r, c], variant="midrank").pvalue)


#: Each method's peers' definition on raw values: the score the exporter must reproduce.
REFERENCE: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "ks": lambda r, c: float(stats.ks_2samp(r, c).statistic),
    "psi": _psi,
    "js": lambda r, c: float(jensenshannon(*_shares(r, c)[2:])),
    "wasserstein": lambda r, c: float(stats.wasserstein_distance(r, c) / np.std(r)),
    "chi2": lambda r, c: float(stats.chisquare(*_expected(r, c)).pvalue),
    "hellinger": _hellinger,
    "l_infinity": _l_infinity,
    "tvd": lambda r, c: float(0.5 * np.abs(np.subtract(*_shares(r, c)[2:])).sum()),
    "kl_div": lambda r, c: float(stats.entropy(*(_evidently_filled(s) for s in _shares(r, c)[2:]))),
    "z": _z,
    "fisher_exact": _fisher,
    "g_test": lambda r, c: float(stats.power_divergence(*_expected(r, c), lambda_="log-likelihood").pvalue),
    "t_test": lambda r, c: float(stats.ttest_ind(r, c).pvalue),
    "mannw": lambda r, c: float(stats.mannwhitneyu(r, c, alternative="two-sided", method="asymptotic").pvalue),
    "cramer_von_mises": _cramer_von_mises,
    "anderson": _anderson,
    "energy_distance": lambda r, c: float(stats.energy_distance(r, c) / np.std(r)),
}

#: How far a fine-bin method may be from its definition on the raw values where a bin holds many values: on
#: continuous data, and on integers of more values than bins (a p-value's absolute difference for a test; a
#: distance's, in reference standard deviations). The docs (docs/concepts/drift.md) state the same bounds.
FINE_BIN_BOUNDS = {"ks": (0.0065, 0.0065), "wasserstein": (0.035, 0.035), "t_test": (0.04, 0.02),
                   "mannw": (0.015, 0.015), "cramer_von_mises": (0.02, 0.02), "anderson": (0.01, 0.015),
                   "energy_distance": (0.004, 0.015)}


def test_every_method_has_its_peers_definition_and_a_fine_bin_bound() -> None:
    assert set(REFERENCE) == set(NAMES)
    assert set(FINE_BIN_BOUNDS) == {m.name for m in METHODS if m.fine}


# --- exactness --------------------------------------------------------------------------------------------------

def _numeric_score(method: str, reference: np.ndarray, current: np.ndarray) -> float:
    feature = build_numeric("x", pd.Series(reference), method, 0.0)
    index = bin_index(feature.edges, current)
    counts = np.bincount(index, minlength=feature.n_bins)
    sums = np.bincount(index, weights=current, minlength=feature.n_bins)
    return drift.numeric_score(feature, counts, sums)


def _categorical_score(method: str, reference: np.ndarray, current: np.ndarray) -> float:
    feature = build_categorical("c", pd.Series(reference), method, 0.0, max_categories=100)
    slot = {c: i for i, c in enumerate(feature.categories)}
    counts = np.bincount([slot.get(v, feature.unseen_slot) for v in current], minlength=feature.n_bins)
    return drift.categorical_score(feature, counts)


def _categories(method: DriftMethod, rng: np.random.Generator, shift: bool) -> tuple[np.ndarray, np.ndarray]:
    if method.binary:
        return rng.choice(["no", "yes"], 3000, p=[0.7, 0.3]), rng.choice(["no", "yes"], 400, p=[0.62, 0.38])
    values = np.array(list("abcdef"))
    reference = rng.choice(values, 3000, p=[0.35, 0.25, 0.15, 0.12, 0.08, 0.05])
    current = rng.choice(np.append(values, "new") if shift else values, 400,
                         p=[0.3, 0.25, 0.15, 0.12, 0.08, 0.05, 0.05] if shift else
                         [0.35, 0.25, 0.15, 0.12, 0.08, 0.05])
    return reference, current


@pytest.mark.parametrize("shift", [False, True])
@pytest.mark.parametrize("name", [m.name for m in METHODS if m.allows("categorical")])
def test_categorical_scores_equal_the_peers_definition(name: str, shift: bool) -> None:
    """On categories (a value the reference never had included), every statistic is a function of the counts."""
    method = get(name)
    reference, current = _categories(method, np.random.default_rng(1), shift)
    ours, theirs = _categorical_score(name, reference, current), REFERENCE[name](reference, current)
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-14), (ours, theirs)


def _discrete(method: DriftMethod, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if method.binary:
        return rng.binomial(1, 0.3, 3000).astype(float), rng.binomial(1, 0.38, 400).astype(float)
    reference = rng.poisson(3.0, 3000).clip(0, 8).astype(float)
    return reference, rng.poisson(3.4, 400).clip(0, 8).astype(float)


@pytest.mark.parametrize("name", [m.name for m in METHODS if m.allows("numeric")])
def test_numeric_scores_equal_the_peers_definition_on_discrete_values(name: str) -> None:
    """A feature of few values has a bin per value: counts, ranks, ties, means and variances are the raw values'."""
    reference, current = _discrete(get(name), np.random.default_rng(2))
    ours, theirs = _numeric_score(name, reference, current), REFERENCE[name](reference, current)
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-14), (ours, theirs)


#: Skewed, heavy-tailed and light-tailed populations, and integers with many values (more than a bin each).
POPULATIONS: dict[str, Callable[[np.random.Generator, int, float], np.ndarray]] = {
    "normal": lambda rng, n, s: rng.normal(s, 1.0, n),
    "lognormal": lambda rng, n, s: rng.lognormal(s, 1.5, n),
    "pareto": lambda rng, n, s: (rng.pareto(1.5, n) + 1) * (1 + s),
    "exponential": lambda rng, n, s: rng.exponential(1 + s, n),
    "integers": lambda rng, n, s: rng.poisson(300 * (1 + s), n).astype(float),
}


@pytest.mark.parametrize("population", list(POPULATIONS))
@pytest.mark.parametrize("name", sorted(FINE_BIN_BOUNDS))
def test_fine_bin_methods_are_within_their_documented_bound(name: str, population: str) -> None:
    """Values and ranks read from the fine bins: within the bound the docs state, at a few sizes and shifts."""
    rng = np.random.default_rng(3)
    draw = POPULATIONS[population]
    worst = 0.0
    for n_ref, n_cur, shift in ((20_000, 500, 0.0), (20_000, 5000, 0.05), (5000, 2000, 0.2), (2000, 300, 0.0)):
        reference, current = draw(rng, n_ref, 0.0), draw(rng, n_cur, shift)
        worst = max(worst, abs(_numeric_score(name, reference, current) - REFERENCE[name](reference, current)))
    assert worst <= FINE_BIN_BOUNDS[name][population == "integers"], worst


def test_every_statistic_has_a_vectorised_form_equal_to_it() -> None:
    """Calibration and the reference's chunk noise score many windows at once: the same numbers as one at a time."""
    rng = np.random.default_rng(4)
    for method in METHODS:
        if method.allows("numeric"):
            reference, _ = _discrete(method, rng) if method.binary else (rng.lognormal(0, 1, 3000), None)
            feature = build_numeric("x", pd.Series(reference), method.name, 0.0)
            windows = [rng.choice(reference, 200) * (1 + 0.1 * k) for k in range(3)]
            index = [bin_index(feature.edges, w) for w in windows]
            counts = np.array([np.bincount(i, minlength=feature.n_bins) for i in index])
            sums = np.array([np.bincount(i, weights=w, minlength=feature.n_bins)
                             for i, w in zip(index, windows, strict=True)])
            window, window_sums = drift.window_bins(feature, counts, sums)
            rows = method.rows(feature.method_bins, window, window_sums)
            one = [drift.numeric_score(feature, counts[k], sums[k]) for k in range(3)]
            np.testing.assert_allclose(rows, one, rtol=1e-12, atol=1e-15, err_msg=method.name)


# --- calibration ------------------------------------------------------------------------------------------------

ALPHA, WINDOWS = 0.002, 200


def _feature(method: DriftMethod, kind: str, reference: np.ndarray):
    if kind == "numeric":
        feature = build_numeric("x", pd.Series(reference), method.name, 0.0)
    else:
        feature = build_categorical("c", pd.Series(reference), method.name, 0.0, max_categories=100)
    floor = ALPHA if method.is_test else method.default_min_effect
    return calibrated(feature, DriftSetting(method.name, floor, True, ALPHA, method.default_min_effect))


def _verdict(feature, values: np.ndarray) -> bool:
    if hasattr(feature, "edges"):
        index = bin_index(feature.edges, values)
        counts = np.bincount(index, minlength=feature.n_bins)
        score = drift.numeric_score(feature, counts, np.bincount(index, weights=values, minlength=feature.n_bins))
    else:
        slot = {c: i for i, c in enumerate(feature.categories)}
        counts = np.bincount([slot.get(v, feature.unseen_slot) for v in values], minlength=feature.n_bins)
        score = drift.categorical_score(feature, counts)
    return drift.judge(feature, score, len(values), counts)[1]


def _populations(method: DriftMethod, kind: str) -> tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]:
    """(stable, shifted) draws of ``n`` values for a method of that kind."""
    if method.binary:
        values = np.array([0.0, 1.0]) if kind == "numeric" else np.array(["no", "yes"])
        return (lambda rng, n: rng.choice(values, n, p=[0.7, 0.3]),
                lambda rng, n: rng.choice(values, n, p=[0.55, 0.45]))
    if kind == "numeric":
        return lambda rng, n: rng.normal(0, 1, n), lambda rng, n: rng.normal(0.51, 1, n)  # a KS of 0.2
    weights = np.array([0.35, 0.25, 0.15, 0.12, 0.08, 0.05])
    shifted = np.array([0.23, 0.19, 0.15, 0.152, 0.148, 0.13])  # a JS distance of 0.15
    values = np.array(list("abcdef"))
    return (lambda rng, n: rng.choice(values, n, p=weights), lambda rng, n: rng.choice(values, n, p=shifted))


@pytest.mark.parametrize(("name", "kind"), [(m.name, k) for m in METHODS for k in sorted(m.kinds)])
def test_calibrated_methods_rarely_flag_stable_windows_and_find_a_shift(name: str, kind: str) -> None:
    method = get(name)
    stable, shifted = _populations(method, kind)
    rng = np.random.default_rng(5)
    feature = _feature(method, kind, stable(rng, 20_000))
    for n in (50, 300, 3000):
        flagged = sum(_verdict(feature, stable(rng, n)) for _ in range(WINDOWS))
        # alpha 0.2%: 1% of 200 windows is 2.
        assert flagged <= 3, (n, flagged)
    found = sum(_verdict(feature, shifted(rng, 1000)) for _ in range(50))
    assert found >= 48, found


# --- configuration, docs, exposition ----------------------------------------------------------------------------

def _model(drift_config: dict) -> dict:
    return {"models": [{"name": "m", "task": "binary_classification", "reference": str(REFERENCE_FILE),
                        "predictions": {"path": "logs/*.jsonl"}, "drift": drift_config}]}


#: Any existing file: the configuration checks that a reference exists, not what it holds.
REFERENCE_FILE = Path(__file__)


@pytest.mark.parametrize("name", NAMES)
def test_the_configuration_takes_every_name_and_alias_of_a_method(name: str) -> None:
    method = get(name)
    for alias in (method.name, *method.aliases, method.name.upper()):
        key = "method" if method.allows("numeric") else "categorical_method"
        config = parse_config(_model({key: alias, "features": {"x": {"method": alias}},
                                      "min_effect": {alias: 0.2}}))
        drift_config = config.models[0].drift
        assert getattr(drift_config, key) == name and drift_config.features["x"].method == name
        assert drift_config.min_effect[name] == 0.2
    assert canonical(name) == name


def test_an_unknown_method_is_refused_with_the_registered_names() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(_model({"method": "bhattacharyya"}))
    for name in NAMES:
        assert name in str(error.value)


def test_a_method_for_the_other_kind_or_too_many_values_is_a_config_error(tmp_path: Path) -> None:
    from exporter.baseline.reference import build_reference

    frame = pd.DataFrame({"x": np.arange(100.0), "c": list("abc") * 33 + ["a"]})
    for drift_config, message in (({"method": "l_infinity"}, "only defined for categorical features"),
                                  ({"features": {"c": {"method": "t_test"}}}, "only defined for numeric features"),
                                  ({"features": {"c": {"method": "z"}}}, "has 3 values")):
        data = _model(drift_config)
        data["models"][0]["features"] = {"numeric": ["x"], "categorical": ["c"]}
        with pytest.raises(ConfigError, match=message):
            build_reference(parse_config(data).models[0], frame)


def test_the_docs_list_every_method_with_its_names() -> None:
    text = (ROOT / "docs" / "concepts" / "drift.md").read_text()
    rows: dict[str, str] = {}
    for match in re.finditer(r"^\| `([a-z_0-9]+)` \|.*$", text, re.M):  # the method table, and the peers' table
        rows[match.group(1)] = rows.get(match.group(1), "") + match.group(0)
    for method in METHODS:
        assert method.name in rows, method.name
        for alias in method.aliases:
            assert f"`{alias}`" in rows[method.name], (method.name, alias)


def test_check_exports_each_feature_s_score_under_its_method_s_canonical_name(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(6)
    n = 3000
    numeric = [m for m in METHODS if m.allows("numeric") and not m.binary]
    categorical = [m for m in METHODS if m.allows("categorical") and not m.binary]
    binary = [m for m in METHODS if m.binary]
    columns: dict[str, np.ndarray] = {}
    overrides: dict[str, dict[str, str]] = {}
    for m in numeric:
        columns[f"n_{m.name}"] = rng.lognormal(0, 1, n)
        overrides[f"n_{m.name}"] = {"method": (m.aliases or (m.name,))[0]}
    for m in categorical:
        columns[f"c_{m.name}"] = rng.choice(list("abcd"), n)
        overrides[f"c_{m.name}"] = {"method": m.name}
    for m in binary:
        columns[f"b_{m.name}"] = rng.choice(["yes", "no"], n)
        overrides[f"b_{m.name}"] = {"method": m.name}
    frame = pd.DataFrame(columns)
    frame.assign(score=rng.random(n), prediction=rng.integers(0, 2, n)).to_parquet(tmp_path / "reference.parquet")
    now = 1_800_000_000.0
    (tmp_path / "logs").mkdir()
    shifted = frame.sample(500, random_state=1).reset_index(drop=True)
    rows = [{"ts": now - 30, "score": 0.5, "prediction": 1,
             **{k: (v * 1.5 if k.startswith("n_") else v) for k, v in row.items()}}
            for row in shifted.to_dict("records")]
    (tmp_path / "logs" / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = write_config(tmp_path / "monitor.yaml", {"models": [{
        "name": "m", "task": "binary_classification", "reference": "reference.parquet",
        "predictions": {"path": "logs/*.jsonl", "timestamp_column": "ts"}, "prediction_column": "prediction",
        "score_column": "score", "windows": ["5m"],
        "features": {"numeric": [c for c in columns if c.startswith("n_")],
                     "categorical": [c for c in columns if not c.startswith("n_")]},
        "drift": {"features": overrides}}]})
    assert main(["--log-level", "ERROR", "check", "--config", str(config), "--now", str(now)]) == 0
    samples = json.loads(capsys.readouterr().out)["metrics"]
    scores = {s["labels"]["feature"]: (s["labels"]["method"], s["value"]) for s in samples
              if s["name"] == "model_feature_drift_score"}
    drifted = {s["labels"]["feature"]: s["value"] for s in samples if s["name"] == "model_feature_drifted"}
    for feature in columns:
        method = feature.split("_", 1)[1]
        assert scores[feature][0] == method
        # Every numeric feature was scaled by 1.5: each method sees it; the categories did not move.
        assert drifted[feature] == float(feature.startswith("n_")), (feature, scores[feature])
