"""Incremental readers of prediction and label logs (globs of JSONL, CSV, Parquet).

A source only knows how to yield new rows and where it stopped reading. Each
file has a cursor: for JSONL and CSV the byte offset just past the last
complete line consumed (a partially written last line waits for its newline),
for Parquet whether that version of the file was read. A file whose inode
changes, or that shrinks below its cursor, was rotated or replaced and is read
from the start; a file that disappears is forgotten.

Reading does not move the cursors: :meth:`FileSource.read` returns chunks with
the cursor each would leave behind, and the caller commits them with
:meth:`FileSource.commit` once the rows are summarised, so cursors and window
state are saved together.
"""

from __future__ import annotations

import glob
import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa

from exporter.tables import format_of, parse_csv, parse_jsonl, read_table
from exporter.vocabulary import RejectReason

log = logging.getLogger(__name__)

#: Bytes read from one file per tick, so one huge file cannot stall a model.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: A line longer than this without its newline is skipped as malformed.
MAX_LINE_BYTES = 16 * 1024 * 1024


@dataclass
class Cursor:
    inode: int
    offset: int = 0
    size: int = 0
    mtime_ns: int = 0
    header: str | None = None  # CSV header line
    skipping: bool = False  # inside an over-long line, until its newline

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, object]) -> Cursor:
        return Cursor(**data)  # type: ignore[arg-type]


@dataclass
class Chunk:
    """New rows of one file, and the cursor to commit once they are summarised."""

    path: str
    frame: pd.DataFrame
    cursor: Cursor
    rejected: Counter[str] = field(default_factory=Counter)
    #: True when the read stopped at the byte limit and there is more to read now.
    more: bool = False
    #: Bytes of the file this chunk consumed.
    nbytes: int = 0


class SourceError(Exception):
    """A source could not be read at all (missing permission, unreadable folder)."""


