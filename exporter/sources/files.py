"""Incremental readers of prediction and label logs (globs of JSONL, CSV, Parquet), that follow rotation.

A source only knows how to yield new rows and where it stopped reading. Each file it reads has a
cursor: for JSONL and CSV the byte offset just past the last complete line consumed (a partially
written last line waits for its newline), for Parquet whether that version of the file was read.

A file is identified by its content, not its path (as Filebeat and Fluent Bit do): its device
and inode, and a fingerprint of its first bytes (up to :data:`FINGERPRINT_BYTES`). So

- a file renamed away by rotation (``app.jsonl`` to ``app.jsonl.1``, inside or outside the glob,
  or the old target of a repointed symlink) is followed in its folder and read to its end;
- a rotated file compressed to ``.gz`` is read through gzip from where its cursor stopped;
- ``copytruncate``: the copy carries the original's fingerprint, so its unread tail is read from
  the copy, and the truncated original (shorter, or with other first bytes: it may have grown past
  the old offset) is read again from the start as a new file;
- a file replaced atomically by a longer copy (renamed over) keeps its cursor, since its first
  bytes are the same: nothing is read twice;
- a new file at the same path, or a reused inode, has other first bytes: it is a new file.

Where loss cannot be excluded (a file truncated or removed before its end was read, with no copy
found) the unread bytes are counted (:attr:`FileSource.lost_bytes`) and logged, never silent.

Reading does not move the cursors: :meth:`FileSource.read` returns chunks with the cursor each
would leave behind, and the caller commits them with :meth:`FileSource.commit` once the rows are
summarised, so cursors and window state are saved together.
"""

from __future__ import annotations

import glob
import gzip
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from stat import S_ISLNK

import numpy as np

from exporter.sources.cursors import (
    FINGERPRINT_BYTES,
    Chunk,
    Cursor,
    SourceError,
    TrackedFile,
)
from exporter.sources.lines import PARSE_TOGETHER_BYTES, LineReading, LinesAhead
from exporter.sources.parquet import OpenParquet, ParquetReading
from exporter.sources.tables import DEFAULT_LIMITS, InputLimits, format_of

log = logging.getLogger(__name__)

#: Bytes of each log one read takes at most, across files, so memory stays bounded. With the next chunk
#: read ahead, 32 MiB ingest JSON Lines faster than 64 (more of the parse overlaps the ingest: 314,000-
#: 377,000 rows/s against 308,000-365,000) and hold half the memory.
DEFAULT_MAX_BYTES = 32 * 1024 * 1024


