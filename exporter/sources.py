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
import hashlib
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from stat import S_ISLNK
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from exporter.memory import columns_read
from exporter.tables import DEFAULT_LIMITS, InputLimits, format_of, parse_csv, parse_jsonl
from exporter.vocabulary import RejectReason

log = logging.getLogger(__name__)

#: Bytes of each log one read takes at most, across files, so memory stays bounded. With the next chunk
#: read ahead, 32 MiB ingest JSON Lines faster than 64 (more of the parse overlaps the ingest: 314,000-
#: 377,000 rows/s against 308,000-365,000) and hold half the memory.
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
#: Bytes at the start of a file that identify it (Filebeat's default too).
FINGERPRINT_BYTES = 1024
#: Small files read to their end are parsed together in texts of about this size: one parse and one ingest for
#: thousands of them, and the texts and their parts in memory at once stay small.
PARSE_TOGETHER_BYTES = 4 * 1024 * 1024
#: Rows of a Parquet file read at once (a record batch) at most: memory stays bounded whatever its row
#: groups. Wide files are read in fewer rows: about PARQUET_BATCH_VALUES values per batch. A batch's
#: fixed costs (a few ms) favour large batches, memory small ones: 1M values (37,000 rows of 27 columns)
#: peaks about 35 MiB lower than 1.5M in the large check, 5% slower (benchmarks/RESULTS.md).
PARQUET_BATCH_ROWS = 65_536
PARQUET_BATCH_VALUES = 1_000_000
#: Bytes read from a Parquet file at once for each column.
PARQUET_READ_BUFFER = 1 << 16
#: Parquet files of at most this many rows are read a whole column at a time, one column after the
#: other, then served batch by batch: a reader streaming batches keeps, for every column at once, its
#: buffers, a page and the dictionary page (pandas writes floats dictionary-encoded up to 1 MiB), about
#: 1.6 MiB a column, more than a whole column of 131,072 numbers (1 MiB). Their batches are of about
#: PARQUET_WHOLE_BATCH_VALUES values: the columns are in memory already, so smaller batches cost nothing
#: in reading and halve the working arrays of a batch.
PARQUET_WHOLE_COLUMN_ROWS = 131_072
PARQUET_WHOLE_BATCH_VALUES = 500_000
#: The thread that decodes the next Parquet batch while the current one is summarised.
_DECODER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet")


@dataclass
class _OpenParquet:
    """A Parquet file being read batch by batch: which version of it, the batches, and the rows read.

    The next batch is decoded (and made a DataFrame) in a thread of its own while the caller
    summarises the current one: Arrow releases the GIL while it decodes.
    """

    identity: tuple[str, int, int, int]
    total: int
    batches: Iterator[pa.RecordBatch]
    position: int
    ahead: Future[pd.DataFrame | None] | None = None

    def next_frame(self) -> pd.DataFrame | None:
        """The next batch's rows (None at the end), the one after it started decoding; read errors are raised
        here."""
        frame = self.ahead.result() if self.ahead is not None else self._decode()
        self.ahead = _DECODER.submit(self._decode) if frame is not None else None
        return frame

    def _decode(self) -> pd.DataFrame | None:
        batch = next(self.batches, None)
        return None if batch is None else batch.to_pandas(split_blocks=True)


#: The thread that reads and parses the next chunk of a long JSON Lines or CSV file while the caller
#: ingests the current one (reading, and Arrow's parsers, release the GIL).
_LINES_AHEAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lines")

#: What :func:`_read_and_parse` returns: the bytes read, and the rows of their complete lines with what
#: was rejected of them (None when they hold no complete line).
_ReadLines = tuple[bytes, tuple[pd.DataFrame, Counter[str]] | None]


@dataclass
class _LinesAhead:
    """A chunk of lines being read and parsed ahead, for the read that starts where ``at`` says: the
    file's inode and device, the offset, the CSV header and the format."""

    at: tuple[int, int, int, str | None, str]
    future: Future[_ReadLines | None]


def _read_bytes(path: str, gz: bool, offset: int, max_bytes: int, inode: int | None = None) -> bytes | None:
    """At most ``max_bytes`` of ``path`` from ``offset``; None when ``inode`` is given and ``path`` is no
    longer that file (rotated meanwhile)."""
    with (gzip.open if gz else open)(path, "rb") as handle:
        if inode is not None and os.fstat(handle.fileno()).st_ino != inode:
            return None
        handle.seek(offset)
        return handle.read(max_bytes)


