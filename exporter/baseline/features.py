"""A reference feature's bins: numeric quantile bins, categorical slots, and how a logged value finds its bin.

The reference is read once at start. From it come, per numeric feature, the
bin edges every later row is counted against, and per categorical feature the
set of known categories. Everything a drift statistic needs from the reference
is kept here as counts, so the raw reference can be dropped afterwards.

Bins. Numeric features get ``FINE_BINS`` (200) reference quantile bins plus an
underflow and an overflow bin for values outside the reference range. KS is
computed on these fine bins, which bounds its error by the largest reference
bin mass, ``1/200 = 0.005`` on continuous data (see
:func:`exporter.stats.methods.ks.ks_statistic`). A feature with at most 100 distinct
reference values (discrete data, or a small reference) gets a bin per value and
one per gap between values instead, which makes KS exact. The methods that read deciles (PSI, JS, the
chi-square tests, ...: :mod:`exporter.stats.methods`) use ``COARSE_BINS`` (10)
reference deciles, obtained by merging groups of fine bins (with at most 10
distinct values, one bin per value), plus the same under- and overflow bins.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

import numpy as np
import pandas as pd

from exporter.baseline.known_values import KnownValues
from exporter.stats.binning import EdgeTable
from exporter.stats.drift_null import DriftCalibration
from exporter.stats.methods import Bins, get
from exporter.stats.reference_bins import (
    COARSE_BINS,
    FINE_BINS,
    coarse_starts,
    discrete_bins,
    numeric_bins,
    population_std,
    reference_quantiles,
    sorted_counts,
)
from exporter.values.keys import canonical_codes, canonical_slots
from exporter.values.missing import MissingTokens, tokens
from exporter.values.text import arrow_codes, arrow_text, blank_as_missing, category_codes, category_strings

log = logging.getLogger(__name__)

#: Numeric features with at most this many distinct reference values get a bin per value and per gap.
DISCRETE_VALUES = FINE_BINS // 2


@dataclass(frozen=True, eq=False)
class NumericFeature:
    """A numeric feature binned on reference quantiles.

    ``edges`` has ``B + 1`` increasing values (``edges[0]`` is the reference
    minimum, ``edges[-1]`` its maximum); count arrays have ``B + 2`` entries.
    """

    name: str
    method: str
    threshold: float
    edges: np.ndarray
    #: Start indices (into the ``B + 2`` layout) of the coarse bins, for ``np.add.reduceat``.
    coarse_starts: np.ndarray
    reference_counts: np.ndarray
    reference_sums: np.ndarray
    reference_std: float
    #: Share of the reference's rows where the feature is missing.
    missing_ratio: float
    #: False when the reference has no finite value: only data quality is computed.
    usable: bool
    #: The calibrated drift rule; None when ``threshold`` is fixed (see exporter.stats.drift_null).
    calibration: DriftCalibration | None = None
    #: Tokens that count as missing (``missing_values``), as text; the reference was read with them.
    missing_values: tuple[str, ...] = ()

    @property
    def n_bins(self) -> int:
        return len(self.edges) + 1

    @cached_property
    def missing_tokens(self) -> MissingTokens:
        return tokens(self.missing_values)

    @cached_property
    def binner(self) -> EdgeTable:
        """:func:`~exporter.stats.binning.bin_index` against ``edges``, by table lookup (built on first use)."""
        return EdgeTable(self.edges)

    def coarse(self, counts: np.ndarray) -> np.ndarray:
        """Merge fine-bin ``counts`` (last axis) into the coarse decile layout."""
        return np.add.reduceat(counts, self.coarse_starts, axis=-1)

    @property
    def distinct_values(self) -> int:
        """The reference's distinct values: exact up to ``DISCRETE_VALUES`` (a bin per value and per gap), else
        ``DISCRETE_VALUES + 1``."""
        if not self.usable:
            return 0
        edges = self.edges
        if edges.size % 2 == 0 and np.array_equal(edges[1::2], np.nextafter(edges[0::2], np.inf)):
            return edges.size // 2
        return DISCRETE_VALUES + 1

    def in_range(self, counts: np.ndarray) -> np.ndarray:
        """Coarse ``counts`` (last axis) with the under- and overflow bins merged into the first and last decile."""
        if counts.shape[-1] < 4:
            return counts
        merged = counts[..., 1:-1].copy()
        merged[..., 0] += counts[..., 0]
        merged[..., -1] += counts[..., -1]
        return merged

    def method_layout(self, counts: np.ndarray) -> np.ndarray:
        """Fine-bin ``counts`` or sums (last axis) in the layout the feature's drift method reads."""
        method = get(self.method)
        if method.fine:
            return counts
        coarse = self.coarse(counts)
        return coarse if method.range_bins else self.in_range(coarse)

    @cached_property
    def method_bins(self) -> Bins:
        """The reference as the feature's drift method reads it: the fine bins with their sums and edges, or
        the coarse deciles."""
        if get(self.method).fine:
            return Bins(self.reference_counts, self.reference_sums, self.edges, self.reference_std)
        return Bins(self.method_layout(self.reference_counts), self.method_layout(self.reference_sums), None,
                    self.reference_std)


