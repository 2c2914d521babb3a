"""One monitored model: its sources, its window rings, its counters, its updates.

An update (:meth:`ModelMonitor.update`) reads the new rows of the model's logs,
validates and bins them (:mod:`exporter.rows`), adds their summaries to every
window ring (:mod:`exporter.sketch`, :mod:`exporter.windows`), commits the
cursors, persists cursors and rings together (:mod:`exporter.state`) and
returns an immutable :class:`exporter.results.ModelSnapshot`. Failures are
counted by stage and never raised: one model's trouble stops no other model.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from exporter import drift, rows, state
from exporter.config import ModelConfig
from exporter.reference import Reference
from exporter.results import Histogram, ModelSnapshot, QualityThreshold, Threshold, WindowResult
from exporter.sketch import Layout, data_layout, summarize_data
from exporter.sources import Chunk, Cursor, FileSource, SourceError
from exporter.windows import Ring

log = logging.getLogger(__name__)

#: Upper bounds of ``model_prediction_latency_seconds``: 1 ms to 10 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LATENCY_SCALE = {"s": 1.0, "ms": 1e-3, "us": 1e-6}

#: Error stages (``model_monitor_errors_total{stage}``).
STAGE_READ = "read"
STAGE_INGEST = "ingest"
STAGE_COMPUTE = "compute"
STAGE_STATE = "state"


def _group_ids(buckets: list[np.ndarray]) -> np.ndarray | None:
    """A group id per row, equal for rows in the same bucket of every ring; None if all rows share one."""
    if all(ids.size == 0 or ids.min() == ids.max() for ids in buckets):
        return None
    stacked = np.stack(buckets, axis=1)
    _, inverse = np.unique(stacked, axis=0, return_inverse=True)
    return inverse.ravel()


class ModelMonitor:
    """Everything the exporter keeps about one model."""

    def __init__(self, config: ModelConfig, reference: Reference, state_dir: Path | None):
        self.config = config
        self.reference = reference
        self.layout = Layout(data_layout(reference))
        self.rings = {w.label: Ring(w, self.layout, config.window_buckets) for w in config.windows}
        self.source = FileSource(config.predictions.path, config.predictions.format)
        self.state_file = state.state_path(state_dir, config.name) if state_dir is not None else None
        self.known_columns = frozenset(self._known_columns())
        self.predictions_total = 0
        self.rejected: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.violations: Counter[tuple[str, str]] = Counter()
        self.latency_counts = np.zeros(len(LATENCY_BUCKETS) + 1, dtype=np.int64)
        self.latency_sum = 0.0
        self.last_success: float | None = None
        self.last_duration: float | None = None
        self._logged_violations: set[tuple[str, str]] = set()
        self._fingerprint = self._layout_fingerprint()
        self.restore()

    # -- identity of the persisted layout -------------------------------------------------

    def _known_columns(self) -> set[str]:
        c = self.config
        known = set(self.reference.feature_names)
        known |= {x for x in (c.predictions.timestamp_column, c.predictions.id_column, c.prediction_column,
                              c.score_column, c.label_column, c.latency_column) if x}
        return known

    def _layout_fingerprint(self) -> str:
        windows = [(r.window.label, r.window.seconds, r.slots) for r in self.rings.values()]
        digest = hashlib.sha256(repr((self.layout.signature(), windows)).encode()).hexdigest()[:16]
        return f"{self.reference.fingerprint()}:{digest}"

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
                    f"{self.state_file}: saved for another reference, feature set or window layout"
                )
            for label, ring in self.rings.items():
                prefix = f"ring/{label}/"
                ring.restore({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
            self.source.cursors = {p: Cursor.from_json(c) for p, c in meta["cursors"].items()}
            self.predictions_total = int(meta["predictions_total"])
            self.rejected = Counter(meta["rejected"])
            self.errors = Counter(meta["errors"])
            self.violations = Counter({tuple(k.split("\x1f", 1)): v for k, v in meta["violations"].items()})
            self.latency_counts = arrays["latency_counts"].astype(np.int64)
            self.latency_sum = float(meta["latency_sum"])
            log.info("model %s: restored state from %s", self.config.name, self.state_file)
        except (state.StateError, KeyError, ValueError, TypeError) as error:
            log.error("model %s: cannot use saved state (%s); rebuilding from the logs", self.config.name, error)
            self.errors[STAGE_STATE] += 1
            self.rings = {w.label: Ring(w, self.layout, self.config.window_buckets) for w in self.config.windows}
            self.source.cursors = {}

    def persist(self) -> None:
        if self.state_file is None:
            return
        arrays: dict[str, np.ndarray] = {"latency_counts": self.latency_counts}
        for label, ring in self.rings.items():
            for name, array in ring.state().items():
                arrays[f"ring/{label}/{name}"] = array
        meta = {
            "fingerprint": self._fingerprint,
            "cursors": {p: c.to_json() for p, c in self.source.cursors.items()},
            "predictions_total": self.predictions_total,
            "rejected": dict(self.rejected),
            "errors": dict(self.errors),
            "violations": {"\x1f".join(k): v for k, v in self.violations.items()},
            "latency_sum": self.latency_sum,
        }
        state.save(self.state_file, meta, arrays)

    # -- ingest -----------------------------------------------------------------------------

    def ingest(self, frame: pd.DataFrame, now: float) -> int:
        """Validate, bin and add ``frame``'s rows to every window; returns rows accepted."""
        if frame.empty:
            return 0
        batch, issues = rows.prepare(
            frame, self.reference, self.config.predictions.timestamp_column, self.known_columns, now,
            self.config.max_clock_skew,
        )
        self.rejected.update(issues.rejected)
        self.violations.update(issues.violations)
        for key in issues.violations:
            if key not in self._logged_violations:
                self._logged_violations.add(key)
                check, feature = key
                log.warning("model %s: data quality violation %s%s (logged once; counted in "
                            "model_data_quality_violations_total)", self.config.name, check,
                            f" on {feature!r}" if feature else "")
        if len(batch) == 0:
            return 0
        self.predictions_total += len(batch)
        self._observe_latency(batch.frame)
        self._add_to_windows(batch, now)
        return len(batch)

    def _add_to_windows(self, batch: rows.Batch, now: float) -> None:
        """Summarise ``batch`` once per distinct combination of window buckets and add it to the rings.

        Rows are grouped by the tuple of their bucket in every ring (usually one
        group while tailing a live log), sorted once, and each group is
        summarised from a contiguous slice.
        """
        rings = list(self.rings.values())
        buckets = [ring.bucket_of(batch.ts) for ring in rings]
        oldest = [ring.oldest_live_bucket(now) for ring in rings]
        live = np.zeros(len(batch), dtype=bool)
        for ids, first in zip(buckets, oldest, strict=True):
            live |= ids >= first
        if not live.any():
            return
        if not live.all():
            batch = batch.take(live, with_frame=False)
            buckets = [ids[live] for ids in buckets]
        group = _group_ids(buckets)
        if group is None:
            groups = [(slice(0, len(batch)), [int(ids[0]) for ids in buckets])]
        else:
            order = np.argsort(group, kind="stable")
            batch = batch.take(order, with_frame=False)
            buckets = [ids[order] for ids in buckets]
            starts = np.concatenate([[0], np.flatnonzero(np.diff(group[order])) + 1, [len(batch)]])
            groups = [(slice(int(a), int(b)), [int(ids[a]) for ids in buckets])
                      for a, b in itertools.pairwise(starts)]
        for rows_slice, ring_buckets in groups:
            summary = summarize_data(self.layout, batch.take(rows_slice, with_frame=False))
            for ring, bucket, first in zip(rings, ring_buckets, oldest, strict=True):
                if bucket >= first:
                    ring.add_one(bucket, summary)

    def _observe_latency(self, frame: pd.DataFrame) -> None:
        column = self.config.latency_column
        if not column or column not in frame.columns:
            return
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        values = values[np.isfinite(values) & (values >= 0)] * _LATENCY_SCALE[self.config.latency_unit]
        if values.size:
            index = np.searchsorted(np.asarray(LATENCY_BUCKETS), values, side="left")
            self.latency_counts += np.bincount(index, minlength=len(LATENCY_BUCKETS) + 1)
            self.latency_sum += float(values.sum())

    # -- one update ---------------------------------------------------------------------------

    def update(self, now: float | None = None, persist: bool = True) -> ModelSnapshot:
        """Read new rows, recompute every window and return the snapshot. Never raises."""
        started = time.time()
        now = started if now is None else now
        ok = self._read_and_ingest(now)
        if persist and ok:
            try:
                self.persist()
            except OSError as error:
                ok = False
                self.errors[STAGE_STATE] += 1
                log.error("model %s: cannot save state: %s", self.config.name, error)
        try:
            windows = self.compute(now)
        except Exception:
            log.exception("model %s: computing windows failed", self.config.name)
            self.errors[STAGE_COMPUTE] += 1
            windows = ()
            ok = False
        finished = time.time()
        if ok:
            self.last_success = finished
        self.last_duration = finished - started
        return self.snapshot(windows, ok)

    def _read_and_ingest(self, now: float) -> bool:
        ok = True
        while True:
            try:
                chunks, errors = self.source.read()
            except (SourceError, OSError) as error:
                self.errors[STAGE_READ] += 1
                log.error("model %s: cannot read predictions: %s", self.config.name, error)
                return False
            for message in errors:
                self.errors[STAGE_READ] += 1
                log.error("model %s: cannot read %s", self.config.name, message)
                ok = False
            if not chunks:
                return ok
            more = False
            for chunk in chunks:
                self._ingest_chunk(chunk, now)
                more = more or chunk.more
            if not more:
                return ok

    def _ingest_chunk(self, chunk: Chunk, now: float) -> None:
        self.rejected.update(chunk.rejected)
        try:
            self.ingest(chunk.frame, now)
        except Exception:
            log.exception("model %s: cannot ingest %d rows of %s", self.config.name, len(chunk.frame), chunk.path)
            self.errors[STAGE_INGEST] += 1
            self.rejected["ingest_error"] += len(chunk.frame)
        self.source.commit(chunk)

    def compute(self, now: float) -> tuple[WindowResult, ...]:
        out = []
        for label, ring in self.rings.items():
            merged = ring.merged(now)
            n = int(merged["rows"])
            features = drift.feature_windows(self.reference, merged, self.config.min_window_rows)
            share = drift.drifted_share(features)
            dataset = None if share is None else share >= self.config.drift.dataset_share
            out.append(WindowResult(window=label, rows=n, features=features, drifted_ratio=share,
                                    dataset_drifted=dataset))
        return tuple(out)

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

    def snapshot(self, windows: tuple[WindowResult, ...], ok: bool) -> ModelSnapshot:
        latency = None
        if self.config.latency_column:
            cumulative = np.cumsum(self.latency_counts)
            bounds = (*LATENCY_BUCKETS, float("inf"))
            latency = Histogram(tuple(zip(bounds, map(int, cumulative), strict=True)), self.latency_sum,
                                int(cumulative[-1]))
        return ModelSnapshot(
            model=self.config.name,
            windows=windows,
            thresholds=self.thresholds(),
            quality_thresholds=self.quality_thresholds(),
            dataset_drift_share=self.config.drift.dataset_share,
            predictions_total=self.predictions_total,
            latency=latency,
            rejected=dict(self.rejected),
            errors=dict(self.errors),
            violations=dict(self.violations),
            last_success=self.last_success,
            last_duration=self.last_duration,
            up=ok,
        )
