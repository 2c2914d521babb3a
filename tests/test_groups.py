"""A batch summarised once per group equals each group's rows summarised alone, for every component."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exporter.config import parse_config
from exporter.model import build_monitor
from exporter.sketch import ONE_GROUP, Groups
from exporter.window_store import _groups
from tests.test_baseline import CASES

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