@dataclass(frozen=True, eq=False)
class CategoricalFeature:
    """A categorical feature: the tracked categories (the most frequent), then two slots.

    Slot ``len(categories)`` counts values the reference had beyond the tracked ones
    (``max_categories``): they take part in drift as one bin, and are not new. Slot
    ``len(categories) + 1`` counts values the reference never had: new categories.
    """

    name: str
    method: str
    threshold: float
    categories: tuple[str, ...]
    reference_counts: np.ndarray
    missing_ratio: float
    usable: bool
    #: Every value of the reference, for telling a rare value from a new one.
    known: KnownValues | None = None
    #: The calibrated drift rule; None when ``threshold`` is fixed (see exporter.stats.drift_null).
    calibration: DriftCalibration | None = None
    #: Good-Turing estimate of the share of values a new sample has never seen in the reference:
    #: the reference's values seen once, over its present values.
    unseen_rate: float = 0.0
    #: Tokens that count as missing (``missing_values``), as text; the reference was read with them.
    missing_values: tuple[str, ...] = ()

    @cached_property
    def missing_tokens(self) -> MissingTokens:
        return tokens(self.missing_values)

    @property
    def n_bins(self) -> int:
        return len(self.categories) + 2

    @property
    def distinct_values(self) -> int:
        """The reference's distinct values (at least those it tracks)."""
        if self.known is not None:
            return self.known.size
        return int(np.count_nonzero(self.reference_counts[: self.other_slot])) + 2 * bool(
            self.reference_counts[self.other_slot])

    @cached_property
    def method_bins(self) -> Bins:
        """The reference as the feature's drift method reads it: its category slots."""
        return Bins(self.reference_counts)

    @property
    def other_slot(self) -> int:
        return len(self.categories)

    @property
    def unseen_slot(self) -> int:
        return len(self.categories) + 1

    @cached_property
    def canonical_slots(self) -> Mapping[str, int] | None:
        """The slots of the tracked categories that are numbers or booleans, by canonical key
        (:func:`exporter.values.keys.canonical_slots`), else None."""
        return canonical_slots(self.categories)

    @cached_property
    def dictionary_slots(self) -> dict[tuple[object, ...], np.ndarray]:
        """The slots of the last dictionary of values coded (:func:`feature_codes`), by its values: the batches
        of a Parquet log mostly share their dictionary. One entry, so memory stays bounded whatever the
        dictionaries."""
        return {}


#: A feature of either kind, kept as it is by functions that return it changed (:func:`calibrated`).
FeatureT = TypeVar("FeatureT", NumericFeature, CategoricalFeature)


def text_among_numbers(series: pd.Series) -> str | None:
    """A value of ``series`` when it has values and none of them is a number (a column of text where numbers
    were expected), else None. Cheap on a numeric column: its type says it."""
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return None
    present = blank_as_missing(series).dropna()
    if present.empty or pd.to_numeric(present, errors="coerce").notna().any():
        return None
    return str(present.iloc[0])


def build_numeric(name: str, series: pd.Series, method: str, threshold: float) -> NumericFeature:
    series = blank_as_missing(series)
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    finite = values[np.isfinite(values)]
    missing_ratio = float(series.isna().mean()) if len(series) else 0.0
    if finite.size == 0:
        log.warning("reference column %r has no finite value: drift is not computed for it", name)
        edges = np.array([0.0, 0.0])
        n = len(edges) + 1
        return NumericFeature(name, method, threshold, edges, np.array([0, 1, n - 1], dtype=np.intp),
                              np.zeros(n, np.int64), np.zeros(n), 0.0, missing_ratio, usable=False)
    std = population_std(finite)  # before sorting: the same sums, so the same bits
    finite.sort()  # in place: a copy of 1M values fewer per column being built
    ordered = finite
    quantiles = reference_quantiles(ordered)
    distinct = ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])]
    if distinct.size <= DISCRETE_VALUES:
        # Discrete (or a small reference): a bin per value and per gap, so KS is exact.
        edges = discrete_bins(distinct)
        coarse = (np.arange(edges.size + 1, dtype=np.intp) if distinct.size <= COARSE_BINS
                  else coarse_starts(edges, quantiles))
    else:
        edges = numeric_bins(quantiles)
        coarse = coarse_starts(edges, quantiles)
    counts, sums = sorted_counts(edges, ordered)
    return NumericFeature(
        name=name,
        method=method,
        threshold=threshold,
        edges=edges,
        coarse_starts=coarse,
        reference_counts=counts,
        reference_sums=sums,
        reference_std=std,
        missing_ratio=missing_ratio,
        usable=True,
    )


