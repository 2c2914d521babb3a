"""Table formats: parsing JSON Lines and CSV, and whole-file reading (the reference, Parquet logs).

The reference and the prediction logs go through the same parsers, so a value is read alike
wherever it comes from: an empty cell is missing, and the columns the model treats as text
(categorical features, segments, ids) stay text in CSV.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from exporter.values.vocabulary import RejectReason

FORMATS = ("jsonl", "csv", "parquet")
_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def format_of(path: str | Path, override: str | None = None) -> str | None:
    """The table format of ``path`` (``override`` wins); None when the extension is unknown.

    Rotated names count as their log's: ``app.jsonl.1``, ``app.jsonl.1.gz``, ``app.csv-20261123``.
    """
    if override is not None:
        return override
    name = Path(path).name.lower()
    name = name.removesuffix(".gz")
    stem, _, last = name.rpartition(".")
    while stem and last.isdigit():  # a rotation number
        stem, _, last = stem.rpartition(".")
    kind = _EXTENSIONS.get(f".{last}")
    if kind is None and "-" in last:  # a dated copy: app.jsonl-20261123
        kind = _EXTENSIONS.get(f".{last.split('-', 1)[0]}")
    return kind


def read_table(path: str | Path, fmt: str | None = None, text_columns: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Read a whole JSONL, CSV or Parquet file into a DataFrame, with the readers the logs use, so a
    reference and a log are read alike (empty cells missing, ``text_columns`` as text)."""
    kind = format_of(path, fmt)
    if kind == "parquet":
        return pq.read_table(path).to_pandas(split_blocks=True)
    if kind == "csv":
        data = Path(path).read_bytes()
        header, _, rows = data.partition(b"\n")
        rejected: Counter[str] = Counter()
        frame = parse_csv(header.decode("utf-8", "replace").strip("\r"), rows, rejected, text_columns)
        if rejected:
            raise ValueError(f"{sum(rejected.values())} malformed CSV rows")
        if frame.empty and not len(frame.columns):
            frame = pd.DataFrame(columns=next(csv.reader([header.decode("utf-8", "replace").strip("\r")])))
        return frame
    if kind == "jsonl":
        rejected = Counter()
        frame = parse_jsonl(Path(path).read_bytes(), rejected)
        if rejected:
            raise ValueError(f"{sum(rejected.values())} lines that are not JSON objects")
        return frame
    raise ValueError(f"{path}: unknown table format; use a .jsonl, .csv or .parquet file")


