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
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from exporter.vocabulary import RejectReason

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
    """The table format of ``path`` (``override`` wins); None when the extension is unknown."""
    if override is not None:
        return override
    return _EXTENSIONS.get(Path(path).suffix.lower())


def read_table(path: str | Path, fmt: str | None = None, text_columns: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Read a whole JSONL, CSV or Parquet file into a DataFrame, with the readers the logs use, so a
    reference and a log are read alike (empty cells missing, ``text_columns`` as text)."""
    kind = format_of(path, fmt)
    if kind == "parquet":
        return pq.read_table(path).to_pandas()
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
    """``frame`` with string column names and a 0..n-1 index, copying no data when it already has them."""
    index = frame.index
    if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
        frame = frame.reset_index(drop=True)
    if not all(isinstance(c, str) for c in frame.columns):
        frame = frame.copy(deep=False)
        frame.columns = [str(c) for c in frame.columns]
    return frame


def parse_jsonl(data: bytes, rejected: Counter[str]) -> pd.DataFrame:
    """Rows of JSON Lines ``data``; lines that are not a JSON object are counted in ``rejected``."""
    if not data.strip():
        return pd.DataFrame()
    try:
        table = pajson.read_json(io.BytesIO(data), read_options=pajson.ReadOptions(block_size=1 << 24))
        if not any(pa.types.is_nested(t) for t in table.schema.types):
            return table.to_pandas()
    except (pa.ArrowException, ValueError):
        pass
    records = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            rejected[RejectReason.MALFORMED_JSON] += 1
            continue
        if not isinstance(value, dict):
            rejected[RejectReason.MALFORMED_JSON] += 1
            continue
        records.append(value)
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    for column in frame.columns:
        if frame[column].map(lambda v: isinstance(v, dict | list)).any():
            frame[column] = frame[column].map(lambda v: json.dumps(v) if isinstance(v, dict | list) else v)
    return frame


def parse_csv(header: str, data: bytes, rejected: Counter[str],
              text_columns: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Rows of CSV ``data`` under ``header``; ragged rows are counted in ``rejected``.

    An empty cell is missing in every column, and ``text_columns`` are read as text, never as
    numbers (a code "01234" stays "01234").
    """
    if not data.strip():
        return pd.DataFrame()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return _parse_csv_slowly(header, data, rejected, text_columns)
    bad = 0

    def _skip(row: pacsv.InvalidRow) -> str:
        nonlocal bad
        bad += 1
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(header.encode() + b"\n" + data),
            parse_options=pacsv.ParseOptions(invalid_row_handler=_skip, newlines_in_values=False),
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in text_columns},
                                                 strings_can_be_null=True),
        )
        frame = table.to_pandas()
    except (pa.ArrowException, ValueError, UnicodeDecodeError):
        frame = _parse_csv_slowly(header, data, rejected, text_columns)
        return frame
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
