"""Text and categories as logged: one spelling for 1, 1.0 and "1", blank cells as missing, ids as text,
and a category's slot among the reference's categories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from exporter.values.keys import canonical_codes, canonical_slots


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def category_strings(values: pd.Series) -> pd.Series:
    """Categories as strings, so 1, 1.0 and "1" from JSON, CSV or Parquet agree; missing stays NA.

    Columns that hold only strings (the usual case) or only integers are converted
    without a Python call per value.
    """
    out = values.astype(object)
    mask = out.notna()
    if not mask.any():
        return out
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind == "string":
        return out
    if kind == "integer" and pd.api.types.is_integer_dtype(values.dtype):
        return values.astype(str).astype(object)
    return out.where(~mask, out[mask].map(_text))


def arrow_text(values: pd.Series) -> pa.ChunkedArray | None:
    """The Arrow array behind a column of text (pandas' Arrow-backed string dtypes), or None."""
    dtype = values.dtype
    pyarrow_text = isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"
    if isinstance(dtype, pd.ArrowDtype):
        pyarrow_text = pa.types.is_string(dtype.pyarrow_dtype) or pa.types.is_large_string(dtype.pyarrow_dtype)
    if not pyarrow_text:
        return None
    arrow = pa.array(values.array)
    return arrow if isinstance(arrow, pa.ChunkedArray) else pa.chunked_array([arrow])


def blank_as_missing(series: pd.Series) -> pd.Series:
    """``series`` with empty or blank text as missing: an empty cell is missing in every format."""
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return series
    if pd.api.types.is_string_dtype(series.dtype) and pd.api.types.infer_dtype(series, skipna=True) == "string":
        # Text only (the usual case): vectorised, no Python call per value.
        # eq(True): a missing value is not blank (fillna(False) on the object result would be a downcast).
        blank = (series.eq("") | series.str.isspace().eq(True)).to_numpy(dtype=bool)
        return series.mask(blank) if blank.any() else series
    objects = series.astype(object)
    is_text = objects.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    if not is_text.any():
        return series
    blank = np.zeros(len(objects), dtype=bool)
    blank[is_text] = objects[is_text].str.strip().eq("").to_numpy()
    return objects.mask(blank) if blank.any() else series


def arrow_codes(arrow: pa.ChunkedArray, categories: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`category_codes` of Arrow text, matched in Arrow (no Python string per value); also the text of
    the untracked values, in order. Blank text is missing, as :func:`blank_as_missing` makes it."""

    value_set = pa.array(categories, type=arrow.type)
    codes = pc.fill_null(pc.index_in(arrow, value_set=value_set), -1).to_numpy().astype(np.intp)
    codes[codes < 0] = len(categories)
    codes[~pc.is_valid(arrow).to_numpy(zero_copy_only=False)] = -1
    untracked = np.flatnonzero(codes == len(categories))
    text = np.empty(0, dtype=object)
    if untracked.size:  # a blank is never a category (the reference's blanks are missing)
        text = arrow.take(pa.array(untracked)).to_numpy(zero_copy_only=False).astype(object)
        blank = np.array([not value.strip() for value in text], dtype=bool)
        codes[untracked[blank]] = -1
        text = text[~blank]
    return codes, text


def category_codes(values: pd.Series, categories: tuple[str, ...]) -> np.ndarray:
    """Slot of each value: its reference category, ``len(categories)`` when unseen, -1 when missing.

    Strings are matched directly; only values that do not match as they are
    (numbers, booleans, bytes) are normalised with :func:`category_strings`, and where the categories are
    numbers or booleans, a value is matched by its canonical key (:func:`exporter.values.keys.canonical_slots`).
    """
    index = pd.Index(categories, dtype=object)
    codes = index.get_indexer(values.astype(object)).astype(np.intp)
    present = values.notna().to_numpy()
    unmatched = present & (codes < 0)
    if unmatched.any():
        codes[unmatched] = index.get_indexer(category_strings(values[unmatched]))
        unmatched = present & (codes < 0)
        slots = canonical_slots(categories) if unmatched.any() else None
        if slots is not None:  # 1, 1.0, "1.0", True and "true" are one value (SQLite's and CSV's)
            codes[unmatched] = canonical_codes(values[unmatched], slots)
    codes[present & (codes < 0)] = len(categories)
    codes[~present] = -1
    return codes


def clean_id(value: object) -> str | None:
    """An id as text (1, 1.0 and "1" agree); None when missing or empty."""
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        if value.is_integer():
            value = int(value)
    text = str(value).replace("\x00", "")
    return text or None


def clean_ids(series: pd.Series) -> np.ndarray:
    return np.array([clean_id(v) for v in series.tolist()], dtype=object)