class FileSource(LineReading, ParquetReading):
    """New rows from the files matching ``pattern``, following each file through rotation."""

    def __init__(self, pattern: str, fmt: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                 text_columns: frozenset[str] = frozenset(), limits: InputLimits = DEFAULT_LIMITS,
                 dictionary_columns: frozenset[str] = frozenset()):
        self.pattern = pattern
        self.fmt = fmt
        #: Columns read as text from CSV, whatever they look like.
        self.text_columns = text_columns
        #: Text columns of Parquet files read as dictionaries (pandas Categorical columns): each batch's
        #: distinct values and a code per row, not a string per row.
        self.dictionary_columns = dictionary_columns
        self.limits = limits
        self.max_bytes = max_bytes
        #: Cursor of every file being followed, by a key that stays the same when the file moves.
        self.cursors: dict[str, Cursor] = {}
        #: True once a file matched: from then on a vanished folder is an error, not a wait.
        self.seen = False
        #: Bytes known to be lost: files truncated or removed before their end was read, no copy found.
        self.lost_bytes = 0
        #: Files truncated (or removed with bytes unread) whose rest was found nowhere: rows may be lost.
        self.lost_files = 0
        self._truncated: set[str] = set()
        self._waiting_logged = False
        self._failed: dict[str, tuple[int, int, int]] = {}
        self._parquet: dict[str, OpenParquet] = {}
        self._lines_ahead: dict[str, LinesAhead] = {}

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

    # -- which cursor each file continues ---------------------------------------------------------

    @staticmethod
    def _file(path: str, real_folders: dict[str, str] | None = None) -> TrackedFile:
        """``path`` with its real path (symlinks resolved) and status. ``real_folders`` caches the real path of
        each folder: a file that is no symlink itself then costs one ``lstat``, not one per path component."""
        if real_folders is None:
            real = os.path.realpath(path)
            return TrackedFile(path, real, os.stat(real), real.endswith(".gz"))
        folder, name = os.path.split(path)
        if folder not in real_folders:
            real_folders[folder] = os.path.realpath(folder)
        status = os.lstat(path)
        if S_ISLNK(status.st_mode):
            real = os.path.realpath(path)
            status = os.stat(real)
        else:
            real = os.path.join(real_folders[folder], name)
        return TrackedFile(path, real, status, real.endswith(".gz"))

    def _continues(self, f: TrackedFile, cursor: Cursor) -> bool:
        """Whether ``f`` holds what ``cursor`` read, by its first bytes (a legacy cursor: by inode)."""
        same_inode = (f.stat.st_dev, f.stat.st_ino) == (cursor.device, cursor.inode)
        if same_inode and (f.stat.st_size, f.stat.st_mtime_ns) == (cursor.size, cursor.mtime_ns):
            return True  # untouched since it was read
        if not cursor.fp_len:
            return (not f.gz and cursor.inode == f.stat.st_ino and cursor.path in ("", f.real)
                    and f.stat.st_size >= cursor.offset)
        if not f.gz and f.stat.st_size < max(cursor.fp_len, cursor.offset if cursor.kind != "parquet" else 0):
            return False  # shorter than what was read: truncated
        return f.fingerprint(cursor.fp_len) == cursor.fp

    def _match(self, files: list[TrackedFile]) -> tuple[dict[str, str], list[TrackedFile]]:
        """Cursor key of each file that continues a cursor, and the files that are new.

        Same device and inode first (still checked by content, since inodes are reused), then the
        content alone (a renamed or copied file).
        """
        by_inode = {(c.device, c.inode): k for k, c in self.cursors.items() if c.device}
        attached: dict[str, str] = {}
        used: set[str] = set()
        unmatched = []
        for f in files:
            key = by_inode.get((f.stat.st_dev, f.stat.st_ino))
            if key is None:
                key = next((k for k, c in self.cursors.items() if not c.device and c.path == f.real), None)
            if key is not None and key not in used and self._continues(f, self.cursors[key]):
                attached[f.real] = key
                used.add(key)
            else:
                if key is not None and key not in used:
                    self._truncated.add(key)  # the same file with other content: truncated, or a reused inode
                unmatched.append(f)
        new = []
        for f in unmatched:
            key = next((k for k, c in self.cursors.items() if k not in used and c.fp_len
                        and self._continues(f, c)), None)
            f.forget_head()  # thousands of new files: not a KiB kept of each
            if key is None:
                new.append(f)
            else:
                attached[f.real] = key
                used.add(key)
        return attached, new

    def _siblings(self, exclude: set[str]) -> list[TrackedFile]:
        """Files next to the followed ones that the glob does not match: where rotated files go."""
        folders = {os.path.dirname(c.path) for c in self.cursors.values() if c.path}
        out = []
        for folder in sorted(folders):
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in sorted(names):
                real = os.path.realpath(os.path.join(folder, name))
                if real in exclude or not os.path.isfile(real):
                    continue
                try:
                    out.append(self._file(real))
                except OSError:
                    continue
        return out

    # -- reading --------------------------------------------------------------------------------

    def read(self) -> tuple[list[Chunk], list[str]]:
        """Chunks of new rows, and the errors (one line each) of files that could not be read.

        One call reads at most about ``max_bytes`` across files, so memory stays bounded when many
        files arrive at once; the last chunk then says ``more`` and the caller reads again.
        """
        errors: list[str] = []
        files = []
        real_folders: dict[str, str] = {}
        for path in self.files():
            try:
                files.append(self._file(path, real_folders))
            except OSError as error:
                errors.append(f"{path}: {error.strerror or error}")
        attached, new = self._match(files)
        targets = [(f, attached[f.real]) for f in files if f.real in attached] + [(f, None) for f in new]
        orphans = set(self.cursors) - set(attached.values())
        if orphans:
            targets += self._follow(orphans, {f.real for f in files})
        chunks: list[Chunk] = []
        small: list[Chunk] = []  # small files read to their end, parsed together (one frame, one ingest)
        small_bytes = 0
        consumed = 0
        for f, key in targets:
            if consumed >= self.max_bytes:
                self._parse_together(small, chunks)
                chunks[-1].more = True
                break
            try:
                chunk = self._read_file(f, key)
            except (OSError, EOFError, gzip.BadGzipFile) as error:
                errors.append(f"{f.path}: {getattr(error, 'strerror', None) or error}")
                continue
            if chunk is None:
                continue
            consumed += chunk.nbytes
            if chunk.lines is not None:
                if small and ((small[0].kind, small[0].header) != (chunk.kind, chunk.header)
                              or small_bytes >= PARSE_TOGETHER_BYTES):
                    self._parse_together(small, chunks)
                    small_bytes = 0
                small.append(chunk)
                small_bytes += chunk.nbytes
                continue
            self._parse_together(small, chunks)
            small_bytes = 0
            chunks.append(chunk)
            if f.real in self._parquet:
                # A Parquet file half read holds its reader's state (or its columns, see
                # PARQUET_WHOLE_COLUMN_ROWS): the next file is opened once this one is read through.
                break
        self._parse_together(small, chunks)
        return chunks, errors

    def _follow(self, orphans: set[str], in_glob: set[str]) -> list[tuple[TrackedFile, str]]:
        """Find where the files of cursors the glob no longer shows went; forget those that are gone."""
        found: list[tuple[TrackedFile, str]] = []
        siblings = self._siblings(in_glob)
        for key in sorted(orphans):
            cursor = self.cursors[key]
            match = next((f for f in siblings if not f.gz and (f.stat.st_dev, f.stat.st_ino) ==
                          (cursor.device, cursor.inode) and self._continues(f, cursor)), None)
            if match is None and cursor.fp_len:
                match = next((f for f in siblings if self._continues(f, cursor)), None)
            if match is not None:
                if match.real != cursor.path:
                    log.info("%s moved to %s; reading it to its end", cursor.path, match.real)
                found.append((match, key))
                continue
            del self.cursors[key]
            unread = max(0, cursor.size - cursor.offset) if cursor.kind != "parquet" else 0
            # A Parquet file is written whole: gone after it was read to its end, nothing of it is lost (its
            # inode taken by a new file is no truncation); gone half read, its other rows are.
            truncated = key in self._truncated if cursor.kind != "parquet" else cursor.rows >= 0
            if unread or truncated:
                self.lost_bytes += unread
                self.lost_files += 1
                log.warning("%s was %s with %s unread, and no rotated copy of it was found: rows written after the "
                            "last read may be lost (counted in model_monitor_lost_files_total)", cursor.path,
                            "truncated" if truncated else "removed", f"{unread} bytes" if unread else "bytes maybe")
            else:
                log.info("%s disappeared; forgetting its cursor", cursor.path)
        self._truncated.clear()
        return found

    def restore(self, cursors: dict[str, dict[str, object]], arrays: dict[str, np.ndarray] | None = None) -> None:
        """Cursors as :meth:`saved` saved them (a release-1 cursor is keyed by its file's path; an empty
        mapping: from the start of every file). A file source saves no arrays."""
        self.cursors = {}
        for key, data in cursors.items():
            cursor = Cursor.from_json(data)
            if not cursor.path:
                cursor.path = os.path.realpath(key)
            self.cursors[key] = cursor
        self.seen = bool(self.cursors)

    def saved(self) -> tuple[dict[str, object], dict[str, np.ndarray]]:
        """The cursors as :meth:`restore` reads them back (JSON-able), and no arrays."""
        return {key: cursor.to_json() for key, cursor in self.cursors.items()}, {}

    def commit(self, chunk: Chunk) -> None:
        if chunk.cursor is not None:
            self.cursors[chunk.key or chunk.path] = chunk.cursor
        for key, cursor in chunk.also:
            self.cursors[key] = cursor

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
        # Stopped by the budget: a chunk read ahead would hold its memory until the next update.
        for ahead in self._lines_ahead.values():
            ahead.future.cancel()
        self._lines_ahead.clear()
        return errors

    def _read_file(self, f: TrackedFile, key: str | None) -> Chunk | None:
        cursor = self.cursors.get(key) if key is not None else None
        kind = (cursor.kind if cursor is not None and cursor.kind else None) or format_of(f.path, self.fmt)
        if cursor is None:
            key = f"{f.stat.st_dev}:{f.stat.st_ino}:{time.time_ns()}"
            if kind not in ("jsonl", "csv", "parquet"):
                log.warning("%s: unknown extension, skipped (use .jsonl, .csv or .parquet)", f.path)
                fp_len = min(FINGERPRINT_BYTES, f.stat.st_size)
                self.cursors[key] = Cursor(f.stat.st_ino, f.stat.st_size, f.stat.st_size, f.stat.st_mtime_ns,
                                           path=f.real, device=f.stat.st_dev, fp=f.fingerprint(fp_len),
                                           fp_len=fp_len, kind="other")
                return None
        if kind == "parquet":
            return self._read_parquet(f, cursor, key)
        if kind not in ("jsonl", "csv"):
            return None
        if cursor is not None and not f.gz and cursor.offset >= cursor.size and (
                f.real, f.stat.st_ino, f.stat.st_dev, f.stat.st_size, f.stat.st_mtime_ns) == (
                cursor.path, cursor.inode, cursor.device, cursor.size, cursor.mtime_ns):
            return None  # read to its end and untouched since: nothing new (not even opened; a .gz file's
            # offset counts the bytes it holds, its size the compressed ones: always read)
        base = cursor or Cursor(f.stat.st_ino, kind=kind)
        chunk = self._read_lines(f, kind, base)
        if chunk is None:
            if cursor is not None and (cursor.path, cursor.inode, cursor.device) != (f.real, f.stat.st_ino,
                                                                                      f.stat.st_dev):
                self.cursors[key] = self._identified(f, cursor, cursor.offset)  # follow it, nothing to read
            return None
        chunk.key = key
        return chunk

    def _identified(self, f: TrackedFile, cursor: Cursor, offset: int) -> Cursor:
        """``cursor`` moved to ``f``, its fingerprint grown to cover up to FINGERPRINT_BYTES."""
        fp_len = min(FINGERPRINT_BYTES, max(offset, cursor.fp_len))
        fp = cursor.fp if fp_len == cursor.fp_len else f.fingerprint(fp_len)
        return Cursor(f.stat.st_ino, offset, f.stat.st_size, f.stat.st_mtime_ns, cursor.header, cursor.skipping,
                      f.real, f.stat.st_dev, fp, fp_len, cursor.kind)


