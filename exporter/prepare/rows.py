"""Values of logged rows: timestamps, numbers and categories, validated and binned once.

Used by :mod:`exporter.prepare.preparer`. It parses timestamps, rejects rows that
cannot be used at all (counted by :class:`~exporter.values.vocabulary.RejectReason`),
counts schema violations (:class:`~exporter.values.vocabulary.SchemaCheck`, SageMaker
Model Monitor's vocabulary) and bins every feature value once against the
reference bins.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from exporter.baseline.features import feature_codes
from exporter.baseline.reference import Reference
from exporter.summary.sketch import ONE_GROUP, Groups, counts_and_sums_by_row, grouped_counts
from exporter.values.numbers import all_finite, numeric_values
from exporter.values.timestamps import parse_timestamps
from exporter.values.vocabulary import RejectReason, SchemaCheck


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

    def inputs(self, predicted: np.ndarray | None = None) -> np.ndarray:
        """The rows as a nanny model's inputs, ``(rows, features [+ 1])`` float64: each numeric feature's value,
        each categorical feature's slot (its reference category, or the slots of other and new values) as a
        number, NaN where missing or not a number; then ``predicted`` when given."""
        columns = [np.where(code < self.num_bins, values, np.nan)
                   for code, values in zip(self.num_code, self.num_values, strict=True)]
        columns += [np.where(code < self.cat_bins, code, np.nan) for code in self.cat_code]
        if predicted is not None:
            columns.append(predicted)
        n = self.cat_code.shape[1]
        return np.stack(columns, axis=1).astype(np.float64, copy=False) if columns else np.zeros((n, 0))

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
    with ``sql.pushdown``, by the database (:mod:`exporter.monitor.pushdown`, one group's, without that axis):
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
        if feature.missing_tokens:
            column = feature.missing_tokens.apply(column)
        if column.dtype == np.float64:
            values = column.to_numpy()
            if all_finite(values):  # the usual column: binned as it is, no mask
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
