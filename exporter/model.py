"""One monitored model: its sources, its window rings, its counters, its updates.

An update (:meth:`ModelMonitor.update`) reads the new rows of the model's
prediction log, validates and bins them (:mod:`exporter.rows`,
:mod:`exporter.targets`), adds their summaries to the window rings of the
whole model and of each segment (:mod:`exporter.sketch`,
:mod:`exporter.windows`), then reads new labels and adds what each adds to the
bucket of its prediction (:mod:`exporter.labels`). It commits the cursors,
persists cursors and rings together (:mod:`exporter.state`) and returns an
immutable :class:`exporter.results.ModelSnapshot`. Failures are counted by
stage and never raised: one model's trouble stops no other model.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd

from exporter import drift, labels, performance, rows, state, targets
from exporter.config import ConfigError, ModelConfig
from exporter.reference import Reference, category_strings, load_reference
from exporter.results import (
    Histogram,
    ModelSnapshot,
    OutputDrift,
    QualityThreshold,
    Threshold,
    WindowResult,
)
from exporter.segments import OTHER, segment_codes, segment_key, segment_keys, segment_values
from exporter.sketch import FieldSpec, Layout, Summary, data_layout, summarize_data
from exporter.sources import Chunk, Cursor, FileSource, SourceError
from exporter.statistics import jensen_shannon
from exporter.tables import normalized
from exporter.windows import Ring

log = logging.getLogger(__name__)

#: Upper bounds of ``model_prediction_latency_seconds``: 1 ms to 10 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Upper bounds of ``model_label_delay_seconds``: 1 s to 7 days.
LABEL_DELAY_BUCKETS = (1.0, 10.0, 60.0, 300.0, 900.0, 3600.0, 10800.0, 21600.0, 43200.0, 86400.0, 172800.0,
                       604800.0)
_LATENCY_SCALE = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
#: Method and threshold of the predicted-class distribution drift.
CLASS_DRIFT_METHOD = "js"
CLASS_DRIFT_THRESHOLD = 0.1

#: Bytes of each log one update reads at most: a backlog is worked off over several updates.
UPDATE_BYTES = 256 * 1024 * 1024

#: Error stages (``model_monitor_errors_total{stage}``).
STAGE_READ = "read"
STAGE_LABELS = "labels"
STAGE_INGEST = "ingest"
STAGE_COMPUTE = "compute"
STAGE_STATE = "state"

Rows = np.ndarray | slice


def _group_ids(buckets: list[np.ndarray]) -> np.ndarray | None:
    """A group id per row, equal for rows in the same bucket of every ring; None if all rows share one."""
    if all(ids.size == 0 or ids.min() == ids.max() for ids in buckets):
        return None
    stacked = np.stack(buckets, axis=1)
    _, inverse = np.unique(stacked, axis=0, return_inverse=True)
    return inverse.ravel()


def bucket_counts(bounds: tuple[float, ...] | np.ndarray, values: np.ndarray) -> np.ndarray:
    """Finite ``values`` counted per bucket ``(previous bound, bound]``, the last bucket beyond every bound."""
    finite = values[np.isfinite(values)]
    index = np.searchsorted(np.asarray(bounds), finite, side="left")
    return np.bincount(index, minlength=len(bounds) + 1).astype(np.int64)


def bucket_quantile(q: float, bounds: tuple[float, ...], counts: np.ndarray) -> float | None:
    """The ``q`` quantile of bucketed counts, interpolated linearly inside a bucket as PromQL's
    ``histogram_quantile`` does (the first bucket starts at 0; beyond the last bound, the last bound)."""
    total = float(counts.sum())
    if total <= 0:
        return None
    rank = q * total
    cumulative = np.cumsum(counts)
    i = int(np.searchsorted(cumulative, rank, side="left"))
    if i >= len(bounds):
        return float(bounds[-1])
    lower = 0.0 if i == 0 else float(bounds[i - 1])
    below = 0.0 if i == 0 else float(cumulative[i - 1])
    inside = float(counts[i])
    return lower + (float(bounds[i]) - lower) * ((rank - below) / inside if inside else 0.0)


class _Histogram:
    """A cumulative Prometheus histogram kept as per-bucket counts."""

    def __init__(self, bounds: tuple[float, ...]):
        self.bounds = np.asarray(bounds)
        self.counts = np.zeros(len(bounds) + 1, dtype=np.int64)
        self.total = 0.0

    def observe(self, values: np.ndarray) -> None:
        self.counts += bucket_counts(self.bounds, values)
        self.total += float(values[np.isfinite(values)].sum())

    def value(self) -> Histogram:
        cumulative = np.cumsum(self.counts)
        bounds = (*self.bounds.tolist(), float("inf"))
        return Histogram(tuple(zip(bounds, map(int, cumulative), strict=True)), self.total, int(cumulative[-1]))


def build_monitor(config: ModelConfig, state_dir: Path | None, where: str = "config") -> ModelMonitor:
    """Read ``config``'s reference once and build its monitor; ConfigError on any problem."""
    reference, frame = load_reference(config, where)
    frame = normalized(frame)
    if len(reference.feature_names) > config.max_features:
        raise ConfigError(f"{where}: models[{config.name}]: {len(reference.feature_names)} features, more than "
                          f"max_features ({config.max_features}); list the features to monitor under features:")
    for key in ("latency_column", "error_column"):
        column = getattr(config, key)
        if column and column not in frame.columns:
            log.info("model %s: %s %r is not in the reference (fine: it is only read from the logs)",
                     config.name, key, column)
    spec = targets.build_targets(config, frame)
    segments = segment_values(config, frame, where)
    monitor = ModelMonitor(config, reference, state_dir, spec, segments)
    monitor.reference_performance = monitor.performance_of(frame)
    return monitor


