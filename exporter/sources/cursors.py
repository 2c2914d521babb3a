"""What a file source remembers and hands over: each file's cursor and identity, and the chunks of rows read.

A file is identified by its content, not its path: its device and inode, and a fingerprint of its first
bytes (up to :data:`FINGERPRINT_BYTES`), as Filebeat and Fluent Bit identify files.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import pandas as pd

#: Bytes at the start of a file that identify it (Filebeat's default too).
FINGERPRINT_BYTES = 1024


@dataclass
class Cursor:
    inode: int
    offset: int = 0
    size: int = 0
    mtime_ns: int = 0
    header: str | None = None  # CSV header line
    skipping: bool = False  # inside an over-long line, until its newline
    #: Where the file was last seen (resolved path), its device, and the fingerprint of its first
    #: ``fp_len`` bytes (the decompressed ones for a .gz file).
    path: str = ""
    device: int = 0
    fp: str = ""
    fp_len: int = 0
    #: The format of the file when it was first read (rotated names like ``app.jsonl.1`` have none).
    kind: str = ""
    #: Parquet: the rows read so far while the file is read in batches; -1 once all of it is read.
    rows: int = -1

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, object]) -> Cursor:
        known = {f.name for f in fields(Cursor)}
        return Cursor(**{k: v for k, v in data.items() if k in known})  # type: ignore[arg-type]


@dataclass
class Chunk:
    """New rows of one file, and the cursor to commit once they are summarised."""

    path: str
    frame: pd.DataFrame
    #: None for a database source, which moves its watermark itself.
    cursor: Cursor | None
    rejected: Counter[str] = field(default_factory=Counter)
    #: True when the read stopped at the byte limit and there is more to read now.
    more: bool = False
    #: Bytes of the file this chunk consumed.
    nbytes: int = 0
    #: The key of the cursor in :attr:`FileSource.cursors`.
    key: str = ""
    #: Under ``sql.pushdown``: the batch whose features the database aggregates (an
    #: :class:`exporter.sources.sql.SqlBatch`); ``frame`` then holds the narrow rows only.
    batch: Any = None
    #: The complete lines of a small file read to its end, not parsed yet: :meth:`FileSource.read` parses the
    #: lines of many such files at once (``frame`` is then empty until it does).
    lines: bytes | memoryview | None = None
    #: The format (``jsonl``, ``csv``) and CSV header of ``lines``.
    kind: str = ""
    header: str | None = None
    #: Cursors of further files whose rows this chunk holds (small files parsed together), by key.
    also: list[tuple[str, Cursor]] = field(default_factory=list)


@dataclass
class TrackedFile:
    """A file seen in this read: where it is, its identity, and how to get its bytes."""

    path: str
    real: str
    stat: os.stat_result
    gz: bool
    #: The first FINGERPRINT_BYTES, once read, and fingerprints of prefixes by length: a new file is compared
    #: with every cursor by content, and each comparison must not read the file again.
    _head: bytes | None = field(default=None, repr=False)
    _fingerprints: dict[int, str] = field(default_factory=dict, repr=False)

    def prefix(self, length: int) -> bytes:
        if length <= FINGERPRINT_BYTES:
            if self._head is None:
                self._head = self._read(FINGERPRINT_BYTES)
            return self._head[:length]
        return self._read(length)

    def _read(self, length: int) -> bytes:
        if self.gz:
            with gzip.open(self.real, "rb") as handle:
                return handle.read(length)
        with open(self.real, "rb") as handle:
            return handle.read(length)

    def forget_head(self) -> None:
        self._head = None

    def fingerprint(self, length: int) -> str:
        if length not in self._fingerprints:
            self._fingerprints[length] = fingerprint_of(self.prefix(length))
        return self._fingerprints[length]


def fingerprint_of(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


class SourceError(Exception):
    """A source could not be read at all (missing permission, unreadable folder)."""


def rows_at_once(max_rows: int, max_values: int, columns: int) -> int:
    """Rows to read or prepare at once: ``max_rows``, fewer for wide data (about ``max_values`` values of
    ``columns`` columns), 1,024 at least."""
    return min(max_rows, max(1024, max_values // max(1, columns)))


def replace_cursor(cursor: Cursor, **changes: object) -> Cursor:
    return Cursor(**{**asdict(cursor), **changes})  # type: ignore[arg-type]
