"""One preparation step: a raw chunk of rows becomes every per-row array the components need.

:class:`Preparer` is the only place that looks at a DataFrame of logged rows.
It validates timestamps (:mod:`exporter.prepare.rows`), bins every feature against the
reference, turns the output and label columns into arrays
(:mod:`exporter.baseline.targets`), and reads ids, segment values, latency and the
error flag. Every row it cannot use is counted in :class:`Rejections` by
reason. What leaves it is a :class:`PreparedBatch` of numpy arrays: no
DataFrame passes beyond this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from exporter.baseline import outputs, targets
from exporter.baseline.classes import ClassRegistry
from exporter.baseline.reference import Reference
from exporter.config import ModelConfig, label_time, logged_roles, role_columns
from exporter.prepare.rows import FeatureArrays, Rejections, bin_features, validate_timestamps
from exporter.prepare.segments import segment_codes
from exporter.sources.tables import normalized
from exporter.values.keys import UNKNOWN
from exporter.values.numbers import numeric_values
from exporter.values.text import category_strings, clean_ids
from exporter.values.timestamps import parse_timestamps
from exporter.values.vocabulary import RejectReason, SchemaCheck

#: Units of ``latency_column``, in seconds.
LATENCY_SCALE = {"s": 1.0, "ms": 1e-3, "us": 1e-6}

Rows = np.ndarray | slice


#: Rows whose features are made one dense matrix at once, for the nanny models and the PCA reconstruction.
INPUT_ROWS = 65536


@dataclass
class PreparedBatch:
    """Accepted prediction rows as arrays, one entry per row (features: one row per feature)."""

    ts: np.ndarray
    features: FeatureArrays
    outputs: targets.Targets
    #: Ids as text (None where missing), or None when the log has no id column or no label join needs them.
    ids: np.ndarray | None
    #: A 64-bit hash of each id's text (duplicate detection) and whether the id is present; None without ids.
    id_hashes: np.ndarray | None
    id_present: np.ndarray | None
    #: Segment column -> index of each row's value among the kept values (``len(kept)``: other).
    segments: dict[str, np.ndarray]
    #: Latency in seconds (NaN where missing or invalid), or None without a latency column.
    latency: np.ndarray | None
    #: True where the error column holds none of the ok values, or None without an error column.
    is_error: np.ndarray | None
    #: Seconds from prediction to label, for labels joined from the labels log (NaN: none).
    label_delay: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: Each row's PCA reconstruction error (multivariate drift), or None without a reconstruction or features.
    reconstruction_error: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.ts.size)

    def take(self, rows: Rows) -> PreparedBatch:
        """The rows selected by a boolean mask, an index array or a slice."""
        if isinstance(rows, np.ndarray) and rows.dtype == bool:
            rows = np.flatnonzero(rows)

        def pick(value: object) -> object:
            return None if value is None else value[rows]  # type: ignore[index]

        return PreparedBatch(
            ts=self.ts[rows],
            features=self.features.take(rows),
            outputs=self.outputs.take(rows),
            ids=pick(self.ids),  # type: ignore[arg-type]
            id_hashes=pick(self.id_hashes),  # type: ignore[arg-type]
            id_present=pick(self.id_present),  # type: ignore[arg-type]
            segments={column: codes[rows] for column, codes in self.segments.items()},
            latency=pick(self.latency),  # type: ignore[arg-type]
            is_error=pick(self.is_error),  # type: ignore[arg-type]
            label_delay=self.label_delay[rows],
            reconstruction_error=pick(self.reconstruction_error),  # type: ignore[arg-type]
        )


@dataclass
class LabelledRows:
    """Predictions that just received their label from the labels log, as arrays."""

    ts: np.ndarray
    outputs: targets.Targets
    segments: dict[str, np.ndarray]
    label_delay: np.ndarray

    def __len__(self) -> int:
        return int(self.ts.size)

    def take(self, rows: Rows) -> LabelledRows:
        return LabelledRows(self.ts[rows], self.outputs.take(rows),
                            {c: codes[rows] for c, codes in self.segments.items()}, self.label_delay[rows])


@dataclass
class PreparedLabels:
    """Rows of the labels log: ids as text and label values (class code, or value for regression)."""

    ids: list[str | None]
    values: np.ndarray
    #: No label at all (counted by the join as ``missing_label``).
    missing: np.ndarray
    #: A label that matches no class (already counted as ``unknown_label``).
    unknown: np.ndarray
    #: The label's own time in epoch seconds (NaN where unusable); None when the labels log has no timestamp.
    ts: np.ndarray | None = None


class Preparer:
    """Turns raw chunks of one model's logs into :class:`PreparedBatch` and :class:`PreparedLabels`."""

    def __init__(self, config: ModelConfig, reference: Reference, spec: targets.TargetSpec,
                 segments: dict[str, tuple[str, ...]], max_age: float):
        self.config = config
        self.reference = reference
        self.spec = spec
        self.segments = segments
        self.max_age = max_age
        self.known_columns = frozenset(self._known_columns())
        #: The configured columns of the predictions log other than the features and the timestamp.
        self.role_columns = logged_roles(config)
        #: The classes of a multiclass model, new ones included (stateful: see :mod:`exporter.baseline.classes`).
        self.registry = ClassRegistry(spec.classes) if spec.task == "multiclass_classification" else None
        self._ok_values = {str(v).lower() for v in config.ok_values if v is not None}

    def _known_columns(self) -> set[str]:
        return set(self.reference.feature_names) | set(role_columns(self.config))

    def extra_columns(self, frame: pd.DataFrame) -> list[str]:
        return sorted(set(map(str, frame.columns)) - self.known_columns)

    def prepare(self, frame: pd.DataFrame, now: float, with_ids: bool = False,
                features: bool = True) -> tuple[PreparedBatch, Rejections]:
        """Validate and convert ``frame``; ids as text only ``with_ids`` (the label join needs them).

        Without ``features`` (narrow rows under pushdown: the database aggregates the features) the batch
        holds no feature at all.
        """
        frame = normalized(frame)
        kept, ts, issues = validate_timestamps(frame, self.config.predictions.timestamp_column, self.known_columns,
                                               now, self.config.max_clock_skew, self.max_age,
                                               self.config.predictions.timestamp_unit)
        for column in self.role_columns:
            if column not in frame.columns and len(frame):
                # A configured role absent from the log: counted, never silently skipped (features and the
                # timestamp are counted where they are read).
                issues.violations[(SchemaCheck.MISSING_COLUMN, column)] += len(frame)
        binned = bin_features(kept, self.reference, issues) if features else FeatureArrays.none(len(kept))
        id_column = self.config.predictions.id_column
        ids = hashes = present = None
        if id_column and id_column in kept.columns:
            raw = kept[id_column]
            present = raw.notna().to_numpy()
            # categorize=False: the same hashes without factorizing first, which only pays off for
            # repeated values, and ids are mostly distinct (half the time for 33,000 distinct ids).
            hashes = pd.util.hash_pandas_object(raw.astype(str), index=False, categorize=False).to_numpy()
            ids = clean_ids(raw) if with_ids else None
        targets_ = outputs.prepare(self.spec, self.config, kept, issues.rejected, self.registry)
        if self.spec.nanny is not None and features:
            targets_.est_error = self._estimated_errors(binned, targets_.pred_value)
        batch = PreparedBatch(
            ts=ts,
            features=binned,
            outputs=targets_,
            ids=ids,
            id_hashes=hashes,
            id_present=present,
            segments=segment_codes(self.segments, kept),
            latency=self._latency(kept),
            is_error=self._errors(kept),
            label_delay=np.full(len(kept), np.nan),
        )
        if self.reference.multivariate is not None and features:
            batch.reconstruction_error = self._reconstruction_errors(binned)
        return batch, issues

    def _reconstruction_errors(self, features: FeatureArrays) -> np.ndarray:
        """Each row's PCA reconstruction error, a slice of rows at a time (the inputs of a slice are a dense
        matrix: memory stays that of :data:`INPUT_ROWS` rows whatever the batch)."""
        assert self.reference.multivariate is not None
        n = features.cat_code.shape[1]
        out = np.empty(n)
        for start in range(0, n, INPUT_ROWS):
            rows = slice(start, start + INPUT_ROWS)
            out[rows] = self.reference.multivariate.errors(features.take(rows).inputs())
        return out

    def _estimated_errors(self, features: FeatureArrays, predicted: np.ndarray) -> np.ndarray:
        """Each row's estimated (absolute, squared) error by the nanny models (NaN without a prediction)."""
        assert self.spec.nanny is not None
        out = np.full((predicted.size, 2), np.nan)
        ok = np.flatnonzero(np.isfinite(predicted))
        for start in range(0, ok.size, INPUT_ROWS):
            rows = ok[start:start + INPUT_ROWS]
            out[rows] = self.spec.nanny.estimate(features.take(rows).inputs(predicted[rows]))
        return out

    def _latency(self, frame: pd.DataFrame) -> np.ndarray | None:
        column = self.config.latency_column
        if not column:
            return None
        if column not in frame.columns:
            return np.full(len(frame), np.nan)
        values = numeric_values(frame[column])[0]
        values = np.where(np.isfinite(values) & (values >= 0), values, np.nan)
        return values * LATENCY_SCALE[self.config.latency_unit]

    def _errors(self, frame: pd.DataFrame) -> np.ndarray | None:
        column = self.config.error_column
        if not column:
            return None
        if column not in frame.columns:
            return np.zeros(len(frame), dtype=bool)
        raw = frame[column]
        text = category_strings(raw.map(lambda v: str(v).lower() if isinstance(v, bool) else v))
        present = text.notna().to_numpy()
        lowered = text.where(text.isna(), text.astype(str).str.lower())
        return present & ~lowered.isin(self._ok_values).to_numpy()

    def prepare_labels(self, frame: pd.DataFrame) -> tuple[PreparedLabels | None, Rejections]:
        """Ids and values of a chunk of the labels log; None (all counted) when a column is missing."""
        config = self.config.labels
        assert config is not None
        issues = Rejections()
        frame = normalized(frame)
        for column in (config.id_column, config.label_column):
            if column not in frame.columns:
                issues.rejected[RejectReason.MISSING_LABEL_COLUMN] += len(frame)
                issues.violations[(SchemaCheck.MISSING_COLUMN, column)] += len(frame)
                return None, issues
        values = outputs.label_values(self.spec, frame[config.label_column], self.registry, issues.rejected)
        ids = clean_ids(frame[config.id_column]).tolist()
        ts = self._label_times(frame, issues)
        if self.spec.task == "regression":
            return PreparedLabels(ids, values, ~np.isfinite(values), np.zeros(values.size, dtype=bool), ts), issues
        unknown = values == UNKNOWN
        issues.rejected[RejectReason.UNKNOWN_LABEL] += int(unknown.sum())
        return PreparedLabels(ids, values, (values < 0) & ~unknown, unknown, ts), issues

    def _label_times(self, frame: pd.DataFrame, issues: Rejections) -> np.ndarray | None:
        """Each label's own time: ``labels.timestamp_column``, else a column named like the predictions' timestamp
        column when the labels log has one (as ``backtest`` replays labels); None without either. A configured
        column that is absent is a schema violation (the labels are then taken as labelled when read)."""
        config = self.config.labels
        assert config is not None
        column, unit = label_time(self.config)
        if column not in frame.columns:
            if config.timestamp_column:
                issues.violations[(SchemaCheck.MISSING_COLUMN, column)] += len(frame)
            return None
        return parse_timestamps(frame[column], unit)