class ModelMonitor:
    """Everything the exporter keeps about one model."""

    def __init__(self, config: ModelConfig, reference: Reference, state_dir: Path | None,
                 target_spec: targets.TargetSpec | None = None,
                 segments: dict[str, tuple[str, ...]] | None = None):
        self.config = config
        self.reference = reference
        self.targets = target_spec or targets.TargetSpec(
            config.task, None, None, ("0", "1") if config.task == "binary_classification" else (), None, None,
            str(config.positive_label), config.decision_threshold)
        self.segments = segments or {}
        self.segment_keys = segment_keys(self.segments)
        delay_field = {"label_delay": FieldSpec((len(LABEL_DELAY_BUCKETS) + 1,), np.int64)} if config.labels else {}
        self.layout = Layout({**data_layout(reference), **targets.target_layout(self.targets), **delay_field})
        self.rings = self._new_rings()
        self.source = FileSource(config.predictions.path, config.predictions.format)
        self.label_source = FileSource(config.labels.path, config.labels.format) if config.labels else None
        max_pending = config.labels.max_pending if config.labels else 1
        self.pending = labels.PendingPredictions(max_pending)
        self.early = labels.EarlyLabels(max_pending, config.labels.early_label_retention if config.labels else 0)
        self.state_file = state.state_path(state_dir, config.name) if state_dir is not None else None
        self.known_columns = frozenset(self._known_columns())
        self.predictions_total = 0
        self.prediction_errors_total = 0
        self.rejected: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.violations: Counter[tuple[str, str]] = Counter()
        self.join_dropped: Counter[str] = Counter()
        self.segment_other: Counter[str] = Counter()
        self.latency = _Histogram(LATENCY_BUCKETS)
        self.label_delay = _Histogram(LABEL_DELAY_BUCKETS)
        self.last_success: float | None = None
        self.last_duration: float | None = None
        self._logged: set[object] = set()
        self._ok_values = {str(v).lower() for v in config.ok_values if v is not None}
        self._fingerprint = self._layout_fingerprint()
        self.reference_performance: dict[str, float] = {}
        self._expects_labels = bool(config.label_column or config.labels)
        self._dirty = False
        self.recent_ids = np.zeros(config.max_recent_ids, dtype=np.uint64)
        self.recent_pos = 0
        self.recent_count = 0
        self.restore()

    def _new_rings(self) -> dict[str, dict[str, Ring]]:
        return {key: {w.label: Ring(w, self.layout, self.config.window_buckets) for w in self.config.windows}
                for key in self.segment_keys}

    # -- identity of the persisted layout -------------------------------------------------

    def _known_columns(self) -> set[str]:
        c = self.config
        known = set(self.reference.feature_names) | set(c.segments) | set(c.class_score_columns.values())
        known |= {x for x in (c.predictions.timestamp_column, c.predictions.id_column, c.prediction_column,
                              c.score_column, c.label_column, c.latency_column, c.error_column) if x}
        return known

    def _layout_fingerprint(self) -> str:
        windows = [(w.label, w.seconds, self.config.window_buckets) for w in self.config.windows]
        description = repr((self.layout.signature(), windows, self.segment_keys, self.targets.classes))
        hasher = hashlib.sha256(description.encode())
        for edges in (self.targets.auc_edges, self.targets.output.edges if self.targets.output else None):
            if edges is not None:
                hasher.update(np.ascontiguousarray(edges, dtype=np.float64).tobytes())
        digest = hasher.hexdigest()[:16]
        return f"{self.reference.fingerprint()}:{digest}"

    def _once(self, key: object, message: str, *args: object) -> None:
        """Log a warning the first time ``key`` is seen."""
        if key not in self._logged:
            self._logged.add(key)
            log.warning(message, *args)

    # -- persistence ------------------------------------------------------------------------

    def restore(self) -> None:
        """Load the persisted state; a corrupt or foreign file is reported and the logs re-read."""
        if self.state_file is None:
            return
        try:
            loaded = state.load(self.state_file)
            if loaded is None:
                return
            meta, arrays = loaded
            if meta.get("fingerprint") != self._fingerprint:
                raise state.StateError(
                    f"{self.state_file}: saved for another reference, feature set, segment or window layout")
            for i, key in enumerate(self.segment_keys):
                for label, ring in self.rings[key].items():
                    prefix = f"ring/{i}/{label}/"
                    ring.restore({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
            self.pending.restore({k[8:]: v for k, v in arrays.items() if k.startswith("pending/")})
            if arrays["recent_ids"].shape == self.recent_ids.shape:
                self.recent_ids = arrays["recent_ids"].astype(np.uint64)
                self.recent_pos, self.recent_count = (int(v) for v in meta["counters"]["recent_ids"])
            self.early.restore({k[6:]: v for k, v in arrays.items() if k.startswith("early/")})
            self.source.cursors = {p: Cursor.from_json(c) for p, c in meta["cursors"].items()}
            self.source.seen = bool(self.source.cursors)
            if self.label_source is not None:
                self.label_source.cursors = {p: Cursor.from_json(c) for p, c in meta["label_cursors"].items()}
            counters = meta["counters"]
            self.predictions_total = int(counters["predictions_total"])
            self.prediction_errors_total = int(counters["prediction_errors_total"])
            self.rejected = Counter(counters["rejected"])
            self.errors = Counter(counters["errors"])
            self.join_dropped = Counter(counters["join_dropped"])
            self.segment_other = Counter(counters["segment_other"])
            self.violations = Counter({tuple(k.split("\x1f", 1)): v for k, v in counters["violations"].items()})
            self.latency.counts = arrays["latency_counts"].astype(np.int64)
            self.latency.total = float(counters["latency_sum"])
            self.label_delay.counts = arrays["label_delay_counts"].astype(np.int64)
            self.label_delay.total = float(counters["label_delay_sum"])
            log.info("model %s: restored state from %s", self.config.name, self.state_file)
        except (state.StateError, KeyError, ValueError, TypeError, UnicodeDecodeError) as error:
            log.error("model %s: cannot use saved state (%s); rebuilding from the logs", self.config.name, error)
            self.errors[STAGE_STATE] += 1
            self.rings = self._new_rings()
            self.source.cursors = {}
            if self.label_source is not None:
                self.label_source.cursors = {}
            self.pending.items.clear()
            self.early.items.clear()

    def persist(self) -> None:
        if self.state_file is None:
            return
        arrays: dict[str, np.ndarray] = {
            "latency_counts": self.latency.counts,
            "label_delay_counts": self.label_delay.counts,
            "recent_ids": self.recent_ids,
        }
        for i, key in enumerate(self.segment_keys):
            for label, ring in self.rings[key].items():
                for name, array in ring.state().items():
                    arrays[f"ring/{i}/{label}/{name}"] = array
        arrays.update({f"pending/{k}": v for k, v in self.pending.to_arrays().items()})
        arrays.update({f"early/{k}": v for k, v in self.early.to_arrays().items()})
        meta = {
            "fingerprint": self._fingerprint,
            "cursors": {p: c.to_json() for p, c in self.source.cursors.items()},
            "label_cursors": {p: c.to_json() for p, c in (self.label_source.cursors.items()
                                                          if self.label_source else ())},
            "counters": {
                "predictions_total": self.predictions_total,
                "prediction_errors_total": self.prediction_errors_total,
                "rejected": dict(self.rejected),
                "errors": dict(self.errors),
                "join_dropped": dict(self.join_dropped),
                "segment_other": dict(self.segment_other),
                "violations": {"\x1f".join(k): v for k, v in self.violations.items()},
                "latency_sum": self.latency.total,
                "label_delay_sum": self.label_delay.total,
                "recent_ids": [self.recent_pos, self.recent_count],
            },
        }
        state.save(self.state_file, meta, arrays)

    # -- adding summaries to rings ------------------------------------------------------------

    def _add_rows(self, ts: np.ndarray, codes: dict[str, np.ndarray], now: float,
                  make_summary: Callable[[Rows], Summary]) -> None:
        """Add rows stamped ``ts`` to the whole model's rings and to the rings of their segments."""
        self._add_to_rings(self.rings[""], ts, None, now, make_summary)
        for column, column_codes in codes.items():
            kept = self.segments[column]
            for code in np.unique(column_codes):
                key = segment_key(column, kept[code] if code < len(kept) else OTHER)
                rows_of_code = np.flatnonzero(column_codes == code)
                self._add_to_rings(self.rings[key], ts[rows_of_code], rows_of_code, now, make_summary)

    def _add_to_rings(self, rings: dict[str, Ring], ts: np.ndarray, subset: np.ndarray | None, now: float,
                      make_summary: Callable[[Rows], Summary]) -> None:
        """Summarise the rows once per distinct combination of window buckets and add them to ``rings``.

        Rows are grouped by the tuple of their bucket in every ring (usually
        one group while tailing a live log), and each group is summarised once.
        ``subset`` maps positions in ``ts`` to rows of the batch (None: the same).
        """
        ring_list = list(rings.values())
        buckets = [ring.bucket_of(ts) for ring in ring_list]
        oldest = [ring.oldest_live_bucket(now) for ring in ring_list]
        live = np.zeros(ts.size, dtype=bool)
        for ids, first in zip(buckets, oldest, strict=True):
            live |= ids >= first
        if not live.any():
            return
        positions = np.arange(ts.size) if subset is None else subset
        if not live.all():
            positions = positions[live]
            buckets = [ids[live] for ids in buckets]
        group = _group_ids(buckets)
        if group is None:
            everything = subset is None and live.all()
            groups: list[tuple[Rows, list[int]]] = [
                (slice(None) if everything else positions, [int(ids[0]) for ids in buckets])]
        else:
            order = np.argsort(group, kind="stable")
            starts = np.concatenate([[0], np.flatnonzero(np.diff(group[order])) + 1, [order.size]])
            groups = [(positions[order[a:b]], [int(ids[order[a]]) for ids in buckets])
                      for a, b in pairwise(starts.tolist())]
        for selected, ring_buckets in groups:
            summary = make_summary(selected)
            for ring, bucket, first in zip(ring_list, ring_buckets, oldest, strict=True):
                if bucket >= first:
                    ring.add_one(bucket, summary)

    # -- ingest -----------------------------------------------------------------------------

    def ingest(self, frame: pd.DataFrame, now: float) -> int:
        """Validate, bin and add ``frame``'s prediction rows to every window; returns rows accepted."""
        if len(frame) == 0:  # not frame.empty: rows without any column are rows, and get rejected
            return 0
        batch, issues = rows.prepare(
            frame, self.reference, self.config.predictions.timestamp_column, self.known_columns, now,
            self.config.max_clock_skew, max(w.seconds for w in self.config.windows),
        )
        batch = self._drop_duplicates(batch, issues)
        self.rejected.update(issues.rejected)
        self.violations.update(issues.violations)
        for check, feature in issues.violations:
            self._once(("violation", check, feature),
                       "model %s: data quality violation %s%s (logged once; counted in "
                       "model_data_quality_violations_total)", self.config.name, check,
                       f" on {feature!r}" if feature else "")
            if check == rows.EXTRA_COLUMN:
                extra = sorted(set(frame.columns) - self.known_columns)[:20]
                self._once(("extra", tuple(extra)), "model %s: columns unknown to the model: %s",
                           self.config.name, extra)
        if len(batch) == 0:
            return 0
        self.predictions_total += len(batch)
        self._observe_service(batch.frame)
        outputs = targets.prepare(self.targets, self.config, batch.frame)
        codes = segment_codes(self.segments, batch.frame)
        for column, column_codes in codes.items():
            other = int((column_codes == len(self.segments[column])).sum())
            if other:
                self.segment_other[column] += other
                self._once(("segment-other", column), "model %s: values of segment column %r beyond the %d kept "
                           "are counted in segment %s=%s", self.config.name, column, len(self.segments[column]),
                           column, OTHER)
        delays = self._join_early_labels(batch, outputs, codes, now)
        fields = self.layout.fields
        spec = self.targets

        def make_summary(selected: Rows) -> Summary:
            part = outputs.take(selected)
            summary = {
                **summarize_data(self.layout, batch.take(selected, with_frame=False)),
                **targets.summarize_predictions(spec, fields, part),
                **targets.summarize_labels(spec, fields, part),
            }
            if delays is not None:
                summary["label_delay"] = bucket_counts(LABEL_DELAY_BUCKETS, delays[selected])
            return summary

        self._add_rows(batch.ts, codes, now, make_summary)
        return len(batch)

    def _drop_duplicates(self, batch: rows.Batch, issues: rows.Rejections) -> rows.Batch:
        """Reject rows whose id was seen among the last ``max_recent_ids`` ids (or earlier in the batch)."""
        column = self.config.predictions.id_column
        if not self.recent_ids.size or not column or column not in batch.frame.columns or len(batch) == 0:
            return batch
        ids = batch.frame[column]
        present = ids.notna().to_numpy()
        hashes = pd.util.hash_pandas_object(ids.astype(str), index=False).to_numpy()
        seen = np.sort(self.recent_ids[: self.recent_count])
        duplicate = present & (pd.Series(np.where(present, hashes, 0)).duplicated().to_numpy()
                               | np.isin(hashes, seen))
        new = hashes[present & ~duplicate]
        for start in range(0, new.size, self.recent_ids.size):  # ring buffer, oldest overwritten
            part = new[start:start + self.recent_ids.size]
            slots = (self.recent_pos + np.arange(part.size)) % self.recent_ids.size
            self.recent_ids[slots] = part
            self.recent_pos = int((self.recent_pos + part.size) % self.recent_ids.size)
            self.recent_count = min(self.recent_ids.size, self.recent_count + part.size)
        count = int(duplicate.sum())
        if not count:
            return batch
        issues.rejected[rows.DUPLICATE_ID] += count
        self._once("duplicates", "model %s: rows with an id already seen are rejected (duplicate_id)",
                   self.config.name)
        return batch.take(~duplicate)

    def _ids(self, frame: pd.DataFrame, column: str | None) -> list[str | None] | None:
        if not column or column not in frame.columns:
            return None
        return [labels.clean_id(v) for v in frame[column].tolist()]

    def _join_early_labels(self, batch: rows.Batch, outputs: targets.Targets, codes: dict[str, np.ndarray],
                           now: float) -> np.ndarray | None:
        """Give waiting labels to their predictions; keep unlabelled predictions waiting for theirs.

        Returns each row's label delay (NaN where no waiting label joined it), or None without a labels log.
        """
        if self.label_source is None:
            return None
        row_delays = np.full(len(batch), np.nan)
        ids = self._ids(batch.frame, self.config.predictions.id_column)
        if ids is None:
            self._once("no-id", "model %s: prediction rows have no id column %r: late labels cannot be joined",
                       self.config.name, self.config.predictions.id_column)
            return row_delays
        labelled = outputs.labelled()
        delays = []
        column_codes = list(codes.values())
        for i, ident in enumerate(ids):
            if ident is None or labelled[i]:
                continue
            early = self.early.pop(ident)
            if early is not None:
                outputs.label[i] = early[0]
                row_delays[i] = max(0.0, early[1] - float(batch.ts[i]))
                delays.append(row_delays[i])
                continue
            self.pending.add(ident, labels.Pending(
                float(batch.ts[i]), float(outputs.score[i]), int(outputs.pred_class[i]), float(outputs.pred_value[i]),
                tuple(int(c[i]) for c in column_codes)), self.join_dropped)
        if delays:
            self.label_delay.observe(np.asarray(delays))
        return row_delays

    def ingest_labels(self, frame: pd.DataFrame, now: float) -> int:
        """Join late labels to their predictions and add them to the predictions' buckets."""
        config = self.config.labels
        assert config is not None
        if len(frame) == 0:
            return 0
        frame = normalized(frame)
        for column in (config.id_column, config.label_column):
            if column not in frame.columns:
                self.rejected["missing_label_column"] += len(frame)
                self.violations[(rows.MISSING_COLUMN, column)] += len(frame)
                self._once(("label-column", column), "model %s: label rows have no column %r",
                           self.config.name, column)
                return 0
        values = self._label_values(frame[config.label_column])
        ids = self._ids(frame, config.id_column) or []
        missing = (~np.isfinite(values) | (values < 0)) if self.targets.task != "regression" else ~np.isfinite(values)
        joined: list[tuple[labels.Pending, float]] = []
        for ident, value, absent in zip(ids, values.tolist(), missing.tolist(), strict=True):
            if ident is None:
                self.rejected["missing_id"] += 1
                continue
            if absent:
                self.rejected["missing_label"] += 1
                continue
            pending = self.pending.pop(ident)
            if pending is None:
                self.early.add(ident, (value, now), self.join_dropped)
            else:
                joined.append((pending, value))
        if joined:
            self._add_labels(joined, now)
        return len(joined)

    def _label_values(self, series: pd.Series) -> np.ndarray:
        spec = self.targets
        if spec.task == "regression":
            return rows.numeric_values(series)[0]
        if spec.task == "binary_classification":
            return targets.binary_codes(series, spec.positive_label).astype(np.float64)
        return rows.category_codes(series, spec.classes).astype(np.float64)

    def _add_labels(self, joined: list[tuple[labels.Pending, float]], now: float) -> None:
        ts = np.array([p.ts for p, _ in joined])
        label_values = np.array([v for _, v in joined])
        classification = self.targets.task != "regression"
        outputs = targets.Targets(
            out_index=np.full(ts.size, -1, dtype=np.int32),
            out_value=np.zeros(ts.size),
            score=np.array([p.score for p, _ in joined]),
            pred_class=np.array([p.pred_class for p, _ in joined], dtype=np.int32),
            pred_value=np.array([p.pred_value for p, _ in joined]),
            label=label_values.astype(np.int32) if classification else label_values,
        )
        codes = {column: np.array([p.segments[i] for p, _ in joined], dtype=np.int64)
                 for i, column in enumerate(self.segments)}
        delays = np.maximum(0.0, now - ts)
        self.label_delay.observe(delays)
        fields, spec = self.layout.fields, self.targets
        self._add_rows(ts, codes, now, lambda selected: {
            **targets.summarize_labels(spec, fields, outputs.take(selected)),
            "label_delay": bucket_counts(LABEL_DELAY_BUCKETS, delays[selected]),
        })

    def _observe_service(self, frame: pd.DataFrame) -> None:
        column = self.config.latency_column
        if column and column in frame.columns:
            values = rows.numeric_values(frame[column])[0]
            values = values[np.isfinite(values) & (values >= 0)] * _LATENCY_SCALE[self.config.latency_unit]
            self.latency.observe(values)
        column = self.config.error_column
        if column and column in frame.columns:
            text = category_strings(frame[column].map(lambda v: str(v).lower() if isinstance(v, bool) else v))
            present = text.dropna().str.lower()
            self.prediction_errors_total += int((~present.isin(self._ok_values)).sum())

    # -- one update ---------------------------------------------------------------------------

    def update(self, now: float | None = None, persist: bool = True,
               budget: int | None = UPDATE_BYTES) -> ModelSnapshot:
        """Read new rows and labels, recompute every window and return the snapshot. Never raises.

        One update reads at most about ``budget`` bytes of each log (None: everything), so a
        backlog is worked off over several updates, each of which publishes fresh numbers.
        """
        started = time.time()
        now = started if now is None else now
        ok = self._read(self.source, STAGE_READ, self.ingest, now, budget)
        if self.label_source is not None:
            ok = self._read(self.label_source, STAGE_LABELS, self.ingest_labels, now, budget) and ok
            self._expire_labels(now)
        # Saving costs a write of every ring: only when something was read or given up.
        if persist and ok and self._dirty:
            try:
                self.persist()
                self._dirty = False
            except OSError as error:
                ok = False
                self.errors[STAGE_STATE] += 1
                log.error("model %s: cannot save state: %s", self.config.name, error)
        try:
            windows = self.compute(now)
        except Exception:  # a bug in one statistic must not stop the exporter
            log.exception("model %s: computing windows failed", self.config.name)
            self.errors[STAGE_COMPUTE] += 1
            windows = ()
            ok = False
        finished = time.time()
        if ok:
            self.last_success = finished
        self.last_duration = finished - started
        return self.snapshot(windows, ok, now)

    def _expire_labels(self, now: float) -> None:
        config = self.config.labels
        assert config is not None
        max_delay = config.max_delay or max(w.seconds for w in self.config.windows)
        before = (len(self.pending), len(self.early))
        self.pending.expire(now - max_delay, self.join_dropped)
        self.early.expire(now, self.join_dropped)
        self._dirty = self._dirty or before != (len(self.pending), len(self.early))

    def _read(self, source: FileSource, stage: str, ingest: Callable[[pd.DataFrame, float], int],
              now: float, budget: int | None) -> bool:
        ok = True
        consumed = 0
        while budget is None or consumed < budget:
            try:
                chunks, errors = source.read()
            except (SourceError, OSError) as error:
                self.errors[stage] += 1
                log.error("model %s: cannot read %s: %s", self.config.name, source.pattern, error)
                return False
            for message in errors:
                self.errors[stage] += 1
                log.error("model %s: cannot read %s", self.config.name, message)
                ok = False
            if not chunks:
                return ok
            for chunk in chunks:
                self._ingest_chunk(chunk, now, stage, ingest)
                consumed += chunk.nbytes
            if not any(chunk.more for chunk in chunks):
                return ok
        return ok

    def _ingest_chunk(self, chunk: Chunk, now: float, stage: str,
                      ingest: Callable[[pd.DataFrame, float], int]) -> None:
        self.rejected.update(chunk.rejected)
        try:
            ingest(chunk.frame, now)
        except Exception:  # counted and logged; the chunk is skipped, not retried forever
            log.exception("model %s: cannot ingest %d rows of %s", self.config.name, len(chunk.frame), chunk.path)
            self.errors[STAGE_INGEST] += 1
            self.rejected["ingest_error"] += len(chunk.frame)
        self._dirty = True
        (self.source if stage == STAGE_READ else self.label_source).commit(chunk)  # type: ignore[union-attr]

    # -- statistics of the windows ------------------------------------------------------------

    def compute(self, now: float) -> tuple[WindowResult, ...]:
        out = []
        for key, rings in self.rings.items():
            for label, ring in rings.items():
                out.append(self._window(key, label, ring.merged(now)))
        return tuple(out)

    def _window(self, segment: str, label: str, merged: Summary) -> WindowResult:
        n = int(merged["rows"])
        min_rows = self.config.min_window_rows
        features = drift.feature_windows(self.reference, merged, min_rows)
        share = drift.drifted_share(features)
        dataset = None if share is None else share >= self.config.drift.dataset_share
        labelled = int(merged["labelled"])
        return WindowResult(
            window=label, segment=segment, rows=n, features=features, drifted_ratio=share, dataset_drifted=dataset,
            labelled_rows=labelled,
            label_coverage=labelled / n if n and self._expects_labels else None,
            performance=self._performance(merged) if labelled >= min_rows else {},
            estimated_performance=self._estimated(merged) if n >= min_rows else {},
            prediction_drift=self._prediction_drift(merged, min_rows),
            label_delay_quantiles=self._delay_quantiles(merged),
            prediction_out_of_range=self._output_out_of_range(merged),
        )

    def _delay_quantiles(self, merged: Summary) -> dict[str, float]:
        if "label_delay" not in merged:
            return {}
        out = {}
        for percentile in (50, 90, 99):
            value = bucket_quantile(percentile / 100, LABEL_DELAY_BUCKETS, merged["label_delay"])
            if value is not None:
                out[str(percentile)] = value
        return out

    def _performance(self, merged: Summary) -> dict[str, float]:
        task = self.targets.task
        if task == "regression":
            return performance.regression_metrics(merged["reg_sums"])
        if task == "multiclass_classification":
            return performance.multiclass_metrics(merged["confusion"])
        confusion = merged["confusion"][:2, :2]
        if "auc_pos" in merged:
            return performance.binary_metrics(confusion, merged["auc_pos"], merged["auc_neg"],
                                              float(merged["logloss_sum"]), int(merged["scored_labelled"]))
        return performance.binary_from_confusion(confusion)

    def performance_of(self, frame: pd.DataFrame) -> dict[str, float]:
        """Realized performance of the labelled rows of ``frame`` (used on the reference, the baseline)."""
        outputs = targets.prepare(self.targets, self.config, frame)
        summary = targets.summarize_labels(self.targets, self.layout.fields, outputs)
        merged = {**self.layout.empty(), **summary}
        return self._performance(merged) if int(merged["labelled"]) > 0 else {}

    def _estimated(self, merged: Summary) -> dict[str, float]:
        if "cbpe_class_confusion" in merged:
            return performance.multiclass_metrics(merged["cbpe_class_confusion"])
        if "cbpe_confusion" not in merged:
            return {}
        return performance.cbpe_metrics(merged["cbpe_confusion"], merged["cbpe_pos"], merged["cbpe_neg"])

    def _prediction_drift(self, merged: Summary, min_rows: int) -> tuple[OutputDrift, ...]:
        out = []
        output = self.targets.output
        if output is not None and output.usable and int(merged["out_counts"].sum()) >= min_rows:
            score = drift.numeric_score(output, merged["out_counts"], merged["out_sums"])
            out.append(OutputDrift("score" if self.targets.task != "regression" else "value", output.method,
                                   score, output.threshold, drift.is_drift(output.method, score, output.threshold)))
        reference = self.targets.reference_class_counts
        if reference is not None and "class_counts" in merged and int(merged["class_counts"].sum()) >= min_rows:
            score = jensen_shannon(reference, merged["class_counts"])
            out.append(OutputDrift("class", CLASS_DRIFT_METHOD, score, CLASS_DRIFT_THRESHOLD,
                                   score > CLASS_DRIFT_THRESHOLD))
        return tuple(out)

    def _output_out_of_range(self, merged: Summary) -> float | None:
        if "out_counts" not in merged:
            return None
        counts = merged["out_counts"]
        total = int(counts.sum())
        return float(counts[0] + counts[-1]) / total if total else None

    # -- snapshot -----------------------------------------------------------------------------

    def thresholds(self) -> tuple[Threshold, ...]:
        features = [*self.reference.numeric, *self.reference.categorical]
        return tuple(Threshold(f.name, f.method, f.threshold) for f in features if f.usable)

    def quality_thresholds(self) -> tuple[QualityThreshold, ...]:
        q = self.config.quality
        out = []
        for f in self.reference.numeric:
            out.append(QualityThreshold(f.name, "completeness", min(1.0, f.missing_ratio + q.missing_ratio_tolerance)))
            out.append(QualityThreshold(f.name, "out_of_range", q.out_of_range_ratio))
        for c in self.reference.categorical:
            out.append(QualityThreshold(c.name, "completeness", min(1.0, c.missing_ratio + q.missing_ratio_tolerance)))
            out.append(QualityThreshold(c.name, "categorical_values", q.new_category_ratio))
        return tuple(out)

    def snapshot(self, windows: tuple[WindowResult, ...], ok: bool, now: float | None = None) -> ModelSnapshot:
        now = time.time() if now is None else now
        calibration = self.targets.calibration
        class_calibrations = self.targets.class_calibrations
        trained_at = self.config.trained_at
        if trained_at is not None and trained_at.tzinfo is None:
            trained_at = trained_at.replace(tzinfo=UTC)
        return ModelSnapshot(
            model=self.config.name,
            windows=windows,
            thresholds=self.thresholds(),
            quality_thresholds=self.quality_thresholds(),
            dataset_drift_share=self.config.drift.dataset_share,
            predictions_total=self.predictions_total,
            latency=self.latency.value() if self.config.latency_column else None,
            label_delay=self.label_delay.value() if self.label_source is not None else None,
            rejected=dict(self.rejected),
            errors=dict(self.errors),
            violations=dict(self.violations),
            join_dropped=dict(self.join_dropped) if self.label_source is not None else None,
            pending_labels=(len(self.pending), len(self.early)) if self.label_source is not None else None,
            segment_other=dict(self.segment_other),
            prediction_errors=self.prediction_errors_total if self.config.error_column else None,
            calibration_error=(calibration.error if calibration is not None else
                               float(np.mean([c.error for c in class_calibrations])) if class_calibrations else None),
            calibrated=(calibration.calibrated if calibration is not None else
                        any(c.calibrated for c in class_calibrations) if class_calibrations else None),
            output_thresholds=self._output_thresholds(),
            reference_performance=self.reference_performance,
            performance_thresholds={
                metric: max(0.0, value - self.config.performance_tolerance)
                for metric, value in self.reference_performance.items() if metric in performance.HIGHER_IS_BETTER},
            windows_seconds=tuple((w.label, w.seconds) for w in self.config.windows),
            version=self.config.version or "",
            trained_at=trained_at.isoformat() if trained_at else "",
            age_seconds=(now - trained_at.timestamp()) if trained_at else None,
            last_success=self.last_success,
            last_duration=self.last_duration,
            up=ok,
        )

    def _output_thresholds(self) -> tuple[tuple[str, str, float], ...]:
        out = []
        if self.targets.output is not None and self.targets.output.usable:
            kind = "score" if self.targets.task != "regression" else "value"
            out.append((kind, self.targets.output.method, self.targets.output.threshold))
        if self.targets.reference_class_counts is not None:
            out.append(("class", CLASS_DRIFT_METHOD, CLASS_DRIFT_THRESHOLD))
        return tuple(out)

