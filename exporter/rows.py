"""Values of logged rows: timestamps, numbers and categories, validated and binned once.

Used by :mod:`exporter.prepare`. It parses timestamps, rejects rows that
cannot be used at all (counted by :class:`~exporter.vocabulary.RejectReason`),
counts schema violations (:class:`~exporter.vocabulary.SchemaCheck`, SageMaker
Model Monitor's vocabulary) and bins every feature value once against the
reference bins.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from exporter.reference import CategoricalFeature, Reference, arrow_text, blank_as_missing, category_strings
from exporter.sketch import ONE_GROUP, Groups, counts_and_sums_by_row, grouped_counts
from exporter.values import canonical_codes, canonical_slots
from exporter.vocabulary import RejectReason, SchemaCheck


@dataclass
class FeatureArrays:
    """Every feature of a batch binned once: per feature, a code per logged row (numeric features an array
    each, categorical ones a row each of one array).

    A numeric value's code is its layout bin (``0 .. num_bins - 1``), ``num_bins`` when it is missing
    and ``num_bins + 1`` when it is present but not a finite number; a categorical value's code is its
    slot, ``cat_bins`` when missing. So one count per group, feature and code gives the histograms
    and the missing and invalid counts at once.
    """

    num_code: tuple[np.ndarray, ...]  # a numeric feature's codes (n each), int16 where its table binned them
    #: Each numeric feature's values (n each; a log's float column as it was read, not copied); a missing or
    #: invalid value's is any number: the histograms keep no sum for those codes.
    num_values: tuple[np.ndarray, ...]
    cat_code: np.ndarray  # (categorical features, n) int32
    num_bins: int
    cat_bins: int
    _histograms: tuple[Groups, FeatureHistograms] | None = field(default=None, repr=False, compare=False)

    @staticmethod
    def none(n: int) -> FeatureArrays:
        """``n`` rows without any feature (narrow rows, whose features the database aggregates)."""
        empty = np.zeros((0, n), dtype=np.int32)
        return FeatureArrays((), (), empty, 0, 0)

    def take(self, rows: np.ndarray | slice) -> FeatureArrays:
        return FeatureArrays(tuple(code[rows] for code in self.num_code),
                             tuple(values[rows] for values in self.num_values),
                             self.cat_code[:, rows], self.num_bins, self.cat_bins)

    def histograms(self, groups: Groups = ONE_GROUP) -> FeatureHistograms:
        """The rows' :class:`FeatureHistograms`, one per group along a leading axis (computed once, for every
        component that asks with the same ``groups``)."""
        if self._histograms is not None and self._histograms[0] is groups:
            return self._histograms[1]
        b, c = self.num_bins, self.cat_bins
        with np.errstate(over="ignore", invalid="ignore"):  # the sums of the missing and invalid codes are dropped
            counts, sums = counts_and_sums_by_row(self.num_code, b + 2, groups, self.num_values)
        cat = grouped_counts(self.cat_code, c + 1, groups)
        histograms = FeatureHistograms(counts[..., :b], sums[..., :b], counts[..., b], counts[..., b + 1],
                                       cat[..., :c], cat[..., c])
        self._histograms = (groups, histograms)
        return histograms


@dataclass(frozen=True)
class FeatureHistograms:
    """All that drift and data quality need of a group of rows: per feature, the rows in each reference bin
    (numeric: and the sum of their values), and the missing and invalid ones.

    Computed from binned rows (:meth:`FeatureArrays.histograms`, with a leading axis of groups) or,
    with ``sql.pushdown``, by the database (:mod:`exporter.pushdown`, one group's, without that axis):
    the components summarise both the same way.
    """

    num_counts: np.ndarray  # ([groups,] numeric features, bins) int64
    num_sums: np.ndarray  # ([groups,] numeric features, bins) float64
    num_missing: np.ndarray  # ([groups,] numeric features) int64
    num_invalid: np.ndarray  # ([groups,] numeric features) int64: present but not a finite number
    cat_counts: np.ndarray  # ([groups,] categorical features, slots) int64
    cat_missing: np.ndarray  # ([groups,] categorical features) int64


@dataclass
class Rejections:
    """What was not usable in a batch: rejected rows by reason, violations by (check, feature)."""

    rejected: Counter[RejectReason] = field(default_factory=Counter)
    violations: Counter[tuple[SchemaCheck, str]] = field(default_factory=Counter)


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


def _all_finite(values: np.ndarray) -> bool:
    """Whether every one of ``values`` (floats) is finite, in one pass and no mask: a NaN or an infinity makes
    their sum NaN or infinite (so does a sum beyond the largest float: such values take the general path,
    which is exact too)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.add.reduce(values)))


