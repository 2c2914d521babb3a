"""From raw rows to a validated, binned :class:`Batch`.

This is the only place that looks at individual values. It parses
timestamps, rejects rows that cannot be used at all (counted by reason),
counts schema violations by check name (SageMaker Model Monitor's vocabulary:
``missing_column``, ``extra_column``, ``data_type``) and bins every feature
value once against the reference bins.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from exporter.reference import Reference, bin_index, category_strings
from exporter.tables import normalized

#: Rejection reasons (``model_monitor_rejected_rows_total{reason}``).
MISSING_TIMESTAMP = "missing_timestamp"
BAD_TIMESTAMP = "bad_timestamp"
FUTURE_TIMESTAMP = "future_timestamp"
TOO_OLD = "too_old"
DUPLICATE_ID = "duplicate_id"
MALFORMED_JSON = "malformed_json"
MALFORMED_CSV = "malformed_csv"
UNREADABLE_FILE = "unreadable_file"

#: Violation checks (``model_data_quality_violations_total{check}``).
MISSING_COLUMN = "missing_column"
EXTRA_COLUMN = "extra_column"
DATA_TYPE = "data_type"


@dataclass
class Batch:
    """Rows ready to summarise: everything is a numpy array with one entry per row."""

    ts: np.ndarray
    num_index: np.ndarray  # (numeric features, n) layout bin, -1 when missing or invalid
    num_values: np.ndarray  # (numeric features, n) value, 0 where the index is -1
    num_missing: np.ndarray  # (numeric features, n) bool
    num_invalid: np.ndarray  # (numeric features, n) bool: present but not a finite number
    cat_index: np.ndarray  # (categorical features, n) category slot, -1 when missing
    frame: pd.DataFrame  # the accepted rows, for the model's other columns

    def __len__(self) -> int:
        return int(self.ts.size)

    def take(self, rows: np.ndarray | slice, with_frame: bool = True) -> Batch:
        """The rows selected by a boolean mask, an index array or a ``slice`` (views for slices).

        ``with_frame=False`` leaves the raw frame behind (empty) when only the binned arrays are needed.
        """
        if isinstance(rows, np.ndarray) and rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return Batch(
            ts=self.ts[rows],
            num_index=self.num_index[:, rows],
            num_values=self.num_values[:, rows],
            num_missing=self.num_missing[:, rows],
            num_invalid=self.num_invalid[:, rows],
            cat_index=self.cat_index[:, rows],
            frame=self.frame.iloc[rows] if with_frame else self.frame.iloc[0:0],
        )


@dataclass
class Rejections:
    """What was not usable in a batch: rejected rows by reason, violations by (check, feature)."""

    rejected: Counter[str] = field(default_factory=Counter)
    violations: Counter[tuple[str, str]] = field(default_factory=Counter)


def parse_timestamps(values: pd.Series) -> np.ndarray:
    """Epoch seconds from ISO-8601 strings, datetimes or epoch seconds; NaN where unparseable."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = pd.to_datetime(values, utc=True)
        return _epoch(stamps)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    out = np.full(len(values), np.nan)
    numbers = pd.to_numeric(values, errors="coerce")
    is_number = numbers.notna().to_numpy() & values.map(lambda v: not isinstance(v, bool)).to_numpy(dtype=bool)
    out[is_number] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)[is_number]
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


