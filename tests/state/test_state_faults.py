"""Faults of the state folder, injected for real: a full disk (a small tmpfs), short writes, directories and
damaged files where state files belong, a lock file still empty, signals with scrapes in flight.

Whatever is done to the state folder, the exporter starts (twice in a row: no crash loop), says what it found
naming the file, counts it in ``model_monitor_errors_total{stage="state"}``, keeps saving, and never counts a
logged row twice or loses one that a successful save held.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from exporter.commands.common import lock_state_dir
from exporter.config import Config, ConfigError, parse_config
from exporter.monitor.building import build_monitors
from exporter.monitor.model import ModelMonitor
from exporter.state import files
from exporter.state import store as state
from tests.disks import fill, small_disk
from tests.helpers import model_config, rows_at, scrape, value_of, write_config, write_jsonl
from tests.processes import LOOPBACK, free_port, start_exporter, wait_for

NOW = 1_790_000_000.0


def _config(tmp: Path, state_dir: Path | None = None) -> Config:
    model = json.loads(model_config(tmp).model_dump_json())
    model["windows"] = ["5m", "1h", "1d"]
    return parse_config({"interval": "1s", "state_dir": str(state_dir or tmp / "state"), "models": [model]}, base=tmp)


def _write(tmp: Path, step: int, n: int = 40) -> int:
    """``n`` rows in a log file of their own (so files can be rotated away once read)."""
    write_jsonl(tmp / "logs" / f"part-{step:03d}.jsonl", rows_at(NOW + step, n, seed=step))
    return n


def _start(config: Config) -> ModelMonitor:
    """What ``serve`` does at start: lock the state folder, then build the monitors (which restore)."""
    lock = lock_state_dir(config.state_dir)
    try:
        [monitor] = build_monitors(config)
    finally:
        lock.release()
    return monitor


# --- a full disk ---------------------------------------------------------------------------------------


# A base of this model is about 17 MB, a journal record about 230 KB: the disk fills before a base, before a
# record, or in the middle of one (a short write).
@pytest.mark.parametrize("leave", [0, 20_000, 120_000, 300_000, 700_000])
def test_a_full_disk_fails_saves_loudly_and_loses_no_saved_row(tmp_path: Path, leave: int,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="exporter.monitor")
    folder = tmp_path / "state"
    with small_disk(folder, "40m"):
        config = _config(tmp_path, folder)
        monitor = _start(config)
        written = 0
        for step in range(3):
            written += _write(tmp_path, step)
            assert monitor.update(NOW + step).up
        journal = monitor.state_store.journal
        filler = fill(folder, leave)
        failed = 0
        for step in range(3, 12):  # a stretch of updates while the disk is full
            written += _write(tmp_path, step, 60 + 37 * step)
            snapshot = monitor.update(NOW + step)
            failed += not snapshot.up
            # Never a torn record on disk that a later save would write past, never a temporary file left.
            if journal.exists() and monitor.state_store._on_disk is not None:
                assert journal.stat().st_size == monitor.state_store._journal_end
            assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
        assert failed >= 1 and monitor.counters.errors["state"] == failed
        assert "cannot save state" in caplog.text and "bytes free" in caplog.text
        # Logged once at ERROR with the path, not once an update.
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR and "cannot save state" in r.message]
        assert 1 <= len(errors) <= 3 and str(folder) in errors[0].message

        filler.unlink()  # the disk clears
        for step in range(12, 14):
            written += _write(tmp_path, step)
            assert monitor.update(NOW + step).up
        assert "state saved again" in caplog.text
        for log_file in (tmp_path / "logs").iterdir():
            log_file.unlink()  # read to their end and saved: rotated away
        restored = _start(config)
        assert restored.counters.predictions_total == written
        assert restored.counters.errors["state"] == failed  # saved with the rest


def test_a_state_file_that_never_fits_leaves_no_temporary_file(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "state"
    with small_disk(folder, "64k"):
        config = _config(tmp_path, folder)
        monitor = _start(config)
        for step in range(3):
            _write(tmp_path, step)
            assert not monitor.update(NOW + step).up
            assert [p.name for p in folder.iterdir()] == [files.LOCK_FILE] or not any(
                p.name.endswith(".tmp") for p in folder.iterdir())
        assert monitor.counters.errors["state"] == 3
        assert f"cannot write {monitor.state_file}" in caplog.text
        assert not any(p.name.endswith(".tmp") for p in folder.iterdir())


def test_a_short_write_fails_the_save_whole_and_the_journal_is_cut_back(tmp_path: Path) -> None:
    """A file size limit (RLIMIT_FSIZE, in a child process) makes the kernel write a record in part and then
    refuse the rest, as a disk that fills does: the save must fail whole, the journal end where its last whole
    record ends, and a restart must restore the latest successful save."""
    script = tmp_path / "limited.py"
    script.write_text(f"""