def feature_codes(values: pd.Series, feature: CategoricalFeature) -> np.ndarray:
    """Slot of each value of a categorical feature: its tracked category, the slot of the reference's
    other values, the slot of values the reference never had (new categories), or -1 when missing."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        # Read as a dictionary (a Parquet log's text, see FileSource.dictionary_columns): each distinct
        # value is coded once, by this same function (once per dictionary: the last one's slots are
        # kept), and the rows take their value's slot. A missing value's code is -1: the slot appended last.
        categories = values.cat.categories
        dictionary = tuple(categories.tolist())
        # Kept only for text: 1, 1.0 and True are equal keys, whose texts (and so slots) differ.
        text = all(type(value) is str for value in dictionary)
        slots = feature.dictionary_slots.get(dictionary) if text else None
        if slots is None:
            slots = np.append(feature_codes(pd.Series(categories), feature), -1)
            if text:
                feature.dictionary_slots.clear()
                feature.dictionary_slots[dictionary] = slots
        return np.take(slots, values.array.codes)
    arrow = arrow_text(values)
    if arrow is not None:
        codes, untracked_text = _arrow_codes(arrow, feature.categories)
    else:
        codes = category_codes(blank_as_missing(values), feature.categories)
        untracked_text = None
    untracked = np.flatnonzero(codes == len(feature.categories))
    if untracked.size and feature.canonical_slots is not None and arrow is not None:
        # Numbers and booleans written otherwise than in the reference (CSV text "1.0" for the code 1).
        # (category_codes, the other path, has tried this already.)
        slots = canonical_codes(values.iloc[untracked], feature.canonical_slots)
        codes[untracked[slots >= 0]] = slots[slots >= 0]
        untracked, untracked_text = untracked[slots < 0], untracked_text[slots < 0]
    if untracked.size:
        text = untracked_text if untracked_text is not None else \
            category_strings(values.iloc[untracked]).to_numpy(dtype=object)
        known = feature.known.contains(text) if feature.known is not None else np.zeros(text.size, dtype=bool)
        codes[untracked[~known]] = feature.unseen_slot
    return codes


def _arrow_codes(arrow: pa.ChunkedArray, categories: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`category_codes` of Arrow text, matched in Arrow (no Python string per value); also the text of
    the untracked values, in order. Blank text is missing, as :func:`blank_as_missing` makes it."""
    import pyarrow.compute as pc

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
    numbers or booleans, a value is matched by its canonical key (:func:`exporter.values.canonical_slots`).
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


def validate_timestamps(
    frame: pd.DataFrame,
    timestamp_column: str,
    known_columns: frozenset[str],
    now: float,
    max_clock_skew: float,
    max_age: float = float("inf"),
    unit: str = "auto",
) -> tuple[pd.DataFrame, np.ndarray, Rejections]:
    """The rows of ``frame`` with a usable timestamp, their epoch seconds, and what was rejected.

    Rows stamped more than ``max_clock_skew`` in the future, or more than
    ``max_age`` in the past (older than every window), are rejected; columns
    the model does not know are counted as ``extra_column`` violations.
    """
    issues = Rejections()
    n = len(frame)
    for column in frame.columns:
        if column not in known_columns:
            present = int(frame[column].notna().sum())
            if present:
                issues.violations[(SchemaCheck.EXTRA_COLUMN, "")] += present
    if timestamp_column not in frame.columns:
        issues.rejected[RejectReason.MISSING_TIMESTAMP] += n
        issues.violations[(SchemaCheck.MISSING_COLUMN, timestamp_column)] += n
        return frame.iloc[0:0].reset_index(drop=True), np.zeros(0), issues
    raw_ts = frame[timestamp_column]
    ts = parse_timestamps(raw_ts, unit)
    missing_ts = raw_ts.isna().to_numpy()
    bad_ts = ~missing_ts & ~np.isfinite(ts)
    future = np.isfinite(ts) & (ts > now + max_clock_skew)
    old = np.isfinite(ts) & (ts <= now - max_age)
    issues.rejected[RejectReason.MISSING_TIMESTAMP] += int(missing_ts.sum())
    issues.rejected[RejectReason.BAD_TIMESTAMP] += int(bad_ts.sum())
    issues.rejected[RejectReason.FUTURE_TIMESTAMP] += int(future.sum())
    issues.rejected[RejectReason.TOO_OLD] += int(old.sum())
    keep = ~(missing_ts | bad_ts | future | old)
    issues.rejected = +issues.rejected
    if not keep.all():
        frame = frame.loc[keep].reset_index(drop=True)
        ts = ts[keep]
    return frame, ts, issues


def bin_features(frame: pd.DataFrame, reference: Reference, issues: Rejections) -> FeatureArrays:
    """Bin every feature of ``frame`` against ``reference``; missing columns and bad types are counted."""
    n = len(frame)
    num_bins, cat_bins = reference.num_bins, reference.cat_bins
    missing_code, invalid_code = num_bins, num_bins + 1
    num_code: list[np.ndarray] = []
    num_values: list[np.ndarray] = []
    for feature in reference.numeric:
        if feature.name not in frame.columns:
            num_code.append(np.full(n, missing_code, dtype=np.intp))
            num_values.append(np.zeros(n))
            if n:
                issues.violations[(SchemaCheck.MISSING_COLUMN, feature.name)] += n
            continue
        column = frame[feature.name]
        if column.dtype == np.float64:
            values = column.to_numpy()
            if _all_finite(values):  # the usual column: binned as it is, no mask
                num_code.append(feature.binner(values, finite=True))
                num_values.append(values)
                continue
        values, missing, invalid = numeric_values(column)
        if invalid.any():
            issues.violations[(SchemaCheck.DATA_TYPE, feature.name)] += int(invalid.sum())
        ok = ~missing & ~invalid
        if ok.all():
            num_code.append(feature.binner(values))
        else:
            code = np.where(missing, missing_code, invalid_code)
            code[ok] = feature.binner(values[ok])
            num_code.append(code)
        num_values.append(values)

    cat_code = np.full((len(reference.categorical), n), cat_bins, dtype=np.int32)
    for j, cat in enumerate(reference.categorical):
        if cat.name not in frame.columns:
            if n:
                issues.violations[(SchemaCheck.MISSING_COLUMN, cat.name)] += n
            continue
        codes = feature_codes(frame[cat.name], cat)
        cat_code[j] = np.where(codes < 0, cat_bins, codes)
    return FeatureArrays(tuple(num_code), tuple(num_values), cat_code, num_bins, cat_bins)