def numeric_values(series: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values, missing mask and invalid mask (present but not a finite number) of ``series``."""
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


def category_codes(values: pd.Series, categories: tuple[str, ...]) -> np.ndarray:
    """Slot of each value: its reference category, ``len(categories)`` when unseen, -1 when missing.

    Strings are matched directly; only values that do not match as they are
    (numbers, booleans, bytes) are normalised with :func:`category_strings`.
    """
    index = pd.Index(categories, dtype=object)
    codes = index.get_indexer(values.astype(object)).astype(np.intp)
    present = values.notna().to_numpy()
    unmatched = present & (codes < 0)
    if unmatched.any():
        codes[unmatched] = index.get_indexer(category_strings(values[unmatched]))
    codes[present & (codes < 0)] = len(categories)
    codes[~present] = -1
    return codes


def prepare(
    frame: pd.DataFrame,
    reference: Reference,
    timestamp_column: str,
    known_columns: frozenset[str],
    now: float,
    max_clock_skew: float,
    max_age: float = float("inf"),
) -> tuple[Batch, Rejections]:
    """Validate ``frame`` and bin it against ``reference``; unusable rows are counted, not raised.

    Rows stamped more than ``max_clock_skew`` in the future, or more than
    ``max_age`` in the past (older than every window), are rejected.
    """
    issues = Rejections()
    frame = normalized(frame)
    n = len(frame)
    for column in frame.columns:
        if column not in known_columns:
            present = int(frame[column].notna().sum())
            if present:
                issues.violations[(EXTRA_COLUMN, "")] += present
    if timestamp_column not in frame.columns:
        issues.rejected[MISSING_TIMESTAMP] += n
        issues.violations[(MISSING_COLUMN, timestamp_column)] += n
        return _empty_batch(reference, frame.iloc[0:0]), issues
    raw_ts = frame[timestamp_column]
    ts = parse_timestamps(raw_ts)
    missing_ts = raw_ts.isna().to_numpy()
    bad_ts = ~missing_ts & ~np.isfinite(ts)
    future = np.isfinite(ts) & (ts > now + max_clock_skew)
    old = np.isfinite(ts) & (ts <= now - max_age)
    issues.rejected[MISSING_TIMESTAMP] += int(missing_ts.sum())
    issues.rejected[BAD_TIMESTAMP] += int(bad_ts.sum())
    issues.rejected[FUTURE_TIMESTAMP] += int(future.sum())
    issues.rejected[TOO_OLD] += int(old.sum())
    keep = ~(missing_ts | bad_ts | future | old)
    issues.rejected = +issues.rejected
    if not keep.all():
        frame = frame.loc[keep].reset_index(drop=True)
        ts = ts[keep]
    n = len(frame)

    n_num = len(reference.numeric)
    num_index = np.full((n_num, n), -1, dtype=np.int32)
    num_values = np.zeros((n_num, n))
    num_missing = np.zeros((n_num, n), dtype=bool)
    num_invalid = np.zeros((n_num, n), dtype=bool)
    for i, feature in enumerate(reference.numeric):
        if feature.name not in frame.columns:
            num_missing[i] = True
            if n:
                issues.violations[(MISSING_COLUMN, feature.name)] += n
            continue
        values, missing, invalid = numeric_values(frame[feature.name])
        num_missing[i] = missing
        num_invalid[i] = invalid
        if invalid.any():
            issues.violations[(DATA_TYPE, feature.name)] += int(invalid.sum())
        ok = ~missing & ~invalid
        num_index[i, ok] = bin_index(feature.edges, values[ok])
        num_values[i, ok] = values[ok]

    n_cat = len(reference.categorical)
    cat_index = np.full((n_cat, n), -1, dtype=np.int32)
    for j, cat in enumerate(reference.categorical):
        if cat.name not in frame.columns:
            if n:
                issues.violations[(MISSING_COLUMN, cat.name)] += n
            continue
        cat_index[j] = category_codes(frame[cat.name], cat.categories)

    batch = Batch(ts, num_index, num_values, num_missing, num_invalid, cat_index, frame)
    return batch, issues


def _empty_batch(reference: Reference, frame: pd.DataFrame) -> Batch:
    n_num, n_cat = len(reference.numeric), len(reference.categorical)
    return Batch(
        ts=np.zeros(0),
        num_index=np.zeros((n_num, 0), dtype=np.int32),
        num_values=np.zeros((n_num, 0)),
        num_missing=np.zeros((n_num, 0), dtype=bool),
        num_invalid=np.zeros((n_num, 0), dtype=bool),
        cat_index=np.zeros((n_cat, 0), dtype=np.int32),
        frame=frame.reset_index(drop=True),
    )