import resource, signal, sys
sys.path.insert(0, {str(Path(__file__).parents[2])!r})
import numpy as np
from pathlib import Path
from exporter.state import files
from exporter.state import store as state
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of the signal
store = state.StateStore(Path({str(tmp_path)!r}) / "s.state.npz")
arrays = {{"a": np.zeros((4, 4096), np.float64)}}  # a base of ~130 KB, records of ~34 KB (one row changed)
store.save({{}}, {{"p": ({{}}, arrays)}})
limit = 100_000
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
last_ok = failed = short = 0
for step in range(1, 20):
    arrays["a"][step % 4] = step
    end = store._journal_end
    try:
        store.save({{"step": step}}, {{"p": ({{}}, arrays)}})
        last_ok = step
    except OSError as error:
        failed += 1
        short += end < limit  # part of this record fitted: written, then cut off again
        assert store.journal.stat().st_size == end == store._journal_end, "a torn record was left"
print(last_ok, failed, short)
""")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=60)
    last_ok, failed, short = map(int, done.stdout.split())
    assert last_ok == 2 and failed == 17 and short == 17
    meta, arrays = state.StateStore(tmp_path / "s.state.npz").load()
    assert meta["step"] == last_ok  # the latest successful save, never an older one
    assert (arrays["p/a"][1] == 1).all() and (arrays["p/a"][2] == 2).all() and (arrays["p/a"][3] == 0).all()


# --- faults of each file of the state folder -----------------------------------------------------------


def _rewrite_base(path: Path, change: Callable[[dict], None]) -> None:
    """Rewrite the base file with its metadata changed, with a valid checksum (a downgrade or a bug)."""
    meta, arrays = state.load(path)
    change(meta)
    path.write_bytes(state._archive(meta, arrays))


def _wrong_shape(meta: dict) -> None:
    meta["parts"]["sources"] = {"predictions": [1, 2, 3], "labels": "?"}
    meta["parts"]["counters"] = {"predictions_total": {"not": "a number"}}


def _journal_record(path: Path, change: Callable[[dict], object]) -> None:
    """Append a journal record of the base's generation with a valid checksum and a changed document (the one
    ``change`` returns, else the base's metadata as ``change`` left it)."""
    meta, _ = state.load(path)
    document = change(meta)
    record = state._archive(meta if document is None else document, {})
    with open(path.with_name(path.name + ".journal"), "ab") as handle:
        handle.write(len(record).to_bytes(8, "little") + record)


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def _as_directory(path: Path) -> None:
    if path.exists():
        path.unlink()
    (path / "inside").mkdir(parents=True)