class FileSource:
    """New rows from the files matching ``pattern``."""

    def __init__(self, pattern: str, fmt: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                 text_columns: frozenset[str] = frozenset()):
        self.pattern = pattern
        self.fmt = fmt
        #: Columns read as text from CSV, whatever they look like.
        self.text_columns = text_columns
        self.max_bytes = max_bytes
        self.cursors: dict[str, Cursor] = {}
        #: True once a file matched: from then on a vanished folder is an error, not a wait.
        self.seen = False
        self._waiting_logged = False
        self._failed: dict[str, tuple[int, int, int]] = {}

    @property
    def folder(self) -> Path:
        """The deepest folder of the pattern without wildcards."""
        folder = Path(self.pattern).parent
        while any(c in str(folder) for c in "*?["):
            folder = folder.parent
        return folder

    def files(self) -> list[str]:
        """Files matching the pattern.

        A folder that does not exist yet is waited for (logged once); one that
        existed and is gone, is not a folder, or cannot be read is a
        :class:`SourceError`, so the model's errors rise and its data goes stale.
        """
        folder = self.folder
        if folder.exists() and not folder.is_dir():
            raise SourceError(f"{folder} is not a folder")
        if folder.is_dir() and not os.access(folder, os.R_OK | os.X_OK):
            raise SourceError(f"cannot read folder {folder}: permission denied")
        if not folder.exists() and self.seen:
            raise SourceError(f"folder {folder} disappeared")
        paths = sorted(p for p in glob.glob(self.pattern) if os.path.isfile(p))
        if paths:
            self.seen = True
            self._waiting_logged = False
        elif not self._waiting_logged:
            log.info("no file matches %s yet; waiting for data", self.pattern)
            self._waiting_logged = True
        return paths

    def read(self) -> tuple[list[Chunk], list[str]]:
        """Chunks of new rows, and the errors (one line each) of files that could not be read.

        One call reads at most about ``max_bytes`` across files, so memory stays bounded when many
        files arrive at once; the last chunk then says ``more`` and the caller reads again.
        """
        paths = self.files()
        present = set(paths)
        for gone in set(self.cursors) - present:
            log.info("%s disappeared; forgetting its cursor", gone)
            del self.cursors[gone]
        chunks: list[Chunk] = []
        errors: list[str] = []
        consumed = 0
        for path in paths:
            if consumed >= self.max_bytes:
                chunks[-1].more = True
                break
            try:
                chunk = self._read_file(path)
            except OSError as error:
                errors.append(f"{path}: {error.strerror or error}")
                continue
            if chunk is not None:
                chunks.append(chunk)
                consumed += chunk.nbytes
        return chunks, errors

    def commit(self, chunk: Chunk) -> None:
        self.cursors[chunk.path] = chunk.cursor

    def drain(self, consume: Callable[[Chunk], None], budget: int | None) -> list[str]:
        """Hand every new chunk to ``consume`` and commit it, until nothing is left or about ``budget``
        bytes were consumed (None: everything).

        Returns the errors of files that could not be read (the others are read all the same);
        raises :class:`SourceError` or OSError when the source cannot be read at all.
        """
        errors: list[str] = []
        consumed = 0
        while budget is None or consumed < budget:
            chunks, failed = self.read()
            errors.extend(failed)
            for chunk in chunks:
                consume(chunk)
                self.commit(chunk)
                consumed += chunk.nbytes
            if not any(chunk.more for chunk in chunks):
                break
        return errors

    def _read_file(self, path: str) -> Chunk | None:
        stat = os.stat(path)
        cursor = self.cursors.get(path)
        if cursor is not None and (cursor.inode != stat.st_ino or stat.st_size < cursor.offset):
            log.info("%s was replaced or truncated; reading it from the start", path)
            cursor = None
        kind = format_of(path, self.fmt)
        if kind == "parquet":
            return self._read_parquet(path, stat, cursor)
        if kind not in ("jsonl", "csv"):
            if cursor is None:
                log.warning("%s: unknown extension, skipped (use .jsonl, .csv or .parquet)", path)
                self.cursors[path] = Cursor(inode=stat.st_ino, offset=stat.st_size, size=stat.st_size)
            return None
        if cursor is None:
            cursor = Cursor(inode=stat.st_ino)
        if stat.st_size == cursor.offset:
            return None
        return self._read_lines(path, kind, stat, cursor)

    def _read_parquet(self, path: str, stat: os.stat_result, cursor: Cursor | None) -> Chunk | None:
        fingerprint = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if cursor is not None and (cursor.size, cursor.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
            return None
        if self._failed.get(path) == fingerprint:
            return None
        new_cursor = Cursor(inode=stat.st_ino, offset=stat.st_size, size=stat.st_size, mtime_ns=stat.st_mtime_ns)
        try:
            frame = read_table(path, "parquet")
        except (pa.ArrowException, OSError, ValueError) as error:
            # Maybe still being written: retried when the file changes.
            self._failed[path] = fingerprint
            log.warning("%s: cannot read Parquet file (%s); retrying when it changes", path, error)
            return Chunk(path, pd.DataFrame(), new_cursor, Counter({RejectReason.UNREADABLE_FILE: 1}))
        self._failed.pop(path, None)
        if cursor is not None:
            log.warning("%s changed after it was read; reading the new version as new rows", path)
        return Chunk(path, frame, new_cursor, nbytes=stat.st_size)

    def _read_lines(self, path: str, kind: str, stat: os.stat_result, cursor: Cursor) -> Chunk | None:
        rejected: Counter[str] = Counter()
        with open(path, "rb") as handle:
            header = cursor.header
            offset = cursor.offset
            if kind == "csv" and header is None:
                first = handle.readline(MAX_LINE_BYTES)
                if not first.endswith(b"\n"):
                    return None
                header = first.decode("utf-8", "replace").strip("\r\n")
                offset = len(first)
            handle.seek(offset)
            data = handle.read(self.max_bytes)
        end = data.rfind(b"\n")
        skipping = cursor.skipping
        if end < 0:
            if len(data) >= MAX_LINE_BYTES or (skipping and data):
                # An over-long line: drop what we have and skip until its newline.
                if not skipping:
                    rejected[RejectReason.MALFORMED_JSON if kind == "jsonl" else RejectReason.MALFORMED_CSV] += 1
                new = Cursor(stat.st_ino, offset + len(data), stat.st_size, stat.st_mtime_ns, header, True)
                return Chunk(path, pd.DataFrame(), new, rejected, more=len(data) >= self.max_bytes,
                             nbytes=len(data))
            return None
        complete = data[: end + 1]
        if skipping:
            first_newline = complete.find(b"\n")
            complete = complete[first_newline + 1:]
        new_cursor = Cursor(stat.st_ino, offset + end + 1, stat.st_size, stat.st_mtime_ns, header, False)
        if kind == "jsonl":
            frame = parse_jsonl(complete, rejected)
        else:
            frame = parse_csv(header or "", complete, rejected, self.text_columns)
        return Chunk(path, frame, new_cursor, rejected, more=len(data) >= self.max_bytes, nbytes=end + 1)
