"""The reference (baseline): which columns are features, and the bins fixed from it.

The reference is read once at start. From it come, per numeric feature, the
bin edges every later row is counted against, and per categorical feature the
set of known categories. Everything a drift statistic needs from the reference
is kept here as counts, so the raw reference can be dropped afterwards.

Bins. Numeric features get ``FINE_BINS`` (200) reference quantile bins plus an
underflow and an overflow bin for values outside the reference range. KS is
computed on these fine bins, which bounds its error by the largest reference
bin mass, ``1/200 = 0.005`` on continuous data (see
:func:`exporter.statistics.ks_statistic`). A feature with at most 100 distinct
reference values (discrete data, or a small reference) gets a bin per value and
one per gap between values instead, which makes KS exact. PSI, JS and chi2 use ``COARSE_BINS`` (10)
reference deciles, obtained by merging groups of fine bins (with at most 10
distinct values, one bin per value), plus the same under- and overflow bins.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa

from exporter.binning import EdgeTable
from exporter.config import (
    NUMERIC_ONLY_METHODS,
    ConfigError,
    ModelConfig,
    text_columns,
)
from exporter.drift_null import DriftCalibration, calibrate
from exporter.known_values import KnownValues
from exporter.memory import release_arrow_cache
from exporter.tables import format_of, normalized, read_table
from exporter.values import canonical_slots

log = logging.getLogger(__name__)

FINE_BINS = 200
COARSE_BINS = 10
#: Numeric features with at most this many distinct reference values get a bin per value and per gap.
DISCRETE_VALUES = FINE_BINS // 2
#: Reference size up to which ``auto`` uses tests (ks, chi2) rather than distances.
AUTO_SMALL_REFERENCE_ROWS = 1000


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
    #: The calibrated drift rule; None when ``threshold`` is fixed (see exporter.drift_null).
    calibration: DriftCalibration | None = None

    @property
    def n_bins(self) -> int:
        return len(self.edges) + 1

    @cached_property
    def binner(self) -> EdgeTable:
        """:func:`~exporter.binning.bin_index` against ``edges``, by table lookup (built on first use)."""
        return EdgeTable(self.edges)

    def coarse(self, counts: np.ndarray) -> np.ndarray:
        """Merge fine-bin ``counts`` (last axis) into the coarse decile layout."""
        return np.add.reduceat(counts, self.coarse_starts, axis=-1)


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
    #: The calibrated drift rule; None when ``threshold`` is fixed (see exporter.drift_null).
    calibration: DriftCalibration | None = None
    #: Good-Turing estimate of the share of values a new sample has never seen in the reference:
    #: the reference's values seen once, over its present values.
    unseen_rate: float = 0.0

    @property
    def n_bins(self) -> int:
        return len(self.categories) + 2

    @property
    def other_slot(self) -> int:
        return len(self.categories)

    @property
    def unseen_slot(self) -> int:
        return len(self.categories) + 1

    @cached_property
    def canonical_slots(self) -> Mapping[str, int] | None:
        """The slots of the tracked categories that are numbers or booleans, by canonical key
        (:func:`exporter.values.canonical_slots`), else None."""
        return canonical_slots(self.categories)

    @cached_property
    def dictionary_slots(self) -> dict[tuple[object, ...], np.ndarray]:
        """The slots of the last dictionary of values coded (:func:`exporter.rows.feature_codes`), by its
        values: the batches of a Parquet log mostly share their dictionary. One entry, so memory stays
        bounded whatever the dictionaries."""
        return {}


@dataclass(frozen=True, eq=False)
class Reference:
    numeric: tuple[NumericFeature, ...]
    categorical: tuple[CategoricalFeature, ...]
    rows: int

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.numeric] + [f.name for f in self.categorical]

    @property
    def num_bins(self) -> int:
        """Width of the numeric features' count arrays: the most bins of any numeric feature."""
        return max((f.n_bins for f in self.numeric), default=1)

    @property
    def cat_bins(self) -> int:
        """Width of the categorical features' count arrays: the most slots of any categorical feature."""
        return max((c.n_bins for c in self.categorical), default=1)

    def fingerprint(self) -> str:
        """Identifies the bin layout; persisted state from another layout is not reused."""
        digest = hashlib.sha256()
        for f in self.numeric:
            digest.update(f"n:{f.name}:".encode())
            digest.update(np.ascontiguousarray(f.edges, dtype=np.float64).tobytes())
        for c in self.categorical:
            digest.update(json.dumps(["c", c.name, list(c.categories)]).encode())
        return digest.hexdigest()[:16]


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


