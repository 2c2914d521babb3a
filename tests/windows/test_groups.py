"""A batch summarised once per group equals each group's rows summarised alone, for every component."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exporter.config import parse_config
from exporter.monitor.building import build_monitor
from exporter.summary.sketch import ONE_GROUP, Groups
from exporter.windows.store import _groups
from tests.cases import CASES

NOW = 1_800_000_000.0


@pytest.mark.parametrize("case", sorted(CASES))
def test_grouped_summaries_equal_the_summaries_of_each_group(tmp_path: Path, case: str) -> None:
    make, model = CASES[case]
    rng = np.random.default_rng(7)
    make(rng, 3000).to_parquet(tmp_path / "reference.parquet")
    entry = {"name": case, "reference": str(tmp_path / "reference.parquet"),
             "predictions": {"path": str(tmp_path / "logs/*.jsonl")}, **model}
    monitor = build_monitor(parse_config({"models": [entry]}).models[0], None)
    frame = make(rng, 2000, shift=0.5)
    frame.insert(0, "ts", NOW - rng.uniform(0, 100, len(frame)))
    frame.iloc[::17, 1] = np.nan  # missing values of the first feature
    if case == "binary":
        frame.loc[frame.index[::13], "score"] = np.nan
    batch, _ = monitor.preparer.prepare(frame, NOW)
    count = 7
    of_row = rng.integers(0, count, len(batch))
    of_row[of_row == 3] = 4  # an empty group
    groups = Groups(of_row, count)
    for component in monitor.components:
        for summarize in (component.summarize, component.summarize_labels):
            together = summarize(batch, groups)
            for group in range(count):
                alone = summarize(batch.take(of_row == group), ONE_GROUP)
                assert together.keys() == alone.keys()
                for name, value in alone.items():
                    assert together[name].shape[0] == count, (component.name, name)
                    np.testing.assert_allclose(together[name][group], value[0], rtol=1e-10, atol=1e-9,
                                               err_msg=f"{component.name}/{name}")
                    if group == 3:
                        assert not np.any(together[name][group]), (component.name, name)


@pytest.mark.parametrize("spans", [(3, 1, 1), (600, 50, 3), (5000, 5000, 400)])
def test_rows_are_grouped_by_their_bucket_in_every_ring(spans: tuple[int, ...]) -> None:
    rng = np.random.default_rng(sum(spans))
    n = 20_000
    buckets = [rng.integers(0, span, n) + 1_000_000 * (i + 1) for i, span in enumerate(spans)]
    groups, ring_buckets = _groups(buckets)
    combinations = np.stack(buckets, axis=1)
    expected = np.unique(combinations, axis=0)
    assert groups.count == len(expected) == len(ring_buckets)
    assert groups.of_row is not None
    # Same combination, same group; each group's buckets are those of its rows.
    np.testing.assert_array_equal(np.array(ring_buckets)[groups.of_row], combinations)
    assert sorted(map(tuple, ring_buckets)) == sorted(map(tuple, expected.tolist()))


def test_rows_of_one_bucket_in_every_ring_are_one_group() -> None:
    groups, ring_buckets = _groups([np.full(10, 5), np.full(10, 2)])
    assert groups is ONE_GROUP and ring_buckets == [[5, 2]]


@pytest.mark.parametrize("case", sorted(CASES))
def test_windows_read_once_equal_windows_kept_bucket_by_bucket(tmp_path: Path, case: str) -> None:
    """``check`` puts rows in each window's newest bucket (``once``): every number it prints is the same as
    with the rows in their own buckets, on a log out of time order spanning both windows, older rows and rows
    stamped ahead of the clock."""
    from exporter.publish.exposition import build_families, families_as_json
    from tests.helpers import VOLATILE

    make, model = CASES[case]
    rng = np.random.default_rng(11)
    make(rng, 3000).to_parquet(tmp_path / "reference.parquet")
    current = make(rng, 4000, shift=0.4)
    current.insert(0, "ts", NOW - rng.uniform(-120, 5000, len(current)))
    (tmp_path / "logs").mkdir()
    current.to_parquet(tmp_path / "logs" / "current.parquet")
    entry = {"name": case, "reference": str(tmp_path / "reference.parquet"),
             "predictions": {"path": str(tmp_path / "logs/*.parquet")}, "windows": ["5m", "1h"],
             "min_window_rows": 20, **model}

    def samples(once: bool) -> dict[str, object]:
        monitor = build_monitor(parse_config({"models": [entry]}).models[0], None)
        snapshot = monitor.update(now=NOW, persist=False, budget=None, once=once)
        return {f"{s['name']}{sorted(s['labels'].items())}": s["value"]
                for s in families_as_json(build_families([snapshot])) if s["name"] not in VOLATILE}

    kept, once = samples(False), samples(True)
    assert kept.keys() == once.keys() and len(kept) > 80
    numbers = [k for k, v in kept.items() if isinstance(v, float)]
    # Sums of the same values in another order: equal to the last few bits.
    assert [once[k] for k in numbers] == pytest.approx([kept[k] for k in numbers], rel=1e-12, abs=1e-12)
    assert {k: v for k, v in once.items() if k not in numbers} == {k: v for k, v in kept.items() if k not in numbers}


def test_rows_added_to_windows_read_once_at_another_instant_are_refused(tmp_path: Path) -> None:
    make, model = CASES["regression"]
    make(np.random.default_rng(1), 500).to_parquet(tmp_path / "reference.parquet")
    entry = {"name": "r", "reference": str(tmp_path / "reference.parquet"),
             "predictions": {"path": str(tmp_path / "logs/*.jsonl")}, **model}
    monitor = build_monitor(parse_config({"models": [entry]}).models[0], None)
    with pytest.raises(ValueError, match="never saved"):
        monitor.update(now=NOW, persist=True, once=True)
    monitor.update(now=NOW, persist=False, budget=None, once=True)
    frame = make(np.random.default_rng(2), 10)
    frame.insert(0, "ts", NOW - 1)
    with pytest.raises(ValueError, match="read once"):
        monitor.ingest(frame, NOW + 1)


@pytest.mark.parametrize("once", [False, True])
def test_rows_stamped_ahead_of_the_clock_count_now_and_take_no_live_bucket_s_place(tmp_path: Path, once: bool) -> None:
    """A row up to max_clock_skew ahead goes to the newest bucket. In its own bucket it took the ring slot of
    a live bucket of the 5m window (61 slots of 5 s), and the window lost that bucket's rows."""
    import pandas as pd

    make, model = CASES["regression"]
    rng = np.random.default_rng(5)
    make(rng, 1000).to_parquet(tmp_path / "reference.parquet")
    (tmp_path / "logs").mkdir()
    entry = {"name": "r", "reference": str(tmp_path / "reference.parquet"),
             "predictions": {"path": str(tmp_path / "logs/*.parquet")}, "windows": ["5m", "1h"], **model}
    monitor = build_monitor(parse_config({"models": [entry]}).models[0], None)
    live = make(rng, 600)
    live.insert(0, "ts", NOW - np.linspace(1, 280, 600))
    ahead = make(rng, 50)
    ahead.insert(0, "ts", NOW + np.linspace(10, 240, 50))  # within the default max_clock_skew of 5m
    pd.concat([live, ahead]).to_parquet(tmp_path / "logs" / "a.parquet")
    snapshot = monitor.update(now=NOW, persist=False, budget=None, once=once)
    rows = {w.window: w.rows for w in snapshot.windows if not w.segment}
    assert rows == {"5m": 650, "1h": 650}
    if not once:  # a minute on, the rows from ahead are still in the window; the live ones past 4 minutes old not
        later = {w.window: w.rows for w in monitor.update(now=NOW + 60, persist=False).windows if not w.segment}
        assert later["1h"] == 650
        # The 5m window spans between 5m less a bucket (5 s) and 5m.
        assert (live["ts"] > NOW + 60 - 295).sum() <= later["5m"] - 50 <= (live["ts"] > NOW + 60 - 300).sum()
