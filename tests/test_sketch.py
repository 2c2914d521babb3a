"""Bucket summaries merge exactly, and windows are merges of their buckets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.config import Window
from exporter.rows import prepare
from exporter.sketch import Layout, data_layout, merge, summarize_data
from exporter.windows import Ring
from tests.helpers import model_config, reference_for

NOW = 1_800_000_000.0

values = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6),
                   st.sampled_from(["12.5", "abc", ""]))
categories = st.one_of(st.none(), st.sampled_from(["US", "DE", "FR", "XX", "1", "1.0"]), st.integers(0, 3))
row = st.fixed_dictionaries({
    "ts": st.floats(NOW - 3000, NOW),
    "age": values,
    "income": values,
    "country": categories,
})


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    tmp: Path = tmp_path_factory.mktemp("sketch")
    config = model_config(tmp)
    reference = reference_for(config)
    return config, reference, Layout(data_layout(reference))


def _summary(setup, rows: list[dict]) -> dict[str, np.ndarray]:
    _config, reference, layout = setup
    frame = pd.DataFrame(rows, columns=["ts", "age", "income", "country"])
    batch, _ = prepare(frame, reference, "ts", frozenset(frame.columns), NOW, 300)
    return summarize_data(layout, batch)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(row, max_size=40), st.lists(row, max_size=40))
def test_merge_of_summaries_equals_summary_of_concatenation(setup, a: list[dict], b: list[dict]) -> None:
    merged = merge(_summary(setup, a), _summary(setup, b))
    together = _summary(setup, a + b)
    assert merged.keys() == together.keys()
    for name in merged:
        np.testing.assert_allclose(merged[name], together[name], rtol=1e-12, atol=1e-9, err_msg=name)


def test_summary_counts_are_exact(setup) -> None:
    rows = [
        {"ts": NOW, "age": 30.0, "income": None, "country": "US"},
        {"ts": NOW, "age": "abc", "income": 1e12, "country": "XX"},
        {"ts": NOW, "age": float("inf"), "income": -5.0, "country": None},
        {"ts": NOW, "age": 41, "income": 20000.0, "country": "DE"},
    ]
    s = _summary(setup, rows)
    assert s["rows"] == 4
    age, income = 0, 1
    assert s["num_missing"][age] == 0 and s["num_invalid"][age] == 2  # "abc" and inf
    assert s["num_counts"][age].sum() == 2
    assert s["num_missing"][income] == 1
    counts = s["num_counts"][income]
    assert counts[0] == 1 and counts[-1] == 1  # below and above the reference range
    assert s["num_sums"][age].sum() == pytest.approx(71.0)
    assert s["num_sumsq"][age] == pytest.approx(30.0**2 + 41.0**2)
    assert s["cat_missing"][0] == 1
    cats = s["cat_counts"][0]
    assert cats[-1] == 1 and cats.sum() == 3  # XX unseen


def test_ring_window_holds_only_rows_of_its_buckets(setup) -> None:
    _config, reference, layout = setup
    window = Window("5m", 300.0)
    ring = Ring(window, layout, buckets=60)
    rng = np.random.default_rng(0)
    ts = NOW - rng.uniform(0, 900, 5000)
    frame = pd.DataFrame({"ts": ts, "age": rng.normal(40, 10, ts.size), "income": 1.0, "country": "US"})
    batch, _ = prepare(frame, reference, "ts", frozenset(frame.columns), NOW, 300)
    bucket = ring.bucket_of(batch.ts)
    ids = np.unique(bucket)[::-1]  # newest first
    parts = [summarize_data(layout, batch.take(bucket == b, with_frame=False)) for b in ids]
    summary = {name: np.stack([p[name] for p in parts]) for name in parts[0]}
    # Older buckets that map onto a slot already holding a newer one are dropped.
    dropped = ring.add(ids, summary)
    assert dropped > 0
    merged = ring.merged(NOW)
    oldest = ring.oldest_live_bucket(NOW)
    expected = int(((bucket >= oldest) & (bucket <= np.floor(NOW / ring.width))).sum())
    assert merged["rows"] == expected
    # The window spans between W - width and W.
    assert ((ts > NOW - 300 + ring.width).sum()) <= expected <= (ts > NOW - 300).sum()
    # Slide 10 minutes on: every bucket has left the window.
    assert ring.merged(NOW + 600)["rows"] == 0


def test_ring_state_round_trips(setup) -> None:
    _config, _reference, layout = setup
    ring = Ring(Window("1h", 3600.0), layout, buckets=60)
    summary = layout.empty((1,))
    summary["rows"][0] = 7
    ring.add(np.array([int(NOW // ring.width)]), summary)
    other = Ring(Window("1h", 3600.0), layout, buckets=60)
    other.restore(ring.state())
    assert other.merged(NOW)["rows"] == 7