FAULTS: dict[str, Callable[[Path], None]] = {
    "base missing, journal left": lambda p: p.unlink(),
    "base a directory": _as_directory,
    "base truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 3]),
    "base garbage": lambda p: p.write_bytes(os.urandom(5000)),
    "base empty": lambda p: p.write_bytes(b""),
    "base of another version": lambda p: _rewrite_base(p, lambda m: m.update(version=99)),
    "base of the right checksum, wrong shape": lambda p: (_rewrite_base(p, _wrong_shape),  # (its journal would
                                                          p.with_name(p.name + ".journal").unlink()),  # mend it)
    "journal a directory": lambda p: _as_directory(p.with_name(p.name + ".journal")),
    "journal truncated": lambda p: os.truncate(p.with_name(p.name + ".journal"),
                                               p.with_name(p.name + ".journal").stat().st_size - 5),
    "journal garbage": lambda p: p.with_name(p.name + ".journal").write_bytes(os.urandom(3000)),
    "journal with garbage appended": lambda p: _append(p.with_name(p.name + ".journal"), os.urandom(999)),
    "journal record of the right checksum, wrong shape": lambda p: _journal_record(p, _wrong_shape),
    "journal record of the right checksum, not an object": lambda p: _journal_record(p, lambda m: [m]),
    "lock a directory": lambda p: _as_directory(p.parent / files.LOCK_FILE),
    "lock of garbage": lambda p: (p.parent / files.LOCK_FILE).write_bytes(os.urandom(100)),
    "temporary file left": lambda p: p.with_name(f".{p.name}.1234.tmp").write_bytes(os.urandom(100)),
    "temporary name a directory": lambda p: _as_directory(p.with_name(f".{p.name}.{os.getpid()}.tmp")),
}
#: Faults that are no damage: nothing to report.
HARMLESS = {"lock of garbage", "temporary file left"}
#: Obstacles of the folder, not of a model's state: moved aside with a warning, counted by no model.
MOVED_ASIDE = {"lock a directory", "temporary name a directory"}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_no_state_fault_stops_a_start_or_the_saves_after_it(tmp_path: Path, fault: str,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    config = _config(tmp_path)
    monitor = _start(config)
    written = 0
    for step in range(4):
        written += _write(tmp_path, step)
        assert monitor.update(NOW + step).up
    assert monitor.state_store.journal.stat().st_size > 0  # both files exist: a base and records after it
    FAULTS[fault](monitor.state_file)

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        first = _start(config)
    reported = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    if fault in HARMLESS:
        assert first.counters.errors.get("state", 0) == 0, reported
    elif fault in MOVED_ASIDE:
        assert first.counters.errors.get("state", 0) == 0 and "moved it aside" in reported, reported
    else:
        assert first.counters.errors["state"] == 1, reported
        assert config.state_dir.name in reported, reported  # the message names the file
    # The model goes on from its saved state or from the logs: every row once, and its updates save.
    assert first.counters.predictions_total <= written and first.update(NOW + 4).up
    assert first.counters.predictions_total == written
    written += _write(tmp_path, 4)
    assert first.update(NOW + 5).up and first.counters.predictions_total == written

    second = _start(config)  # no crash loop: the next start is clean and restores the last save
    assert second.counters.predictions_total == written
    assert second.counters.errors.get("state", 0) == first.counters.errors.get("state", 0)
    written += _write(tmp_path, 5)
    assert second.update(NOW + 6).up and second.counters.predictions_total == written
    assert state.StateStore(second.state_file).load() is not None


def test_a_live_exporter_starts_twice_over_a_broken_state_folder(tmp_path: Path) -> None:
    """The crash loop of the issue, run for real: the journal and the lock file are directories."""
    config = _config(tmp_path)
    now = time.time()
    for step in range(3):
        write_jsonl(tmp_path / "logs" / f"live-{step}.jsonl", rows_at(now - 60 + step, 50, seed=step))
    monitor = _start(config)
    assert monitor.update(now).up  # a base
    write_jsonl(tmp_path / "logs" / "live-3.jsonl", rows_at(now - 50, 50, seed=3))
    assert monitor.update(now + 1).up  # a journal record
    _as_directory(monitor.state_store.journal)
    _as_directory(config.state_dir / files.LOCK_FILE)
    path = write_config(tmp_path / "monitor.yaml", {**json.loads(config.model_dump_json()), "interval": "0.2s"})
    for attempt in range(2):
        port = free_port()
        exporter = start_exporter(path, port, tmp_path / f"exporter-{attempt}.log")
        try:
            # The restored count is served at once; the first update's success a moment later (a busy machine).
            samples = wait_for(lambda port=port: (s := scrape(port)) and value_of(
                s, "model_predictions_total", model="m") == 200 and value_of(
                s, "model_monitor_last_run_success", model="m") == 1 and s, 30, "every row once, an update done")
            assert value_of(samples, "model_monitor_errors_total", model="m", stage="state") == 1
            assert value_of(samples, "model_monitor_last_run_success", model="m") == 1
        finally:
            exporter.stop()
        assert exporter.proc.returncode == 0
        assert "Traceback" not in exporter.output()
    first = (tmp_path / "exporter-0.log").read_text()
    assert "damaged state journal" in first and "moved it aside" in first


# --- the lock ------------------------------------------------------------------------------------------


def test_the_lock_message_names_the_holder_or_says_it_is_starting(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    holder = os.open(folder / files.LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # taken, its pid not written yet
        with pytest.raises(ConfigError, match="an exporter that is starting"):
            lock_state_dir(folder)
        os.pwrite(holder, b"4242", 0)
        with pytest.raises(ConfigError, match=r"\(pid 4242\)"):
            lock_state_dir(folder)
    finally:
        os.close(holder)
    lock_state_dir(folder).release()  # free again once its holder has gone


# --- signals -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_serve_quickly_and_cleanly_with_scrapes_open(tmp_path: Path, signum: int) -> None:
    config = _config(tmp_path)
    data = json.loads(config.model_dump_json())
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows_at(now - 30, 300))
    path = write_config(tmp_path / "monitor.yaml", {**data, "interval": "0.2s"})
    for attempt in range(3):
        port = free_port()
        exporter = start_exporter(path, port, tmp_path / f"exporter-{attempt}.log")
        clients = []
        try:
            wait_for(lambda port=port: value_of(scrape(port), "model_predictions_total", model="m") == 300, 30,
                     "the rows")
            for index in range(6):  # kept alive after a scrape, half a request, a request being answered
                client = socket.create_connection((LOOPBACK, port))
                client.sendall([b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /metr",
                                b"GET /report?model=m HTTP/1.1\r\nHost: x\r\n\r\n"][index % 3])
                clients.append(client)
            time.sleep(0.1 * attempt)
            started = time.monotonic()
            os.killpg(exporter.proc.pid, signum)
            exporter.proc.wait(timeout=20)
            took = time.monotonic() - started
        finally:
            for client in clients:
                client.close()
            exporter.stop()
        assert exporter.proc.returncode == 0
        output = exporter.output()
        assert "Traceback" not in output and " ERROR " not in output, output
        assert took < 5, took
    restored = _start(config)
    assert restored.counters.predictions_total == 300 and restored.counters.errors.get("state", 0) == 0


# --- saving resumes after an obstacle ------------------------------------------------------------------


@pytest.mark.parametrize("which", ["base", "journal"])
def test_a_directory_where_a_state_file_is_written_is_moved_aside(tmp_path: Path, which: str,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    config = _config(tmp_path)
    monitor = _start(config)
    _write(tmp_path, 0)
    assert monitor.update(NOW).up
    target = monitor.state_file if which == "base" else monitor.state_store.journal
    if which == "base":
        monitor.state_store.reset()  # the next save writes the base
    _as_directory(target)
    _write(tmp_path, 1)
    assert monitor.update(NOW + 1).up
    assert target.is_file()
    aside = [p for p in config.state_dir.iterdir() if ".moved-aside-" in p.name]
    assert len(aside) == 1 and (aside[0] / "inside").is_dir()
    assert "moved it aside" in caplog.text
    assert _start(config).counters.predictions_total == 80


def test_write_all_raises_enospc_when_no_byte_can_be_written(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "64k") as disk:
        fill(disk, 0)
        fd = os.open(disk / "f", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            with pytest.raises(OSError) as raised:
                files.write_all(fd, np.zeros(100_000, np.uint8).tobytes(), 0)
            assert raised.value.errno == errno.ENOSPC
        finally:
            os.close(fd)
