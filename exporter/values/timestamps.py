"""Timestamps as logged: ISO-8601 text, datetimes or epoch numbers (in any unit), as epoch seconds."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Seconds per unit of epoch timestamps.
EPOCH_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def epoch_seconds(numbers: np.ndarray, unit: str = "auto") -> np.ndarray:
    """Epoch numbers in ``unit`` as seconds; ``auto`` tells the unit by magnitude.

    An epoch in seconds stays below 1e11 until the year 5138, while any time after 1973 is
    above 1e11 in milliseconds, above 1e14 in microseconds and above 1e17 in nanoseconds, so
    the magnitude of each value names its unit.
    """
    if unit != "auto":
        return numbers * EPOCH_UNITS[unit]
    size = np.abs(numbers)
    scale = np.select([size >= 1e17, size >= 1e14, size >= 1e11], [1e-9, 1e-6, 1e-3], 1.0)
    return numbers * scale


def parse_timestamps(values: pd.Series, unit: str = "auto") -> np.ndarray:
    """Epoch seconds from ISO-8601 strings, datetimes or epoch numbers (in ``unit``); NaN where unparseable."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = pd.to_datetime(values, utc=True)
        return _epoch(stamps)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return epoch_seconds(pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan),
                             unit)
    out = np.full(len(values), np.nan)
    numbers = pd.to_numeric(values, errors="coerce")
    is_number = numbers.notna().to_numpy() & values.map(lambda v: not isinstance(v, bool)).to_numpy(dtype=bool)
    out[is_number] = epoch_seconds(numbers.to_numpy(dtype=np.float64, na_value=np.nan)[is_number], unit)
    rest = ~is_number & values.notna().to_numpy()
    if rest.any():
        text = values[rest].map(lambda v: v if isinstance(v, str) else None)
        stamps = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
        out[rest] = _epoch(stamps)
    return out


def _epoch(stamps: pd.Series) -> np.ndarray:
    result = np.full(len(stamps), np.nan)
    valid = stamps.notna().to_numpy()
    if valid.any():
        as_ns = stamps[valid].dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")
        result[valid] = as_ns.to_numpy().astype("datetime64[ns]").astype(np.int64) / 1e9
    return result