def build_categorical(
    name: str, series: pd.Series, method: str, threshold: float, max_categories: int
) -> CategoricalFeature:
    frequencies, missing = _frequencies(series)
    present = int(frequencies.sum())
    if len(frequencies) > max_categories:
        log.info("reference column %r has %d categories; drift tracks the %d most frequent and the rest as one "
                 "bin; every one of them is known to the new-category check", name, len(frequencies), max_categories)
    kept = frequencies.iloc[:max_categories]
    categories = tuple(sorted(str(c) for c in kept.index))
    counts = np.zeros(len(categories) + 2, dtype=np.int64)
    position = {c: i for i, c in enumerate(categories)}
    for category, count in frequencies.items():
        counts[position.get(str(category), len(categories))] += int(count)
    if not present:
        log.warning("reference column %r has no value: drift is not computed for it", name)
    missing_ratio = missing / len(series) if len(series) else 0.0
    known = KnownValues.of(frequencies.index.to_numpy(dtype=object))
    unseen_rate = float((frequencies == 1).sum() / present) if present else 0.0
    return CategoricalFeature(name, method, threshold, categories, counts, missing_ratio, usable=present > 0,
                              known=known, unseen_rate=unseen_rate)


def _frequencies(series: pd.Series) -> tuple[pd.Series, int]:
    """Rows per value (as :func:`category_strings` writes it), most frequent first (equal counts in the
    values' order), and the missing rows (blank text is missing). Arrow text is counted in Arrow,
    without a Python string per row."""
    arrow = arrow_text(series)
    if arrow is None:
        counted = category_strings(blank_as_missing(series)).dropna().value_counts(sort=False)
        values, counts = counted.index.to_numpy(dtype=object), counted.to_numpy(dtype=np.int64)
    else:
        import pyarrow.compute as pc

        table = pc.value_counts(arrow)
        values = table.field("values").to_numpy(zero_copy_only=False).astype(object)
        counts = table.field("counts").to_numpy().astype(np.int64)
        keep = np.array([value is not None and bool(value.strip()) for value in values], dtype=bool)
        values, counts = values[keep], counts[keep]
    order = np.lexsort((values.astype(str), -counts))
    frequencies = pd.Series(counts[order], index=pd.Index(values[order], dtype=object), name="count")
    return frequencies, len(series) - int(counts.sum())


def feature_codes(values: pd.Series, feature: CategoricalFeature) -> np.ndarray:
    """Slot of each value of a categorical feature: its tracked category, the slot of the reference's
    other values, the slot of values the reference never had (new categories), or -1 when missing (null, blank,
    or one of the feature's ``missing_values``)."""
    if feature.missing_tokens and not isinstance(values.dtype, pd.CategoricalDtype):
        missing = feature.missing_tokens.mask(values)
        if missing.any():
            codes = np.full(len(values), -1, dtype=np.intp)
            present = np.flatnonzero(~missing)
            codes[present] = _codes(values.iloc[present].reset_index(drop=True), feature)
            return codes
    return _codes(values, feature)


def _codes(values: pd.Series, feature: CategoricalFeature) -> np.ndarray:
    if isinstance(values.dtype, pd.CategoricalDtype):
        # Read as a dictionary (a Parquet log's text, see FileSource.dictionary_columns): each distinct
        # value is coded once, by this same function (once per dictionary: the last one's slots are
        # kept), and the rows take their value's slot. A missing value's code is -1: the slot appended last.
        categories = values.cat.categories
        dictionary = tuple(categories.tolist())
        # Kept only for text: 1, 1.0 and True are equal keys, whose texts (and so slots) differ.
        all_text = all(type(value) is str for value in dictionary)
        slots = feature.dictionary_slots.get(dictionary) if all_text else None
        if slots is None:
            slots = np.append(feature_codes(pd.Series(categories), feature), -1)
            if all_text:
                feature.dictionary_slots.clear()
                feature.dictionary_slots[dictionary] = slots
        return np.take(slots, values.array.codes)
    arrow = arrow_text(values)
    if arrow is not None:
        codes, untracked_text = arrow_codes(arrow, feature.categories)
    else:
        codes = category_codes(blank_as_missing(values), feature.categories)
        untracked_text = None
    untracked = np.flatnonzero(codes == len(feature.categories))
    if untracked.size and feature.canonical_slots is not None and untracked_text is not None:
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