def _parse_lines(complete: bytes | memoryview, kind: str, header: str | None, limits: InputLimits,
                 text_columns: frozenset[str], rejected: Counter[str]) -> pd.DataFrame:
    """The rows of complete JSON Lines or CSV lines (CSV under ``header``); rejections counted in ``rejected``."""
    if kind == "jsonl":
        return parse_jsonl(complete, rejected, limits)
    return parse_csv(header or "", complete, rejected, text_columns)


def _read_and_parse(path: str, inode: int, gz: bool, offset: int, max_bytes: int, kind: str, header: str | None,
                    limits: InputLimits, text_columns: frozenset[str]) -> _ReadLines | None:
    """At most ``max_bytes`` of ``path`` from ``offset``, and the rows of their complete lines; None when
    ``path`` is no longer the file ``inode`` (rotated meanwhile)."""
    data = _read_bytes(path, gz, offset, max_bytes, inode)
    if data is None:
        return None
    end = data.rfind(b"\n")
    if end < 0:
        return data, None
    rejected: Counter[str] = Counter()
    return data, (_parse_lines(_complete_lines(data, end), kind, header, limits, text_columns, rejected), rejected)


def _complete_lines(data: bytes, end: int) -> bytes | memoryview:
    """``data`` up to its last newline, at ``end``: a view, not a copy of tens of megabytes."""
    return data if end + 1 == len(data) else memoryview(data)[: end + 1]


#: The frame of a chunk whose lines are not parsed yet (one shared empty frame, not one per small file).
_NOT_PARSED = pd.DataFrame()


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
    #: :class:`exporter.sql_source.SqlBatch`); ``frame`` then holds the narrow rows only.
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
class _File:
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
            self._fingerprints[length] = _fingerprint(self.prefix(length))
        return self._fingerprints[length]


