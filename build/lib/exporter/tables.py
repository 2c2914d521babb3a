"""Whole-file table reading by format (the reference, and Parquet prediction logs)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

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


def read_table(path: str | Path, fmt: str | None = None) -> pd.DataFrame:
    """Read a whole JSONL, CSV or Parquet file into a DataFrame."""
    kind = format_of(path, fmt)
    if kind == "parquet":
        return pq.read_table(path).to_pandas()
    if kind == "csv":
        return pd.read_csv(path)
    if kind == "jsonl":
        return pd.read_json(path, lines=True)
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
