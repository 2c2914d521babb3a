"""Log rotation as production logging does it: every row read once, none lost, none doubled.

A writer appends numbered rows; between reads it rotates its log in one of the styles logrotate,
logging libraries and deployment tools use. The rows read (by id) must be exactly the rows written.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from exporter.sources.files import FileSource


class Writer:
    def __init__(self, folder: Path, name: str = "app.jsonl"):
        self.folder = folder
        self.path = folder / name
        self.next_id = 0
        self.rotations = 0

    def write(self, n: int, path: Path | None = None) -> None:
        with open(path or self.path, "a") as handle:
            for _ in range(n):
                handle.write(json.dumps({"id": self.next_id, "x": self.next_id * 0.5, "pad": "p" * 40}) + "\n")
                self.next_id += 1

    def rotate(self, style: str) -> None:
        self.rotations += 1
        rotated = self.folder / f"{self.path.name}.{self.rotations}"
        if style in ("rename", "rename_in_glob", "gzip"):
            self.path.rename(rotated)
            if style == "gzip":  # compressed at once, as logrotate's compress without delaycompress
                with open(rotated, "rb") as raw, gzip.open(f"{rotated}.gz", "wb") as packed:
                    shutil.copyfileobj(raw, packed)
                rotated.unlink()
            self.path.touch()
        elif style in ("copytruncate", "copytruncate_regrow"):
            shutil.copyfile(self.path, rotated)
            with open(self.path, "r+") as handle:
                handle.truncate(0)
            if style == "copytruncate_regrow":  # grows past the old offset before the next read
                self.write(400)
        elif style == "replace_longer":  # an atomic replacement by a longer copy (rename over it)
            tmp = self.folder / ".tmp"
            shutil.copyfile(self.path, tmp)
            self.write(25, tmp)
            os.replace(tmp, self.path)
        elif style == "symlink":  # the current log is a symlink, repointed to a fresh file
            target = self.folder / "data" / f"app-{self.rotations}.jsonl"
            target.touch()
            link = self.folder / ".link"
            link.symlink_to(target)
            os.replace(link, self.path)
        else:
            raise ValueError(style)


def _read(source: FileSource, seen: Counter[int]) -> None:
    def consume(chunk) -> None:
        if len(chunk.frame):
            seen.update(chunk.frame["id"].astype(int).tolist())

    assert source.drain(consume, None) == []


GLOBS = {"rename": "*.jsonl", "rename_in_glob": "app.jsonl*", "gzip": "*.jsonl", "copytruncate": "*.jsonl",
         "copytruncate_regrow": "*.jsonl", "replace_longer": "*.jsonl", "symlink": "app.jsonl"}


@pytest.mark.parametrize("style", sorted(GLOBS))
def test_every_row_is_read_once_whatever_the_rotation(tmp_path: Path, style: str) -> None:
    writer = Writer(tmp_path)
    if style == "symlink":
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "app-0.jsonl").touch()
        writer.path.symlink_to(tmp_path / "data" / "app-0.jsonl")
    source = FileSource(str(tmp_path / GLOBS[style]))
    seen: Counter[int] = Counter()
    for _ in range(4):
        writer.write(120)
        _read(source, seen)
        writer.write(60)  # written after the last read, before the rotation
        writer.rotate(style)
        writer.write(30)
        _read(source, seen)
    writer.write(10)
    _read(source, seen)
    assert sorted(seen) == list(range(writer.next_id)), "rows lost"
    assert max(seen.values()) == 1, "rows read twice"
    assert source.lost_files == 0 and source.lost_bytes == 0


@pytest.mark.parametrize("style", sorted(GLOBS))
def test_a_rotation_between_two_chunks_of_a_long_read_loses_and_doubles_nothing(tmp_path: Path, style: str) -> None:
    """A long log is read in chunks, the next one read and parsed ahead while the current one is
    ingested: a rotation during that ingest must neither double the chunk read ahead nor lose rows."""
    writer = Writer(tmp_path)
    if style == "symlink":
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "app-0.jsonl").touch()
        writer.path.symlink_to(tmp_path / "data" / "app-0.jsonl")
    source = FileSource(str(tmp_path / GLOBS[style]), max_bytes=3000)  # about 35 rows a chunk
    seen: Counter[int] = Counter()
    chunks = []

    def consume(chunk) -> None:
        chunks.append(len(chunk.frame))
        seen.update(chunk.frame["id"].astype(int).tolist() if len(chunk.frame) else [])
        if len(chunks) in (1, 4):  # the next chunk is being read ahead now
            writer.write(60)
            writer.rotate(style)
            writer.write(30)

    writer.write(400)
    assert source.drain(consume, None) == []
    writer.write(10)
    _read(source, seen)
    assert len(chunks) > 8
    assert sorted(seen) == list(range(writer.next_id)), "rows lost"
    assert max(seen.values()) == 1, "rows read twice"
    assert source.lost_files == 0 and source.lost_bytes == 0


def test_a_rotated_file_that_is_followed_to_its_end_is_not_read_again(tmp_path: Path) -> None:
    writer = Writer(tmp_path)
    source = FileSource(str(tmp_path / "app.jsonl*"))
    seen: Counter[int] = Counter()
    writer.write(50)
    _read(source, seen)
    writer.rotate("rename_in_glob")
    for _ in range(3):
        _read(source, seen)
    assert seen == Counter(range(50))


def _restarted(source: FileSource, pattern: str) -> FileSource:
    """The source of an exporter that restarted from its saved cursors."""
    again = FileSource(pattern)
    again.restore({key: cursor.to_json() for key, cursor in source.cursors.items()})
    return again


def test_truncation_while_the_exporter_is_down_is_followed_through_the_copy(tmp_path: Path) -> None:
    writer = Writer(tmp_path)
    pattern = str(tmp_path / "*.jsonl")
    source = FileSource(pattern)
    seen: Counter[int] = Counter()
    writer.write(200)
    _read(source, seen)
    writer.write(100)
    writer.rotate("copytruncate")
    writer.write(500)  # past the old offset
    source = _restarted(source, pattern)
    _read(source, seen)
    assert sorted(seen) == list(range(writer.next_id)) and max(seen.values()) == 1


def test_truncation_with_no_copy_is_counted_never_silent(tmp_path: Path, caplog) -> None:
    writer = Writer(tmp_path)
    pattern = str(tmp_path / "*.jsonl")
    source = FileSource(pattern)
    seen: Counter[int] = Counter()
    writer.write(200)
    _read(source, seen)
    with open(writer.path, "r+") as handle:  # truncated in place, no copy kept
        handle.truncate(0)
    writer.write(300)
    source = _restarted(source, pattern)
    _read(source, seen)
    assert sorted(seen) == list(range(writer.next_id))  # nothing was unread: only the event is counted
    assert source.lost_files == 1
    assert any("truncated" in r.message for r in caplog.records)


def test_a_file_removed_with_rows_unread_counts_the_bytes(tmp_path: Path) -> None:
    writer = Writer(tmp_path)
    source = FileSource(str(tmp_path / "*.jsonl"), max_bytes=1000)
    seen: Counter[int] = Counter()
    writer.write(100)
    chunks, _ = source.read()  # one bounded read: most of the file is still unread
    for chunk in chunks:
        source.commit(chunk)
    unread = writer.path.stat().st_size - next(iter(source.cursors.values())).offset
    writer.path.unlink()
    _read(source, seen)
    assert source.lost_files == 1 and source.lost_bytes == unread > 0


def test_a_new_file_at_a_reused_inode_is_a_new_file(tmp_path: Path) -> None:
    writer = Writer(tmp_path)
    source = FileSource(str(tmp_path / "*.jsonl"))
    seen: Counter[int] = Counter()
    writer.write(100)
    _read(source, seen)
    writer.path.unlink()
    writer.write(40)  # may well get the same inode back
    _read(source, seen)
    assert sorted(seen) == list(range(140)) and max(seen.values()) == 1


@pytest.mark.integration
@pytest.mark.parametrize("style", ["rename", "gzip", "copytruncate"])
def test_a_live_exporter_under_rotation_counts_every_row_once(tmp_path: Path, style: str) -> None:
    """A real exporter process, updating every 0.2 s, while an application keeps writing: it keeps its
    file open after logrotate renames it (until told to reopen), and rotation happens every 0.3 s."""
    import threading
    import time

    from tests.helpers import model_config, scrape, value_of, write_config
    from tests.processes import free_port, start_exporter, wait_for

    logs = tmp_path / "logs"
    logs.mkdir()
    config = json.loads(model_config(tmp_path).model_dump_json())
    path = write_config(tmp_path / "monitor.yaml", {"interval": "0.2s", "state_dir": str(tmp_path / "state"),
                                                    "models": [config]})
    port = free_port()
    exporter = start_exporter(path, port, tmp_path / "exporter.log")
    written = 0
    stop = threading.Event()
    exporter_has_read = threading.Event()

    def application() -> None:
        nonlocal written
        current = logs / "app.jsonl"
        handle = open(current, "a")  # noqa: SIM115 - reopened on rotation, as an application does
        rotations = 0
        next_rotation = math.inf  # no rotation before the exporter has seen the file (below)
        while not stop.is_set():
            if next_rotation == math.inf and exporter_has_read.is_set():
                next_rotation = time.monotonic() + 0.3
            now = time.time()
            for _ in range(50):
                handle.write(json.dumps({"ts": now, "id": f"r{written}", "age": 40.0, "income": 5e4,
                                         "country": "US", "score": 0.5, "prediction": 1}) + "\n")
                written += 1
            handle.flush()
            if time.monotonic() >= next_rotation:
                rotations += 1
                rotated = logs / f"app.jsonl.{rotations}"
                if style == "copytruncate":
                    shutil.copyfile(current, rotated)
                    handle.truncate(0)
                    handle.seek(0)
                else:
                    current.rename(rotated)
                    handle.write(json.dumps({"ts": now, "id": f"r{written}", "age": 41.0, "income": 5e4,
                                             "country": "US", "score": 0.5, "prediction": 1}) + "\n")
                    written += 1  # written to the renamed file before the application reopens
                    handle.close()
                    handle = open(current, "a")  # noqa: SIM115
                    if style == "gzip":
                        with open(rotated, "rb") as raw, gzip.open(f"{rotated}.gz", "wb") as packed:
                            shutil.copyfileobj(raw, packed)
                        rotated.unlink()
                next_rotation = time.monotonic() + 0.3
            time.sleep(0.02)
        handle.close()

    thread = threading.Thread(target=application)
    try:
        thread.start()
        # Rows that logrotate copied away before the exporter ever saw the file are outside its glob (as
        # for an exporter started after a rotation): rotation starts once the exporter has read the file.
        wait_for(lambda: value_of(scrape(port), "model_predictions_total", model="m") > 0, 30, "the first rows")
        exporter_has_read.set()
        time.sleep(4)
        stop.set()
        thread.join()
        wait_for(lambda: value_of(scrape(port), "model_predictions_total", model="m") == written, 30,
                 f"all {written} rows counted")
        time.sleep(1)  # and no more after that
        samples = scrape(port)
        assert value_of(samples, "model_predictions_total", model="m") == written
        assert value_of(samples, "model_monitor_rejected_rows_total", model="m", reason="duplicate_id") == 0
    finally:
        stop.set()
        thread.join()
        exporter.stop()


def test_rotated_files_already_there_at_first_start_are_read_by_their_log_format(tmp_path: Path) -> None:
    writer = Writer(tmp_path)
    writer.write(30)
    writer.rotate("gzip")  # app.jsonl.1.gz
    writer.write(20)
    writer.rotate("rename_in_glob")  # app.jsonl.2
    writer.write(10)
    source = FileSource(str(tmp_path / "app.jsonl*"))
    seen: Counter[int] = Counter()
    _read(source, seen)
    assert seen == Counter(range(60))