def normalized(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its column names as Python strings in a plain (object) index and a 0..n-1 row index,
    copying no data.

    pandas 3 names the columns of a frame made from Arrow with Arrow-backed text, and looking a column
    up by name then makes an Arrow scalar of its name every time: 20-50 us for each column of each batch
    (about a twentieth of the large check's ingest)."""
    index = frame.index
    if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
        frame = frame.reset_index(drop=True)
    columns = frame.columns
    if columns.dtype != object or not all(isinstance(c, str) for c in columns):
        frame = frame.copy(deep=False)
        frame.columns = pd.Index([str(c) for c in columns], dtype=object)
    return frame


@dataclass(frozen=True)
class InputLimits:
    """What one logged line may hold; beyond it the line is skipped and counted, never parsed."""

    #: A line longer than this without its newline is skipped as malformed.
    max_line_bytes: int = 16 * 1024 * 1024
    #: Deepest nesting of objects and arrays in a JSON line (``too_complex`` beyond).
    max_depth: int = 64
    #: Most keys of a JSON line's object (``too_complex`` beyond).
    max_keys: int = 10_000


DEFAULT_LIMITS = InputLimits()


def _blank(data: bytes | memoryview) -> bool:
    """Whether ``data`` holds only whitespace; unlike ``not data.strip()``, stops at the first other byte
    and copies nothing (a chunk of JSON Lines is tens of megabytes)."""
    if isinstance(data, memoryview):
        # A view of a chunk: its first bytes almost always decide; copied whole only when they are blank.
        if len(data) and not bytes(data[:256]).isspace():
            return False
        data = bytes(data)
    return not data or data.isspace()


#: Bytes :func:`_guarded_lines` scans at once (its scratch array stays in the CPU's cache).
GUARD_BLOCK = 1 << 20


def _guarded_lines(data: bytes, limits: InputLimits, block_size: int = GUARD_BLOCK) -> np.ndarray:
    """Indexes of the lines that the fast parser must not see: more opening brackets than ``max_depth``
    (they may nest deeper: a parser written in C recursing 100,000 deep crashes the process) or long
    enough to hold more than ``max_keys`` keys. Found without parsing, in time linear in the bytes."""
    raw = np.frombuffer(data, dtype=np.uint8)
    # Block by block through one small scratch array: arrays the size of a chunk (tens of MiB) would each
    # cost their page faults, more than the comparisons themselves.
    scratch = np.empty(min(raw.size, block_size), dtype=np.uint8)
    found_newlines, found_brackets = [np.zeros(0, dtype=np.intp)], [np.zeros(0, dtype=np.intp)]
    for start in range(0, raw.size, block_size):
        block = raw[start:start + block_size]
        work = scratch[:block.size]
        mask = work.view(bool)
        found_newlines.append(np.flatnonzero(np.equal(block, 10, out=mask)) + start)
        # { (0x7B) and [ (0x5B) are the only bytes that bit 0x20 makes 0x7B: one comparison finds both.
        np.bitwise_or(block, 0x20, out=work)
        found_brackets.append(np.flatnonzero(np.equal(work, 0x7B, out=mask)) + start)
    newlines, brackets = np.concatenate(found_newlines), np.concatenate(found_brackets)
    per_line = np.bincount(np.searchsorted(newlines, brackets), minlength=newlines.size + 1)
    lengths = np.diff(np.concatenate([[-1], newlines, [raw.size]]))
    return np.flatnonzero((per_line > limits.max_depth) | (lengths > 4 * limits.max_keys))


def _depth(value: object, limit: int) -> int:
    """Nesting depth of a parsed JSON value, counted without recursion (stops past ``limit``)."""
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= limit:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _parse_line(line: bytes, rejected: Counter[str], limits: InputLimits) -> dict | None:
    """One JSON line parsed by Python's parser, within the limits; None (counted) when it is not a usable object."""
    try:
        value = json.loads(line)
    except RecursionError:
        rejected[RejectReason.TOO_COMPLEX] += 1
        return None
    except (ValueError, UnicodeDecodeError):
        rejected[RejectReason.MALFORMED_JSON] += 1
        return None
    if not isinstance(value, dict):
        rejected[RejectReason.MALFORMED_JSON] += 1
        return None
    if len(value) > limits.max_keys or _depth(value, limits.max_depth) > limits.max_depth:
        rejected[RejectReason.TOO_COMPLEX] += 1
        return None
    return value


def parse_jsonl(data: bytes | memoryview, rejected: Counter[str], limits: InputLimits = DEFAULT_LIMITS) -> pd.DataFrame:
    """Rows of JSON Lines ``data`` (bytes, or a view of a chunk's complete lines: no copy); lines that are not
    a JSON object, or beyond ``limits``, are counted in ``rejected``. Lines that could be beyond the limits
    never reach the fast parser."""
    if _blank(data):
        return pd.DataFrame()
    guarded = _guarded_lines(data, limits)
    if guarded.size:
        data = bytes(data)  # lines set apart: bytes' own methods (no copy when it is bytes already)
        lines = data.split(b"\n")
        keep = np.ones(len(lines), dtype=bool)
        keep[guarded] = False
        records = [r for i in guarded.tolist() if lines[i].strip()
                   if (r := _parse_line(lines[i], rejected, limits)) is not None]
        rest = b"\n".join(line for line, k in zip(lines, keep.tolist(), strict=True) if k)
        frames = [] if _blank(rest) else [parse_jsonl(rest, rejected, limits)]
        if records:
            frames.append(_records_frame(records))
        frames = [f for f in frames if len(f) or len(f.columns)]  # a row with no field is a row (rejected later)
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else (frames[0] if frames else pd.DataFrame())
    try:
        # Blocks of 16 MiB, or the size of the data when smaller: Arrow allocates a whole block for each read.
        block = min(1 << 24, max(len(data), 1 << 10))
        table = pajson.read_json(pa.BufferReader(data), read_options=pajson.ReadOptions(block_size=block))
        if not any(pa.types.is_nested(t) for t in table.schema.types):
            return table.to_pandas(split_blocks=True)
    except (pa.ArrowException, ValueError):
        pass
    records = []
    for line in bytes(data).split(b"\n"):
        if not _blank(line) and (record := _parse_line(line, rejected, limits)) is not None:
            records.append(record)
    return _records_frame(records)


def _records_frame(records: list[dict]) -> pd.DataFrame:
    """Parsed JSON objects as a frame; nested values kept as their JSON text."""
    # pd.DataFrame, not from_records: objects with no field ({}) must stay rows (rejected later, counted).
    frame = pd.DataFrame(records) if records else pd.DataFrame()
    for column in frame.columns:
        if frame[column].map(lambda v: isinstance(v, dict | list)).any():
            frame[column] = frame[column].map(lambda v: json.dumps(v) if isinstance(v, dict | list) else v)
    return frame


def _is_utf8(data: bytes | memoryview) -> bool:
    """Whether ``data`` is valid UTF-8 (as Python's strict decoder says), checked where it lies: Arrow
    validates the bytes as one string value, without decoding or copying them."""
    buffer = pa.py_buffer(data)
    offsets = pa.py_buffer(np.array([0, buffer.size], dtype=np.int64))
    try:
        pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, buffer]).cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True