def reference_quantiles(ordered: np.ndarray) -> np.ndarray:
    """The ``FINE_BINS + 1`` quantiles of sorted ``ordered`` (numpy's default linear interpolation).

    Every ``FINE_BINS // COARSE_BINS``-th is a decile.
    """
    position = np.linspace(0.0, 1.0, FINE_BINS + 1) * (ordered.size - 1)
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, ordered.size - 1)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def sorted_counts(edges: np.ndarray, ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts and sums of sorted ``ordered`` in the layout of :func:`~exporter.binning.bin_index`, without a pass
    per value.

    Each bin's values are summed on their own (not as differences of a running total, whose rounding
    grows with the total: values around 1e8 with a spread of 1e-3 put bin means several bins away)."""
    cuts = np.searchsorted(ordered, edges, side="left")
    cuts[-1] = np.searchsorted(ordered, edges[-1], side="right")  # the last inner bin holds the maximum
    bounds = np.concatenate([[0], cuts, [ordered.size]])
    counts = np.diff(bounds).astype(np.int64)
    sums = np.zeros(counts.size)
    filled = counts > 0
    if filled.any():
        # reduceat sums from each start to the next: empty bins left out, each filled bin ends where the next
        # filled one starts.
        with np.errstate(over="ignore"):  # values near the float maximum sum to inf: their statistics are absent
            sums[filled] = np.add.reduceat(ordered, bounds[:-1][filled])
    return counts, sums


def numeric_bins(quantiles: np.ndarray) -> np.ndarray:
    """Unique, increasing bin edges (at least two) from reference ``quantiles``."""
    edges = np.unique(quantiles)
    if edges.size == 1:
        edges = np.array([edges[0], edges[0]])
    return edges


def discrete_bins(distinct: np.ndarray) -> np.ndarray:
    """Edges giving each of the sorted ``distinct`` values a bin of its own, and each gap between two
    values another: ``[v_i, v_i+)``, then ``[v_i+, v_{i+1})`` (``v+`` the next float after ``v``).

    The reference CDF is flat inside every bin but at its values, so KS is exact whatever the
    current values are, and so are Wasserstein, PSI and JS when they fall on the reference's values.
    The maximum is alone in the last bin and in range; anything above it is out of range.
    """
    after = np.nextafter(distinct, np.inf)
    return np.column_stack([distinct, after]).ravel()


def _coarse_starts(edges: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    coarse_edges = np.unique(quantiles[:: FINE_BINS // COARSE_BINS])
    positions = np.searchsorted(edges, coarse_edges[:-1], side="left")
    starts = np.concatenate([[0], 1 + positions, [len(edges)]])
    return np.unique(starts).astype(np.intp)


#: Beyond this magnitude a value's square overflows float64 (1.8e308), and np.std with it.
_SQUARE_SAFE = 1e150


def population_std(values: np.ndarray) -> float:
    """np.std of finite ``values``, also where their squares overflow (values beyond 1e150 are scaled by
    the largest magnitude first, so a reference of huge numbers normalises its drift by a finite std)."""
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    if largest <= _SQUARE_SAFE:
        return float(np.std(values))
    return float(np.std(values / largest)) * largest


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
                  else _coarse_starts(edges, quantiles))
    else:
        edges = numeric_bins(quantiles)
        coarse = _coarse_starts(edges, quantiles)
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


def _roles(model: ModelConfig) -> set[str]:
    roles = {model.predictions.timestamp_column, model.predictions.id_column, model.prediction_column,
             model.score_column, model.label_column, model.latency_column}
    if model.labels is not None:
        roles |= {model.labels.id_column, model.labels.label_column}
    return {r for r in roles if r}


@dataclass(frozen=True)
class DriftSetting:
    """How a feature's drift is judged: its method, and a fixed threshold or a calibrated rule."""

    method: str
    #: The fixed threshold; for a calibrated rule its fixed part: the minimum effect (alpha for chi2).
    threshold: float
    calibrated: bool
    alpha: float
    min_effect: float