def _fingerprint(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


class SourceError(Exception):
    """A source could not be read at all (missing permission, unreadable folder)."""


class FileSource:
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
        self._parquet: dict[str, _OpenParquet] = {}
        self._lines_ahead: dict[str, _LinesAhead] = {}

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
    def _file(path: str, real_folders: dict[str, str] | None = None) -> _File:
        """``path`` with its real path (symlinks resolved) and status. ``real_folders`` caches the real path of
        each folder: a file that is no symlink itself then costs one ``lstat``, not one per path component."""
        if real_folders is None:
            real = os.path.realpath(path)
            return _File(path, real, os.stat(real), real.endswith(".gz"))
        folder, name = os.path.split(path)
        if folder not in real_folders:
            real_folders[folder] = os.path.realpath(folder)
        status = os.lstat(path)
        if S_ISLNK(status.st_mode):
            real = os.path.realpath(path)
            status = os.stat(real)
        else:
            real = os.path.join(real_folders[folder], name)
        return _File(path, real, status, real.endswith(".gz"))

    def _continues(self, f: _File, cursor: Cursor) -> bool:
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

    def _match(self, files: list[_File]) -> tuple[dict[str, str], list[_File]]:
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

    def _siblings(self, exclude: set[str]) -> list[_File]:
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

    def _parse_together(self, small: list[Chunk], chunks: list[Chunk]) -> None:
        """Parse the lines of ``small`` (files of one format and header) as one text and append the chunks that
        hold their rows, committing every file's cursor; empties ``small``. Thousands of small files then cost a
        few parses and ingests, not one each.

        The rows are those of each file parsed alone, and so are the columns: a column a file lacks is a
        schema violation of that file's rows (``missing_column``), which a text joined with files that have
        it would hide. CSV files of one header have the same columns. For JSON Lines, each file's rows are
        found in the joined frame (a row per line, unless a line was blank or rejected); a file in which a
        column has no value is told apart by whether its text names the column, and files are joined only
        with neighbours that lack (or hold only nulls in) the same columns."""
        if not small:
            return
        groups: list[tuple[list[Chunk], pd.DataFrame | None]] = [(list(small), None)]
        if small[0].kind == "jsonl" and len(small) > 1:
            groups = self._same_columns(small)
        for group, frame in groups:
            self._append_parsed(group, frame, chunks)
        small.clear()

    def _same_columns(self, small: list[Chunk]) -> list[tuple[list[Chunk], pd.DataFrame | None]]:
        """``small`` cut into runs of consecutive files with the same columns present (see :meth:`_parse_together`),
        each with its parsed frame when it is all of ``small`` (else parsed again). Where the rows of the files
        cannot be found in the joined frame (a blank or rejected line), each half is tried on its own, down to
        single files: one bad line costs a few parses, not one per file."""
        texts = [bytes(c.lines) if c.lines is not None else b"" for c in small]
        rejected: Counter[str] = Counter()
        frame = _parse_lines(b"".join(texts), "jsonl", None, self.limits, self.text_columns, rejected)
        lines = np.array([text.count(b"\n") for text in texts])
        if len(frame) != int(lines.sum()) or not len(frame.columns):
            if len(small) == 1:
                return [(small, None)]
            half = len(small) // 2
            return self._same_columns(small[:half]) + self._same_columns(small[half:])
        starts = np.concatenate([[0], np.cumsum(lines)[:-1]])
        nonempty = lines > 0
        missing = frame.isna().to_numpy()
        # Per file and column: whether the file has no value of it (files without rows: none absent).
        empty = np.zeros((len(small), missing.shape[1]), dtype=bool)
        if nonempty.any():
            counts = np.add.reduceat(missing, starts[nonempty], axis=0)
            empty[nonempty] = counts == lines[nonempty, None]
        names = [str(c) for c in frame.columns]
        signatures = [tuple((names[j], f'"{names[j]}"'.encode() in texts[i]) for j in np.flatnonzero(empty[i]))
                      for i in range(len(small))]
        groups: list[list[Chunk]] = []
        for chunk, signature, previous in zip(small, signatures, [None, *signatures[:-1]], strict=True):
            if groups and signature == previous:
                groups[-1].append(chunk)
            else:
                groups.append([chunk])
        if len(groups) == 1 and not rejected:
            return [(small, frame)]
        return [(group, None) for group in groups]

    def _append_parsed(self, group: list[Chunk], frame: pd.DataFrame | None, chunks: list[Chunk]) -> None:
        """One chunk of the rows of ``group``, parsed here unless ``frame`` holds them already."""
        first = group[0]
        rejected: Counter[str] = Counter()
        for chunk in group:
            rejected.update(chunk.rejected)
        if frame is None:
            lines = first.lines if len(group) == 1 else b"".join(c.lines for c in group if c.lines is not None)
            assert lines is not None
            frame = _parse_lines(lines, first.kind, first.header, self.limits, self.text_columns, rejected)
        path = first.path if len(group) == 1 else f"{first.path} and {len(group) - 1} more files"
        chunks.append(Chunk(path, frame, first.cursor, rejected, nbytes=sum(c.nbytes for c in group), key=first.key,
                            also=[(c.key, c.cursor) for c in group[1:] if c.cursor is not None]))

    def _follow(self, orphans: set[str], in_glob: set[str]) -> list[tuple[_File, str]]:
        """Find where the files of cursors the glob no longer shows went; forget those that are gone."""
        found: list[tuple[_File, str]] = []
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

    def _read_file(self, f: _File, key: str | None) -> Chunk | None:
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

    def _identified(self, f: _File, cursor: Cursor, offset: int) -> Cursor:
        """``cursor`` moved to ``f``, its fingerprint grown to cover up to FINGERPRINT_BYTES."""
        fp_len = min(FINGERPRINT_BYTES, max(offset, cursor.fp_len))
        fp = cursor.fp if fp_len == cursor.fp_len else f.fingerprint(fp_len)
        return Cursor(f.stat.st_ino, offset, f.stat.st_size, f.stat.st_mtime_ns, cursor.header, cursor.skipping,
                      f.real, f.stat.st_dev, fp, fp_len, cursor.kind)

    def _read_parquet(self, f: _File, cursor: Cursor | None, key: str) -> Chunk | None:
        """The next batch of rows of a Parquet file (:data:`PARQUET_BATCH_ROWS`), ``more`` until its last.

        The cursor counts the rows read, so an update that stops between batches (the byte budget,
        a restart) goes on from the next row. A file whose size or time changes is read again from
        its first row, as new rows (Parquet files are written whole, not appended to).
        """
        stat = f.stat
        if cursor is not None and cursor.size == stat.st_size and cursor.rows < 0:
            return None  # the same content (renamed, or untouched), read to its end
        failed = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if self._failed.get(f.real) == failed:
            return None
        start = 0
        if cursor is not None:
            if cursor.rows >= 0 and (cursor.size, cursor.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                start = cursor.rows
            else:
                log.warning("%s changed after it was read; reading the new version as new rows", f.path)
        fp_len = min(FINGERPRINT_BYTES, stat.st_size)
        new_cursor = Cursor(stat.st_ino, stat.st_size, stat.st_size, stat.st_mtime_ns, path=f.real,
                            device=stat.st_dev, fp=_fingerprint(f.prefix(fp_len)), fp_len=fp_len, kind="parquet")
        try:
            reader = self._parquet_at(f, start)
            frame = reader.next_frame()
        except (pa.ArrowException, OSError, ValueError) as error:
            # Maybe still being written: retried when the file changes.
            self._parquet.pop(f.real, None)
            self._failed[f.real] = failed
            log.warning("%s: cannot read Parquet file (%s); retrying when it changes", f.path, error)
            return Chunk(f.path, pd.DataFrame(), new_cursor, Counter({RejectReason.UNREADABLE_FILE: 1}), key=key)
        self._failed.pop(f.real, None)
        rows = 0 if frame is None else len(frame)
        reader.position += rows
        more = frame is not None and reader.position < reader.total
        if not more:
            self._parquet.pop(f.real, None)
        frame = frame if frame is not None else pd.DataFrame()
        new_cursor.rows = reader.position if more else -1
        nbytes = max(1, stat.st_size * rows // max(reader.total, 1)) if rows else 0
        return Chunk(f.path, frame, new_cursor, nbytes=nbytes, key=key, more=more)

    def _parquet_at(self, f: _File, start: int) -> _OpenParquet:
        """The batches of ``f`` from row ``start`` on: the reader left open by the last batch when it is
        there, else the file opened again: a small one read whole a column at a time, a large one streamed
        from the row group holding ``start``."""
        identity = (f.real, f.stat.st_ino, f.stat.st_size, f.stat.st_mtime_ns)
        reader = self._parquet.get(f.real)
        if reader is not None and reader.identity == identity and reader.position == start:
            return reader
        import pyarrow.parquet as pq

        # A small read buffer and no pre-buffering: a batch holds its rows, not its whole row group. Every
        # column being read keeps its own buffer: 64 KiB, not 1 MiB, is 40 MiB less for 55 columns.
        parquet = pq.ParquetFile(f.real, buffer_size=PARQUET_READ_BUFFER, pre_buffer=False)
        meta = parquet.metadata
        schema = parquet.schema_arrow
        dictionary = [field.name for field in schema if field.name in self.dictionary_columns
                      and (pa.types.is_string(field.type) or pa.types.is_large_string(field.type))
                      and schema.names.count(field.name) == 1]
        if dictionary:
            parquet = pq.ParquetFile(f.real, metadata=meta, buffer_size=PARQUET_READ_BUFFER, pre_buffer=False,
                                     read_dictionary=dictionary)
            schema = parquet.schema_arrow
        first, skipped = 0, 0
        if meta.num_rows <= PARQUET_WHOLE_COLUMN_ROWS and len(set(schema.names)) == len(schema.names):
            # Each column read whole, one after the other: one column's reader state at a time.
            with columns_read():
                table = pa.Table.from_arrays([parquet.read(columns=[name], use_threads=False).column(0)
                                              for name in schema.names], schema=schema)
            rows = rows_at_once(PARQUET_BATCH_ROWS, PARQUET_WHOLE_BATCH_VALUES, meta.num_columns)
            batches: Iterator[pa.RecordBatch] = iter(table.to_batches(max_chunksize=rows))
        else:
            while first < meta.num_row_groups and skipped + meta.row_group(first).num_rows <= start:
                skipped += meta.row_group(first).num_rows
                first += 1
            rows = rows_at_once(PARQUET_BATCH_ROWS, PARQUET_BATCH_VALUES, meta.num_columns)
            batches = parquet.iter_batches(rows, row_groups=range(first, meta.num_row_groups), use_threads=False)
        reader = _OpenParquet(identity, meta.num_rows, _skip_rows(batches, start - skipped), start)
        self._parquet[f.real] = reader
        return reader

    def _read_lines(self, f: _File, kind: str, cursor: Cursor) -> Chunk | None:
        rejected: Counter[str] = Counter()
        header = cursor.header
        offset = cursor.offset
        if kind == "csv" and header is None:
            with (gzip.open if f.gz else open)(f.real, "rb") as handle:
                first = handle.readline(self.limits.max_line_bytes)
            if not first.endswith(b"\n"):
                return None
            header = first.decode("utf-8", "replace").strip("\r\n")
            offset = len(first)
        at = (f.stat.st_ino, f.stat.st_dev, offset, header, kind)
        data, parsed = self._read_ahead(f.real, at) if not cursor.skipping else (None, None)
        if data is None:
            data = _read_bytes(f.real, f.gz, offset, self.max_bytes)
        if not data:
            return None
        end = data.rfind(b"\n")
        skipping = cursor.skipping
        moved = replace_cursor(cursor, header=header)
        if end < 0:
            if len(data) >= self.limits.max_line_bytes or (skipping and data):
                # An over-long line: drop what we have and skip until its newline.
                if not skipping:
                    rejected[RejectReason.MALFORMED_JSON if kind == "jsonl" else RejectReason.MALFORMED_CSV] += 1
                new = self._identified(f, replace_cursor(moved, skipping=True), offset + len(data))
                return Chunk(f.path, pd.DataFrame(), new, rejected, more=len(data) >= self.max_bytes,
                             nbytes=len(data))
            return None
        start = data.find(b"\n") + 1 if skipping else 0  # the rest of an over-long line is skipped
        complete = memoryview(data)[start: end + 1] if start else _complete_lines(data, end)
        new_cursor = self._identified(f, replace_cursor(moved, skipping=False), offset + end + 1)
        more = len(data) >= self.max_bytes
        if more:  # a long file: its next chunk read and parsed while this one is ingested
            self._lines_ahead[f.real] = _LinesAhead(
                (f.stat.st_ino, f.stat.st_dev, offset + end + 1, header, kind),
                _LINES_AHEAD.submit(_read_and_parse, f.real, f.stat.st_ino, f.gz, offset + end + 1, self.max_bytes,
                                    kind, header, self.limits, self.text_columns))
        if parsed is not None:  # read ahead (never for a read that skips the rest of a line)
            frame, parse_rejected = parsed
            rejected.update(parse_rejected)
        elif not more:  # the whole rest of the file: parsed by read() with other small files
            return Chunk(f.path, _NOT_PARSED, new_cursor, rejected, nbytes=end + 1, lines=complete, kind=kind,
                         header=header)
        else:
            frame = _parse_lines(complete, kind, header, self.limits, self.text_columns, rejected)
        return Chunk(f.path, frame, new_cursor, rejected, more=more, nbytes=end + 1)

    def _read_ahead(self, real: str, at: tuple[int, int, int, str | None, str]) -> _ReadLines | tuple[None, None]:
        """The chunk read ahead for a read of ``real`` that starts ``at`` (inode, device, offset, header,
        format); (None, None) when there is none for that read, or its reading failed (then read again)."""
        ahead = self._lines_ahead.pop(real, None)
        if ahead is None or ahead.at != at:
            if ahead is not None:
                ahead.future.cancel()
            return None, None
        try:
            read = ahead.future.result()
        except (OSError, EOFError, gzip.BadGzipFile):
            return None, None
        return read if read is not None else (None, None)


def rows_at_once(max_rows: int, max_values: int, columns: int) -> int:
    """Rows to read or prepare at once: ``max_rows``, fewer for wide data (about ``max_values`` values of
    ``columns`` columns), 1,024 at least."""
    return min(max_rows, max(1024, max_values // max(1, columns)))


def _skip_rows(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """``batches`` without their first ``rows`` rows."""
    for batch in batches:
        if rows >= batch.num_rows:
            rows -= batch.num_rows
            continue
        yield batch.slice(rows) if rows else batch
        rows = 0


def replace_cursor(cursor: Cursor, **changes: object) -> Cursor:
    return Cursor(**{**asdict(cursor), **changes})  # type: ignore[arg-type]
