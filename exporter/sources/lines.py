"""JSON Lines and CSV files read by byte offset: complete lines only, the next chunk of a long file read and
parsed in a thread while the current one is ingested, small files parsed together.

:class:`LineReading` is the part of :class:`~exporter.sources.files.FileSource` that reads lines; the
source itself finds the files and keeps their cursors.
"""

from __future__ import annotations

import gzip
import os
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from exporter.sources.cursors import Chunk, Cursor, TrackedFile, replace_cursor
from exporter.sources.tables import InputLimits, parse_csv, parse_jsonl
from exporter.values.vocabulary import RejectReason

#: Small files read to their end are parsed together in texts of about this size: one parse and one ingest for
#: thousands of them, and the texts and their parts in memory at once stay small.
PARSE_TOGETHER_BYTES = 4 * 1024 * 1024


#: The thread that reads and parses the next chunk of a long JSON Lines or CSV file while the caller
#: ingests the current one (reading, and Arrow's parsers, release the GIL).
_LINES_AHEAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lines")


#: What :func:`_read_and_parse` returns: the bytes read, and the rows of their complete lines with what
#: was rejected of them (None when they hold no complete line).
_ReadLines = tuple[bytes, tuple[pd.DataFrame, Counter[str]] | None]


@dataclass
class LinesAhead:
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


class LineReading:
    """Reading the lines of JSON Lines and CSV files (a base of :class:`~exporter.sources.files.FileSource`)."""

    limits: InputLimits
    text_columns: frozenset[str]
    max_bytes: int
    _lines_ahead: dict[str, LinesAhead]

    def _identified(self, f: TrackedFile, cursor: Cursor, offset: int) -> Cursor:
        raise NotImplementedError

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

    def _read_lines(self, f: TrackedFile, kind: str, cursor: Cursor) -> Chunk | None:
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
            self._lines_ahead[f.real] = LinesAhead(
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