def resolve_method(model: ModelConfig, name: str, kind: str, rows: int, where: str) -> DriftSetting:
    """The drift setting of feature ``name``: per-feature overrides, then the model's drift settings.

    A threshold configured for the feature, for every feature (``drift.threshold``, with a named
    method) or for categorical features (``drift.categorical_threshold``) is fixed; without one the
    threshold is calibrated to each window's size (:mod:`exporter.drift_null`).
    """
    drift = model.drift
    override = drift.features.get(name)
    method = override.method if override and override.method else None
    threshold = override.threshold if override else None
    if method is None:
        if kind == "categorical" and drift.method in NUMERIC_ONLY_METHODS:
            method = drift.categorical_method
            threshold = threshold if threshold is not None else drift.categorical_threshold
        else:
            method = drift.method
            if method != "auto":
                threshold = threshold if threshold is not None else drift.threshold
    if method == "auto":
        small = rows <= AUTO_SMALL_REFERENCE_ROWS
        method = ("ks" if small else "wasserstein") if kind == "numeric" else "chi2" if small else "js"
    if kind == "categorical" and method in NUMERIC_ONLY_METHODS:
        raise ConfigError(f"{where}: {method} is only defined for numeric features, and {name!r} is categorical")
    alpha = override.alpha if override and override.alpha is not None else drift.alpha
    min_effect = override.min_effect if override and override.min_effect is not None else drift.min_effect[method]
    # chi2 on a numeric feature tests the counts in its reference deciles (see exporter.drift).
    if threshold is not None:
        return DriftSetting(method, float(threshold), False, alpha, min_effect)
    return DriftSetting(method, alpha if method == "chi2" else min_effect, True, alpha, min_effect)


#: Chunk sizes at which the reference's own consecutive chunks are scored, the fewest and most chunks used.
CHUNK_SIZES, MIN_CHUNKS, MAX_CHUNKS = (100, 300, 1000), 10, 50