def parse_csv(header: str, data: bytes | memoryview, rejected: Counter[str],
              text_columns: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Rows of CSV ``data`` under ``header``; ragged rows are counted in ``rejected``.

    An empty cell is missing in every column, and nothing else is (``NA``, ``null`` or ``N/A`` are values, as
    in the other formats); ``text_columns`` are read as text, never as numbers (a code "01234" stays
    "01234"). ``data`` is parsed where it lies (a chunk of tens of megabytes is neither decoded nor copied:
    its UTF-8 is checked by Arrow, the header's names read on their own). Data Arrow refuses, bad UTF-8
    included, is parsed line by line instead.
    """
    if _blank(data):
        return pd.DataFrame()
    if not _is_utf8(data):
        return _parse_csv_slowly(header, bytes(data), rejected, text_columns)
    bad = 0

    def _skip(row: pacsv.InvalidRow) -> str:
        nonlocal bad
        bad += 1
        return "skip"

    try:
        names = pacsv.read_csv(io.BytesIO(header.encode() + b"\n")).column_names
        table = pacsv.read_csv(
            pa.BufferReader(data),
            parse_options=pacsv.ParseOptions(invalid_row_handler=_skip, newlines_in_values=False),
            read_options=pacsv.ReadOptions(block_size=1 << 24, column_names=names),
            # Only an empty cell is missing: Arrow's default null tokens (NA, N/A, null, NaN, #N/A, ...) are values,
            # as they are in JSON Lines and Parquet ("NA" is Namibia). A float column's NaN stays NaN (missing).
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in text_columns},
                                                 null_values=[""], strings_can_be_null=True),
        )
        frame = table.to_pandas(split_blocks=True)
    except (pa.ArrowException, ValueError, UnicodeDecodeError):
        return _parse_csv_slowly(header, bytes(data), rejected, text_columns)
    if bad:
        rejected[RejectReason.MALFORMED_CSV] += bad
    return frame


def _parse_csv_slowly(header: str, data: bytes, rejected: Counter[str],
                      text_columns: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Line by line with the csv module, for data pyarrow refuses (bad UTF-8, NUL bytes)."""
    try:
        names = next(csv.reader([header]))
    except (csv.Error, StopIteration):
        rejected[RejectReason.MALFORMED_CSV] += sum(1 for line in data.split(b"\n") if line.strip())
        return pd.DataFrame()
    records = []
    for line in data.decode("utf-8", "replace").split("\n"):
        if not line.strip():
            continue
        try:
            row = next(csv.reader([line]))
        except (csv.Error, StopIteration):
            rejected[RejectReason.MALFORMED_CSV] += 1
            continue
        if len(row) != len(names) or any("\x00" in v or "\ufffd" in v for v in row):
            rejected[RejectReason.MALFORMED_CSV] += 1
            continue
        records.append(row)
    frame = pd.DataFrame(records, columns=names)
    for column in frame.columns:
        if column in text_columns:
            continue
        converted = pd.to_numeric(frame[column], errors="coerce")
        if converted.notna().sum() == (frame[column] != "").sum():
            frame[column] = converted
    return frame.replace("", None)
