"""Bucket summaries merge exactly, and windows are merges of their buckets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.baseline.target_spec import build_targets
from exporter.components import FeatureQuality, namespaced
from exporter.components.drift import FeatureDrift
from exporter.components.volume import Volume
from exporter.config import Window
from exporter.prepare.preparer import Preparer
from exporter.summary.sketch import ONE_GROUP, Layout, key, merge
from exporter.windows.ring import Ring
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
    components = [Volume(False), FeatureQuality(reference, config.quality), FeatureDrift(reference, 0.5)]
    layout = Layout({key(c.name, n): spec for c in components for n, spec in c.fields().items()})
    preparer = Preparer(config, reference, build_targets(config, pd.read_parquet(config.reference)), {}, 1e12)
    return config, reference, layout, components, preparer


def _prepare(setup, frame: pd.DataFrame):
    return setup[4].prepare(frame, NOW)[0]


def _summarize(components, batch) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for component in components:
        summary = namespaced(component, component.summarize(batch, ONE_GROUP))
        out.update({name: value[0] for name, value in summary.items()})
    return out


def _summary(setup, rows: list[dict]) -> dict[str, np.ndarray]:
    frame = pd.DataFrame(rows, columns=["ts", "age", "income", "country"])
    return _summarize(setup[3], _prepare(setup, frame))


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
    assert s["volume/rows"] == 4
    age, income = 0, 1
    assert s["quality/num_missing"][age] == 0 and s["quality/num_invalid"][age] == 2  # "abc" and inf
    assert s["drift/num_counts"][age].sum() == 2
    assert s["quality/num_missing"][income] == 1
    counts = s["drift/num_counts"][income]
    assert counts[0] == 1 and counts[-1] == 1  # below and above the reference range
    assert s["quality/num_out_of_range"][income] == 2
    assert s["drift/num_sums"][age].sum() == pytest.approx(71.0)
    assert s["quality/cat_missing"][0] == 1
    cats = s["drift/cat_counts"][0]
    assert cats[-1] == 1 and cats.sum() == 3  # XX unseen
    assert s["quality/cat_new"][0] == 1


def test_ring_window_holds_only_rows_of_its_buckets(setup) -> None:
    layout = setup[2]
    window = Window("5m", 300.0)
    ring = Ring(window, layout, buckets=60)
    rng = np.random.default_rng(0)
    ts = NOW - rng.uniform(0, 900, 5000)
    frame = pd.DataFrame({"ts": ts, "age": rng.normal(40, 10, ts.size), "income": 1.0, "country": "US"})
    batch = _prepare(setup, frame)
    bucket = ring.bucket_of(batch.ts)
    ids = np.unique(bucket)[::-1]  # newest first
    parts = [_summarize(setup[3], batch.take(bucket == b)) for b in ids]
    summary = {name: np.stack([p[name] for p in parts]) for name in parts[0]}
    # Older buckets that map onto a slot already holding a newer one are dropped.
    dropped = ring.add(ids, summary)
    assert dropped > 0
    merged = ring.merged(NOW)
    oldest = ring.oldest_live_bucket(NOW)
    expected = int(((bucket >= oldest) & (bucket <= np.floor(NOW / ring.width))).sum())
    assert merged["volume/rows"] == expected
    # The window spans between W - width and W.
    assert ((ts > NOW - 300 + ring.width).sum()) <= expected <= (ts > NOW - 300).sum()
    # Slide 10 minutes on: every bucket has left the window.
    assert ring.merged(NOW + 600)["volume/rows"] == 0


def test_ring_state_round_trips(setup) -> None:
    layout = setup[2]
    ring = Ring(Window("1h", 3600.0), layout, buckets=60)
    summary = layout.empty((1,))
    summary["volume/rows"][0] = 7
    ring.add(np.array([int(NOW // ring.width)]), summary)
    other = Ring(Window("1h", 3600.0), layout, buckets=60)
    other.restore(ring.state())
    assert other.merged(NOW)["volume/rows"] == 7


def test_ring_adds_many_summaries_as_it_adds_them_one_by_one(setup) -> None:
    layout = setup[2]
    window = Window("5m", 300.0)
    rng = np.random.default_rng(3)
    together, alone = Ring(window, layout, buckets=10), Ring(window, layout, buckets=10)
    for _ in range(5):
        buckets = rng.integers(1000, 1030, 40)  # repeated buckets, and buckets sharing a slot
        summary = {name: rng.integers(0, 9, (40, *spec.shape)).astype(spec.dtype)
                   for name, spec in layout.fields.items()}
        together.add(buckets, summary)
        for bucket in np.unique(buckets):  # oldest first: a newer bucket then evicts an older one's slot
            for position in np.flatnonzero(buckets == bucket):
                alone.add_one(int(bucket), {name: array[position] for name, array in summary.items()})
        np.testing.assert_array_equal(together.ids, alone.ids)
        for name in layout.fields:
            np.testing.assert_array_equal(together.data[name], alone.data[name], err_msg=name)


def test_fields_merged_by_their_maximum_keep_the_largest_in_every_path() -> None:
    """A max field through a ring (many summaries at once, one by one, a window's merge) and a timeline's runs."""
    from exporter.summary.sketch import FieldSpec
    from exporter.windows.timelines import timeline_points

    layout = Layout({"r/rows": FieldSpec((), np.int64), "r/largest": FieldSpec((), np.float64, reduce="max")})
    assert layout.maxima == {"r/largest"}
    rng = np.random.default_rng(5)
    window = Window("5m", 300.0)
    together, alone = Ring(window, layout, buckets=10), Ring(window, layout, buckets=10)
    newest = int(NOW // together.width)
    buckets = rng.integers(newest - 9, newest + 1, 50)
    values = rng.exponential(1.0, 50)
    together.add(buckets, {"r/rows": np.ones(50, dtype=np.int64), "r/largest": values})
    for bucket, value in zip(buckets.tolist(), values.tolist(), strict=True):
        alone.add_one(bucket, {"r/rows": np.int64(1), "r/largest": np.float64(value)})
    for ring in (together, alone):
        for bucket in np.unique(buckets):
            slot = bucket % ring.slots
            assert ring.data["r/largest"][slot] == values[buckets == bucket].max()
        merged = ring.merged(NOW)
        assert merged["r/rows"] == 50 and merged["r/largest"] == values.max()
    buckets_alone = [(float(i), {"r/rows": np.int64(1), "r/largest": np.float64(v)}) for i, v in enumerate(values)]
    points = timeline_points(buckets_alone, "r/rows", 10, maxima=layout.maxima)
    assert [float(p["r/largest"]) for _, p in points] == [values[i:i + 10].max() for i in range(0, 50, 10)]
    assert merge({"r/largest": np.float64(2.0)}, {"r/largest": np.float64(3.0)}, layout.maxima)["r/largest"] == 3.0
