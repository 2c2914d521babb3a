"""Numbers as logged: values with their missing and invalid masks, whatever the column's type."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exporter.values.text import blank_as_missing


def numeric_values(series: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values, missing mask and invalid mask (present but not a finite number) of ``series``.

    Empty or blank text is missing, as an empty CSV cell is."""
    if series.dtype == np.float64:  # the usual column (NumPy floats): NaN is missing, an infinity invalid
        values = series.to_numpy(copy=True)
        return values, np.isnan(values), np.isinf(values)
    series = blank_as_missing(series)
    missing = series.isna().to_numpy()
    if pd.api.types.is_bool_dtype(series.dtype):
        values = series.astype(np.float64).to_numpy()
        return values, missing, np.zeros(len(series), dtype=bool)
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        booleans = series.map(lambda v: isinstance(v, bool)).to_numpy(dtype=bool)
        values = pd.to_numeric(series.where(~booleans), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    invalid = ~missing & ~np.isfinite(values)
    return values, missing, invalid


def all_finite(values: np.ndarray) -> bool:
    """Whether every one of ``values`` (floats) is finite, in one pass and no mask: a NaN or an infinity makes
    their sum NaN or infinite (so does a sum beyond the largest float: such values take the general path,
    which is exact too)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.add.reduce(values)))