def chunk_medians(feature: NumericFeature | CategoricalFeature, column: pd.Series) -> dict[int, float]:
    """Median drift score of consecutive chunks of the reference column against the whole reference.

    At most 50 chunks per size, from the start of the column; binned once, counted per chunk in one
    ``bincount``, scored as production scores a window.
    """
    from exporter import statistics
    from exporter.rows import feature_codes, numeric_values

    sizes = [size for size in CHUNK_SIZES if len(column) // size >= MIN_CHUNKS]
    if not sizes:
        return {}
    head = column.iloc[: MAX_CHUNKS * sizes[-1]]
    if isinstance(feature, NumericFeature):
        values, missing, invalid = numeric_values(head)
        valid = ~missing & ~invalid
        index = np.full(len(head), -1, dtype=np.int64)
        index[valid] = feature.binner(values[valid])
        values = np.where(valid, values, 0.0)
    else:
        index = feature_codes(head, feature).astype(np.int64)
        values = np.zeros(len(head))
    bins = feature.n_bins
    out = {}
    for size in sizes:
        chunks = min(MAX_CHUNKS, len(head) // size)
        rows = np.arange(chunks * size)
        keep = index[rows] >= 0
        flat = (rows[keep] // size) * bins + index[rows][keep]
        counts = np.bincount(flat, minlength=chunks * bins).reshape(chunks, bins)
        full = counts.sum(axis=1) >= size // 2
        counts = counts[full]
        if counts.shape[0] < MIN_CHUNKS:
            continue
        method = feature.method
        if isinstance(feature, NumericFeature) and method == "wasserstein":
            sums = np.bincount(flat, weights=values[rows][keep], minlength=chunks * bins).reshape(chunks, bins)[full]
            scores = statistics.wasserstein_normed_rows(feature.edges, feature.reference_counts,
                                                        feature.reference_sums, counts, sums,
                                                        feature.reference_std).tolist()
        elif method == "ks":
            reference = np.cumsum(feature.reference_counts / feature.reference_counts.sum())
            cdf = np.cumsum(counts / counts.sum(axis=1, keepdims=True), axis=1)
            scores = np.minimum(1.0, np.abs(cdf - reference).max(axis=1)).tolist()
        else:
            reference_counts = feature.reference_counts
            if isinstance(feature, NumericFeature):
                reference_counts, counts = feature.coarse(reference_counts), feature.coarse(counts)
            rows_score = statistics.psi_rows if method == "psi" else statistics.jensen_shannon_rows
            scores = rows_score(reference_counts, counts).tolist()
        out[size] = float(np.median(scores))
    return out


def calibrated(feature: NumericFeature | CategoricalFeature, setting: DriftSetting,
               column: pd.Series | None = None) -> NumericFeature | CategoricalFeature:
    """``feature`` with its drift rule calibrated from its reference bins (unchanged for a fixed threshold);
    ``column``, the reference's values in their logged order, measures how clustered real rows are."""
    if not setting.calibrated or not feature.usable:
        return feature
    medians = chunk_medians(feature, column) if column is not None and setting.method != "chi2" else None
    if isinstance(feature, NumericFeature):
        counts = feature.reference_counts if setting.method in ("ks", "wasserstein") else \
            feature.coarse(feature.reference_counts)
        rule = calibrate(feature.name, setting.method, counts, setting.alpha, setting.min_effect, feature.edges,
                         feature.reference_std, medians)
    else:
        rule = calibrate(feature.name, setting.method, feature.reference_counts, setting.alpha, setting.min_effect,
                         chunk_medians=medians)
    return replace(feature, calibration=rule)


def build_reference(model: ModelConfig, frame: pd.DataFrame, where: str = "config") -> Reference:
    """Decide the features of ``model`` and fix their bins from the reference ``frame``."""
    frame = normalized(frame)
    return build_reference_columns(model, frame.iloc[:0], len(frame), lambda name: frame[name], where)


def build_reference_columns(model: ModelConfig, schema: pd.DataFrame, rows: int,
                            column: Callable[[str], pd.Series], where: str = "config") -> Reference:
    """:func:`build_reference` from the reference's columns, read one at a time by ``column``: ``schema`` has
    the reference's columns and types (no rows are needed), ``rows`` its size."""
    prefix = f"{where}: models[{model.name}]"
    if not rows:
        raise ConfigError(f"{prefix}.reference: {model.reference} has no rows")
    numeric, categorical = feature_columns(model, schema, where)

    def build(name: str) -> NumericFeature | CategoricalFeature:
        feature = build_one(name)
        # The column is garbage now; Arrow's pool would keep it in this thread's heap, and the next
        # column's buffers would not all fit there: 20-25 MiB less at the build's peak (1M rows).
        release_arrow_cache()
        return feature

    def build_one(name: str) -> NumericFeature | CategoricalFeature:
        values = column(name)
        if name in numeric_set:
            example = text_among_numbers(values)
            if example is not None:
                raise ConfigError(f"{prefix}.features.numeric: reference column {name!r} holds no number (e.g. "
                                  f"{example[:40]!r}): list it under features.categorical")
            setting = resolve_method(model, name, "numeric", rows, f"{prefix}.drift")
            return calibrated(build_numeric(name, values, setting.method, setting.threshold), setting, values)
        setting = resolve_method(model, name, "categorical", rows, f"{prefix}.drift")
        feature = build_categorical(name, values, setting.method, setting.threshold, model.max_categories)
        return calibrated(feature, setting, values)

    numeric_set = set(numeric)
    # Features are built two at a time: sorting, counting and reading columns release the GIL.
    with ThreadPoolExecutor(max_workers=BUILD_THREADS) as pool:
        features = list(pool.map(build, numeric + categorical))
    return Reference(tuple(features[: len(numeric)]), tuple(features[len(numeric):]), rows)  # type: ignore[arg-type]


#: Features of a reference built at once.
BUILD_THREADS = 2


def feature_columns(model: ModelConfig, schema: pd.DataFrame, where: str = "config") -> tuple[list[str], list[str]]:
    """The numeric and the categorical features of ``model``, from its reference's columns and types."""
    prefix = f"{where}: models[{model.name}]"
    columns = set(map(str, schema.columns))
    named = {
        "prediction_column": model.prediction_column,
        "score_column": model.score_column,
    }
    for key, column in named.items():
        if column and column not in columns:
            raise ConfigError(f"{prefix}.{key}: column {column!r} is not in the reference {model.reference}")
    if model.features is not None and (model.features.numeric or model.features.categorical):
        numeric = list(model.features.numeric)
        categorical = list(model.features.categorical)
        for kind, names in (("numeric", numeric), ("categorical", categorical)):
            for name in names:
                if name not in columns:
                    raise ConfigError(
                        f"{prefix}.features.{kind}: column {name!r} is not in the reference {model.reference}"
                    )
        both = set(numeric) & set(categorical)
        if both:
            raise ConfigError(f"{prefix}.features: {sorted(both)} listed as both numeric and categorical")
    else:
        roles = _roles(model)
        numeric, categorical = [], []
        for column in map(str, schema.columns):
            if column in roles:
                continue
            dtype = schema[column].dtype
            if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
                numeric.append(column)
            else:
                categorical.append(column)
    if not numeric and not categorical:
        raise ConfigError(f"{prefix}.features: the reference {model.reference} has no feature column")
    unknown = sorted(set(model.drift.features) - set(numeric) - set(categorical))
    if unknown:
        raise ConfigError(f"{prefix}.drift.features: {unknown} are not features of this model")
    unknown = sorted(set(model.feature_importance) - set(numeric) - set(categorical))
    if unknown:
        raise ConfigError(f"{prefix}.feature_importance: {unknown} are not features of this model")
    return numeric, categorical


def load_reference(model: ModelConfig, where: str = "config") -> tuple[Reference, pd.DataFrame]:
    """Read the reference file of ``model`` and build its bins; returns the frame of its other columns too.

    A Parquet reference is read a column at a time: only one feature's values are in memory at once,
    whatever the reference's size. The frame returned holds every column but the features (those
    with another role too, such as segments and class scores, included): the outputs, labels and
    segments the rest of the baseline is computed from.
    """
    path = model.reference
    try:
        if format_of(path) == "parquet":
            return _load_parquet_reference(model, where)
        frame = read_table(path, text_columns=text_columns(model))
    except ConfigError:
        raise
    except Exception as error:  # noqa: BLE001 - any reader failure is a configuration problem to report
        raise ConfigError(f"{where}: models[{model.name}].reference: cannot read {path}: {error}") from None
    return build_reference(model, frame, where), frame


def _load_parquet_reference(model: ModelConfig, where: str) -> tuple[Reference, pd.DataFrame]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(model.reference, buffer_size=1 << 20, pre_buffer=False)
    schema = normalized(parquet.schema_arrow.empty_table().to_pandas())

    def column(name: str) -> pd.Series:
        return parquet.read(columns=[name], use_threads=False).to_pandas()[name]

    reference = build_reference_columns(model, schema, parquet.metadata.num_rows, column, where)
    used = _roles(model) | set(model.segments) | set(model.class_score_columns.values()) | \
        {c for c in (model.latency_column, model.error_column) if c}
    features = set(reference.feature_names) - used
    rest = [name for name in map(str, schema.columns) if name not in features]
    frame = normalized(parquet.read(columns=rest).to_pandas(split_blocks=True)) if rest else \
        pd.DataFrame(index=pd.RangeIndex(parquet.metadata.num_rows))
    return reference, frame
