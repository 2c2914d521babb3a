"""The state journal: an update writes only what changed, and a crash at any byte loses or doubles nothing."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from exporter.monitor.model import ModelMonitor
from exporter.state import store as state
from tests.helpers import model_config, reference_for, rows_at, write_jsonl

NOW = 1_790_000_000.0


def _monitor(tmp: Path) -> ModelMonitor:
    config = model_config(tmp, windows=["5m", "1h", "1d"])
    return ModelMonitor(config, reference_for(config), tmp / "state")


def _write(tmp: Path, step: int, n: int = 50) -> None:
    write_jsonl(tmp / "logs" / "a.jsonl", rows_at(NOW + step, n, seed=step))


def _state(monitor: ModelMonitor) -> dict[str, np.ndarray]:
    parts = {name: unit.state() for name, unit in monitor._stateful().items()}
    arrays = {f"{part}/{name}": a for part, (_, named) in parts.items() for name, a in named.items()}
    return {**arrays, **{f"rings/{k}": v for k, v in monitor.store.state().items()}}


def test_an_update_appends_only_the_blocks_that_changed(tmp_path: Path) -> None:
    monitor = _monitor(tmp_path)
    _write(tmp_path, 0)
    monitor.update(NOW)
    base = monitor.state_store.last_write_bytes
    assert base == monitor.state_file.stat().st_size and not monitor.state_store.journal.exists()
    sizes = []
    for step in range(1, 6):
        _write(tmp_path, step)
        monitor.update(NOW + step)
        sizes.append(monitor.state_store.last_write_bytes)
    # Rows in one bucket of each of 3 windows (of 61 slots each), plus the small parts: a few percent.
    assert max(sizes) < base / 10, (base, sizes)
    assert monitor.state_store.journal.stat().st_size == sum(sizes)


def test_base_and_journal_restore_exactly_what_was_saved(tmp_path: Path) -> None:
    monitor = _monitor(tmp_path)
    for step in range(8):
        _write(tmp_path, step * 40)  # across buckets of the 5m window
        monitor.update(NOW + step * 40)
    restored = _monitor(tmp_path)
    assert restored.counters.errors.get("state", 0) == 0
    saved, back = _state(monitor), _state(restored)
    assert saved.keys() == back.keys()
    for name in saved:
        np.testing.assert_array_equal(back[name], saved[name], err_msg=name)
    assert restored.source.saved() == monitor.source.saved()
    assert restored.counters.predictions_total == monitor.counters.predictions_total == 400


@pytest.mark.parametrize("cut", [1, 7, 100, -1])
def test_a_torn_last_record_loses_that_update_only_and_its_rows_are_read_again(tmp_path: Path, cut: int,
                                                                             caplog: pytest.LogCaptureFixture) -> None:
    monitor = _monitor(tmp_path)
    for step in range(4):
        _write(tmp_path, step)
        monitor.update(NOW + step)
    journal = monitor.state_store.journal
    data = journal.read_bytes()
    last = monitor.state_store.last_write_bytes
    journal.write_bytes(data[: len(data) - last + (cut if cut > 0 else last - 1)])  # the crash, mid-record
    with caplog.at_level(logging.WARNING, logger="exporter.monitor"):
        restored = _monitor(tmp_path)
    # Logged naming the journal and counted, like a damaged base file; the update before it is restored.
    assert restored.counters.errors["state"] == 1
    assert "cut short" in caplog.text and str(journal) in caplog.text
    assert restored.counters.predictions_total == 150
    restored.update(NOW + 4)  # reads the last update's rows again: each row once
    assert restored.counters.predictions_total == 200
    _write(tmp_path, 5)
    restored.update(NOW + 5)  # appends after the cut, so a later restart sees this record
    assert _monitor(tmp_path).counters.predictions_total == 250


def test_a_damaged_record_ends_the_journal_and_is_logged_and_counted(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    monitor = _monitor(tmp_path)
    for step in range(3):
        _write(tmp_path, step)
        monitor.update(NOW + step)
    journal = monitor.state_store.journal
    data = bytearray(journal.read_bytes())
    first = int.from_bytes(data[:8], "little")
    data[8 + first // 2] ^= 0xFF  # inside the first record: neither it nor what follows is applied
    journal.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="exporter.monitor"):
        restored = _monitor(tmp_path)
    assert restored.counters.predictions_total == 50
    assert restored.counters.errors["state"] == 1 and "is damaged" in caplog.text
    restored.update(NOW + 3)
    assert restored.counters.predictions_total == 150


def test_the_journal_is_folded_into_a_new_base_when_it_grows_as_large(tmp_path: Path) -> None:
    monitor = _monitor(tmp_path)
    _write(tmp_path, 0)
    monitor.update(NOW)
    generation = state.load(monitor.state_file)[0]["generation"]
    step = 0
    while monitor.state_store.journal.exists() or step == 0:
        step += 1
        _write(tmp_path, step * 700, 5)  # a new bucket of every window each time: large records
        monitor.update(NOW + step * 700)
        assert step < 200
    assert state.load(monitor.state_file)[0]["generation"] != generation
    assert _monitor(tmp_path).counters.predictions_total == monitor.counters.predictions_total


def test_a_stale_journal_beside_a_new_base_is_ignored(tmp_path: Path) -> None:
    monitor = _monitor(tmp_path)
    for step in range(3):
        _write(tmp_path, step)
        monitor.update(NOW + step)
    stale = monitor.state_store.journal.read_bytes()
    monitor.state_store.reset()  # the next save writes a new base, as after a rebuild
    _write(tmp_path, 3)
    monitor.update(NOW + 3)
    monitor.state_store.journal.write_bytes(stale)  # as if the old journal had survived a crash
    assert _monitor(tmp_path).counters.predictions_total == 200
