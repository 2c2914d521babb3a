"""Duplicate ids: lookups find what a plain scan finds, batch after batch, across a restore."""

from __future__ import annotations

import numpy as np
import pytest

from exporter.prepare.dedup import RecentIds


def _scan(ids: RecentIds, hashes: np.ndarray, present: np.ndarray) -> np.ndarray:
    """The definition: present, and seen among the remembered hashes or earlier in the batch."""
    remembered = set(ids.hashes[: ids.count].tolist())
    seen_in_batch: set[int] = set()
    out = np.zeros(hashes.size, dtype=bool)
    for i, (value, here) in enumerate(zip(hashes.tolist(), present.tolist(), strict=True)):
        if not here:
            continue
        out[i] = value in remembered or value in seen_in_batch
        seen_in_batch.add(value)
    return out


@pytest.mark.parametrize("size", [1, 7, 100])
def test_lookups_find_what_a_scan_finds_batch_after_batch(size: int) -> None:
    rng = np.random.default_rng(size)
    ids = RecentIds(size)
    for step in range(60):
        n = int(rng.integers(0, 3 * size + 5))
        # Few distinct values: repeats within a batch, against the ring, and equal hashes evicted.
        hashes = rng.integers(1, 2 * size + 4, n).astype(np.uint64)  # 0 stands for "no id" in find
        present = rng.random(n) > 0.1
        expected = _scan(ids, hashes, present)
        if step % 3 == 0:
            np.testing.assert_array_equal(ids.find(hashes, present), expected)
            ids.remember(hashes[present])  # as the pushdown path does: repeats remembered too
        else:
            np.testing.assert_array_equal(ids.duplicates(hashes, present), expected)
        if step == 30:
            meta, arrays = ids.state()
            restored = RecentIds(size)
            restored.restore(meta, {k: v.copy() for k, v in arrays.items()})
            np.testing.assert_array_equal(restored.hashes[: restored.count], ids.hashes[: ids.count])
            ids = restored


def test_no_memory_finds_only_repeats_within_nothing() -> None:
    ids = RecentIds(0)
    assert not ids.duplicates(np.array([1, 1], dtype=np.uint64), np.array([True, True])).any()


def test_id_hashes_are_those_saved_states_hold(tmp_path) -> None:
    """Hashes of ids (computed without factorizing first) are pandas' hashes of the ids' text, as
    before: the recent ids of a saved state still match after an upgrade. (A missing id hashes
    otherwise now, but it is never looked up nor remembered.)"""
    import pandas as pd

    from exporter.baseline.target_spec import build_targets
    from exporter.prepare.preparer import Preparer
    from tests.helpers import model_config, reference_for

    config = model_config(tmp_path)
    preparer = Preparer(config, reference_for(config), build_targets(config, pd.read_parquet(config.reference)),
                        {}, 1e12)
    ids = pd.Series(["a", "b", "a", None, 7, 7.0, "7", "c" * 300], dtype=object)
    frame = pd.DataFrame({"ts": 1_800_000_000.0, "id": ids, "age": 40.0})
    batch, _ = preparer.prepare(frame, 1_800_000_000.0)
    expected = pd.util.hash_pandas_object(ids.astype(str), index=False).to_numpy()
    assert batch.id_present.tolist() == [True, True, True, False, True, True, True, True]
    np.testing.assert_array_equal(batch.id_hashes[batch.id_present], expected[batch.id_present])
    assert batch.id_hashes[0] == batch.id_hashes[2] and batch.id_hashes[4] != batch.id_hashes[0]
