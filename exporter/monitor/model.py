"""One monitored model: the orchestrator of its units.

An update (:meth:`ModelMonitor.update`) reads the new rows of the model's
prediction log (:mod:`exporter.sources.files`), prepares them into arrays
(:mod:`exporter.prepare.preparer`), drops duplicate ids (:mod:`exporter.prepare.dedup`), lets
waiting labels join them (:mod:`exporter.prepare.label_join`) and adds their
summaries to the window store (:mod:`exporter.windows.store`); then it reads
new labels, which the label join turns into rows the store adds to their
predictions' buckets. It commits the cursors, persists every unit's state
together (:mod:`exporter.state.store`), evaluates every window with the components
(:mod:`exporter.components`) and returns an immutable
:class:`exporter.summary.results.ModelSnapshot`. Failures are counted by stage and
never raised: one model's trouble stops no other model.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from exporter.baseline import targets
from exporter.baseline.classes import ClassRegistry
from exporter.baseline.reference import Reference
from exporter.components import ROWS, Component, PerformanceBaseline, build_components, evaluate_window
from exporter.config import ModelConfig
from exporter.monitor.counters import Counters
from exporter.monitor.layout import base_fingerprint, fingerprint
from exporter.monitor.one_shot import one_shot_verdicts
from exporter.monitor.pushdown import PushdownIngest
from exporter.monitor.saved import SavedState
from exporter.monitor.sources import open_source
from exporter.prepare.dedup import RecentIds
from exporter.prepare.label_join import LabelJoiner
from exporter.prepare.preparer import LabelledRows, PreparedBatch, Preparer
from exporter.prepare.rows import Rejections
from exporter.prepare.segments import OTHER
from exporter.sources.cursors import Chunk, SourceError, rows_at_once
from exporter.sources.files import FileSource
from exporter.state.store import StateStore
from exporter.summary.results import ModelSnapshot, Verdict, WindowResult
from exporter.values.vocabulary import CheckName, ErrorStage, RejectReason, SchemaCheck
from exporter.windows.store import WindowStore
from exporter.windows.timelines import timeline_points, timelines

if TYPE_CHECKING:
    from exporter.monitor.pushdown import Aggregation
    from exporter.sources.sql import SqlSource

    Source = FileSource | SqlSource

log = logging.getLogger(__name__)

#: Bytes of each log one update reads at most: a backlog is worked off over several updates.
UPDATE_BYTES = 256 * 1024 * 1024
#: Rows prepared at once at most: the working memory of an update is about this many rows' arrays. Models
#: with many features prepare fewer rows at once: about INGEST_VALUES feature values.
INGEST_ROWS = 65_536
INGEST_VALUES = 1_500_000


class ModelMonitor(SavedState, PushdownIngest):
    """Everything the exporter keeps about one model, and the order in which its units run."""

    def __init__(self, config: ModelConfig, reference: Reference, state_dir: Path | None,
                 target_spec: targets.TargetSpec | None = None,
                 segments: dict[str, tuple[str, ...]] | None = None,
                 performance: PerformanceBaseline | None = None):
        self.config = config
        self.reference = reference
        self.targets = target_spec or targets.TargetSpec(
            config.task, None, None, ("0", "1") if config.task == "binary_classification" else (), None, None,
            str(config.positive_label), config.decision_threshold)
        self.segments = segments or {}
        self.preparer = Preparer(config, reference, self.targets, self.segments,
                                 max_age=max(w.seconds for w in config.windows))
        self.baseline = performance or PerformanceBaseline(config.performance_tolerance,
                                                           alpha=config.performance_alpha)
        self._build_units()
        self.aggregation: Aggregation | None = None
        self.source = open_source(config, "predictions", reference, self._pushdown)
        self.label_source = open_source(config, "labels", reference) if config.labels else None
        self.state_file = self._state_file(state_dir) if state_dir is not None else None
        self.state_store = StateStore(self.state_file) if self.state_file is not None else None
        self.last_success: float | None = None
        self.last_duration: float | None = None
        self._logged: set[object] = set()
        self._fingerprint = self.layout_fingerprint()
        self._base_fingerprint = base_fingerprint(self.reference, self.targets, self.targets.auc_edges, self.config,
                                                  self.store.segment_keys)
        self._fields = [[name, list(shape), dtype] for name, shape, dtype in self.store.layout.signature()]
        self._dirty = False
        self._save_failure: object = None
        self._violation_keys = self.violation_keys()
        self.restore()

    def _build_units(self) -> None:
        """The units that hold state, all empty: at start, and again when saved state cannot be used."""
        config = self.config
        self.components = build_components(config, self.reference, self.targets, self.baseline)
        self.store = WindowStore(self.components, config.windows, config.window_buckets, self.segments)
        # Without a labels log the joiner stays empty (labels then come with their predictions, if at all).
        self.joiner = LabelJoiner(tuple(self.segments), config.labels.max_pending if config.labels else 1,
                                  config.labels.early_label_retention if config.labels else 0.0,
                                  config.task != "regression", len(self.targets.class_score_columns))
        self.recent_ids = RecentIds(config.max_recent_ids)
        self.counters = Counters()
        if self.targets.task == "multiclass_classification":
            self.preparer.registry = ClassRegistry(self.targets.classes)

    # -- identity of the persisted layout -------------------------------------------------

    def layout_fingerprint(self) -> str:
        return fingerprint(self.reference, self.targets, self.targets.auc_edges, self.store.layout.signature(),
                           self.config, self.store.segment_keys)

    def violation_keys(self) -> tuple[tuple[str, str], ...]:
        """The schema violations this model counts, by check and column (as :mod:`exporter.prepare.rows` and
        :mod:`exporter.prepare.preparer` count them): a missing feature or timestamp column, a numeric feature's
        value of the wrong type, columns the model does not know (one series), and a missing labels-log column."""
        keys = {(SchemaCheck.MISSING_COLUMN.value, name) for name in (*self.reference.feature_names,
                                                                       *self.preparer.role_columns)}
        if self.config.predictions.timestamp_column:
            keys.add((SchemaCheck.MISSING_COLUMN.value, self.config.predictions.timestamp_column))
        keys |= {(SchemaCheck.DATA_TYPE.value, f.name) for f in self.reference.numeric}
        keys.add((SchemaCheck.EXTRA_COLUMN.value, ""))
        if self.config.labels is not None:
            keys |= {(SchemaCheck.MISSING_COLUMN.value, column)
                     for column in (self.config.labels.id_column, self.config.labels.label_column)}
        return tuple(sorted(keys))

    def _once(self, key: object, message: str, *args: object) -> None:
        """Log a warning the first time ``key`` is seen."""
        if key not in self._logged:
            self._logged.add(key)
            log.warning(message, *args)

    def _sources(self) -> dict[str, Source]:
        return {"predictions": self.source, **({"labels": self.label_source} if self.label_source else {})}

    # -- ingest -----------------------------------------------------------------------------

    def ingest(self, frame: pd.DataFrame, now: float) -> int:
        """Prepare ``frame``'s prediction rows and add them to every window; returns rows accepted.

        A large frame is prepared ``INGEST_ROWS`` rows at a time, so the arrays of one slice (every
        feature binned, its values, its masks) bound the memory an update needs, whatever the file size.
        """
        if len(frame) == 0:  # not frame.empty: rows without any column are rows, and get rejected
            return 0
        accepted = 0
        step = rows_at_once(INGEST_ROWS, INGEST_VALUES, len(self.reference.feature_names))
        for start in range(0, len(frame), step):
            part = frame.iloc[start:start + step] if len(frame) > step else frame
            batch, issues = self.preparer.prepare(part, now, with_ids=self.label_source is not None)
            accepted += self._accept(batch, issues, part, now)
        return accepted

    def _accept(self, batch: PreparedBatch, issues: Rejections, frame: pd.DataFrame, now: float,
                skip: frozenset[str] = frozenset(), no_duplicates: bool = False) -> int:
        """Count ``batch``'s rejections, drop duplicates, join and add the rest to every window (the components
        in ``skip`` excepted); returns rows accepted. ``no_duplicates``: the caller found none among the ids
        (:meth:`RecentIds.find`), so they are only remembered."""
        batch = self._drop_duplicates(batch, issues, no_duplicates)
        self._count(issues, frame)
        if len(batch) == 0:
            return 0
        self.counters.predictions_total += len(batch)
        self._count_segment_other(batch)
        if self.label_source is not None:
            if batch.ids is None:
                self._once("no-id", "model %s: prediction rows have no id column %r: late labels cannot be joined",
                           self.config.name, self.config.predictions.id_column)
            else:
                self.joiner.on_predictions(batch)
        for component in self.components:
            component.observe(batch)
            component.observe_labels(batch)
        self.store.add_predictions(batch, now, skip)
        return len(batch)

    def _drop_duplicates(self, batch: PreparedBatch, issues: Rejections, none: bool = False) -> PreparedBatch:
        """Reject rows whose id was seen among the last ``max_recent_ids`` ids (or earlier in the batch);
        ``none``: they were looked for already and none was found, so the ids are only remembered."""
        if batch.id_hashes is None or batch.id_present is None or len(batch) == 0:
            return batch
        if none:
            self.recent_ids.remember(batch.id_hashes[batch.id_present])
            return batch
        duplicate = self.recent_ids.duplicates(batch.id_hashes, batch.id_present)
        count = int(duplicate.sum())
        if not count:
            return batch
        issues.rejected[RejectReason.DUPLICATE_ID] += count
        self._once("duplicates", "model %s: rows with an id already seen are rejected (duplicate_id)",
                   self.config.name)
        return batch.take(~duplicate)

    def _count(self, issues: Rejections, frame: pd.DataFrame) -> None:
        self.counters.add(issues)
        for check, feature in issues.violations:
            self._once(("violation", check, feature),
                       "model %s: data quality violation %s%s (logged once; counted in "
                       "model_data_quality_violations_total)", self.config.name, check,
                       f" on {feature!r}" if feature else "")
            if check == SchemaCheck.EXTRA_COLUMN:
                extra = self.preparer.extra_columns(frame)[:20]
                self._once(("extra", tuple(extra)), "model %s: columns unknown to the model: %s",
                           self.config.name, extra)

    def _count_segment_other(self, batch: PreparedBatch) -> None:
        for column, codes in batch.segments.items():
            other = int((codes == len(self.segments[column])).sum())
            if other:
                self.counters.segment_other[column] += other
                self._once(("segment-other", column), "model %s: values of segment column %r beyond the %d kept "
                           "are counted in segment %s=%s", self.config.name, column, len(self.segments[column]),
                           column, OTHER)

    def ingest_labels(self, frame: pd.DataFrame, now: float) -> int:
        """Join late labels to their predictions and add them to the predictions' buckets."""
        if len(frame) == 0:
            return 0
        labels, issues = self.preparer.prepare_labels(frame)
        self.counters.add(issues)
        if labels is None:
            for _, column in issues.violations:
                self._once(("label-column", column), "model %s: label rows have no column %r",
                           self.config.name, column)
            return 0
        rows = self.joiner.on_labels(labels, now, self.counters.rejected)
        if rows is None:
            return 0
        self._add_labelled(rows, now)
        return len(rows)

    def _add_labelled(self, rows: LabelledRows, now: float) -> None:
        for component in self.components:
            component.observe_labels(rows)
        self.store.add_labels(rows, now)

    # -- one update ---------------------------------------------------------------------------

    def update(self, now: float | None = None, persist: bool = True,
               budget: int | None = UPDATE_BYTES, once: bool = False, keep_buckets: bool = False) -> ModelSnapshot:
        """Read new rows and labels, recompute every window and return the snapshot. Never raises.

        One update reads at most about ``budget`` bytes of each log (None: everything), so a
        backlog is worked off over several updates, each of which publishes fresh numbers.
        ``once``: this monitor's only update (``check``, ``report``), its windows read at ``now`` and
        never saved (see :attr:`WindowStore.read_once_at`), with the one-shot checks; not with ``persist``.
        ``keep_buckets`` (with ``once``): rows still go to their own buckets, so that failed checks have
        their timelines (``report``).
        """
        if once and persist:
            raise ValueError("an update read once is never saved: pass persist=False")
        started = time.time()
        now = started if now is None else now
        self.store.read_once_at = now if once and not keep_buckets else None
        ok = self._read(self.source, ErrorStage.READ, self.ingest, now, budget)
        if self.label_source is not None:
            ok = self._read(self.label_source, ErrorStage.LABELS, self.ingest_labels, now, budget) and ok
            max_delay = self.config.labels.max_delay if self.config.labels else None
            if self.joiner.expire(now, max_delay or max(w.seconds for w in self.config.windows)):
                self._dirty = True
        # Saving costs a write of every ring: only when something was read or given up.
        if persist and ok and self._dirty:
            ok = self._save()
        try:
            windows = self.compute(now)
        except Exception:  # a bug in one statistic must not stop the exporter
            log.exception("model %s: computing windows failed", self.config.name)
            self.counters.errors[ErrorStage.COMPUTE] += 1
            windows = ()
            ok = False
        finished = time.time()
        if ok:
            self.last_success = finished
        self.last_duration = finished - started
        snapshot = self.snapshot(windows, ok, now)
        if once:
            snapshot = replace(snapshot, verdicts=(*snapshot.verdicts, *one_shot_verdicts(self.counters, self.source)))
        return snapshot

    def _read(self, source: Source, stage: ErrorStage, ingest: Callable[[pd.DataFrame, float], int],
              now: float, budget: int | None) -> bool:
        """Ingest what ``source`` has new (at most about ``budget`` bytes); False when anything failed."""
        try:
            errors = source.drain(lambda chunk: self._ingest_chunk(chunk, now, ingest), budget)
        except (SourceError, OSError) as error:
            self.counters.errors[stage] += 1
            log.error("model %s: cannot read %s: %s", self.config.name, source.pattern, error)
            return False
        for message in errors:
            self.counters.errors[stage] += 1
            log.error("model %s: cannot read %s", self.config.name, message)
        return not errors

    def _ingest_chunk(self, chunk: Chunk, now: float, ingest: Callable[[pd.DataFrame, float], int]) -> None:
        """Ingest one chunk; a failure is counted and the chunk skipped (committed), never retried forever."""
        self.counters.rejected.update(chunk.rejected)
        before = Counter(self.counters.rejected)
        try:
            if chunk.batch is not None and ingest == self.ingest:
                accepted = self.ingest_pushdown(chunk.batch, now)
            else:
                accepted = ingest(chunk.frame, now)
            if ingest == self.ingest and len(chunk.frame) and not accepted:
                self._whole_chunk_rejected(chunk, self.counters.rejected - before)
        except Exception:
            log.exception("model %s: cannot ingest %d rows of %s", self.config.name, len(chunk.frame), chunk.path)
            self.counters.errors[ErrorStage.INGEST] += 1
            self.counters.rejected[RejectReason.INGEST_ERROR] += len(chunk.frame)
        self._dirty = True

    def _whole_chunk_rejected(self, chunk: Chunk, rejected: Counter[str]) -> None:
        """Say why when no row of a chunk could be used: usually a timestamp unit or a clock problem."""
        reasons = ", ".join(f"{reason} {count}" for reason, count in rejected.most_common())
        hint = ""
        if rejected.get(RejectReason.FUTURE_TIMESTAMP) or rejected.get(RejectReason.TOO_OLD):
            hint = (f" (timestamps are read as epoch {self.config.predictions.timestamp_unit}; check "
                    "predictions.timestamp_unit, the time zone of ISO timestamps and the clocks)")
        self._once(("whole-chunk", chunk.path, tuple(rejected)), "model %s: none of the %d rows read from %s was "
                   "usable: %s%s", self.config.name, len(chunk.frame), chunk.path, reasons or "see the log", hint)

    # -- results --------------------------------------------------------------------------------

    def compute(self, now: float) -> tuple[WindowResult, ...]:
        min_rows = self.config.min_window_rows
        results = []
        for segment, label, merged in self.store.merged(now):
            result = evaluate_window(self.components, label, segment, merged, min_rows, now,
                                     on_error=self._component_failed)
            if not segment and self.store.read_once_at is None and any(v.failed for v in result.verdicts):
                # Since when: runs of the window's buckets evaluated alone (only while a check fails; not when
                # a one-shot read put every row in its window's newest bucket).
                points = timeline_points(self.store.bucket_fields(segment, label, now), ROWS, min_rows,
                                         maxima=self.store.layout.maxima)
                # A component failing on a bucket was counted on the window: its point lacks the verdicts.
                buckets = [(start, evaluate_window(self.components, label, segment, fields, min_rows, now,
                                                   record=False, on_error=lambda component, error: None))
                           for start, fields in points]
                result = replace(result, timelines=timelines(result, buckets, self.config.drift.dataset_share))
            results.append(result)
        return tuple(results)

    def _component_failed(self, component: Component, error: Exception) -> None:
        """Count a component's failed evaluation of a window; log the first with its traceback, repeats at DEBUG."""
        first = not self.counters.component_errors[component.name]
        self.counters.component_errors[component.name] += 1
        log.log(logging.ERROR if first else logging.DEBUG, "model %s: component %s failed to evaluate a window; "
                "its results are left out, the other components' kept", self.config.name, component.name,
                exc_info=error)

    def snapshot(self, windows: tuple[WindowResult, ...], ok: bool, now: float | None = None) -> ModelSnapshot:
        now = time.time() if now is None else now
        trained_at = self.config.trained_at
        if trained_at is not None and trained_at.tzinfo is None:
            trained_at = trained_at.replace(tzinfo=UTC)
        parts: dict[str, Any] = {}
        for component in self.components:
            parts.update(component.snapshot_fields())
        c = self.counters
        joiner = self.joiner if self.label_source is not None else None
        return ModelSnapshot(
            model=self.config.name,
            windows=windows,
            predictions_total=c.predictions_total,
            rejected=dict(c.rejected),
            errors=dict(c.errors),
            violations=dict(c.violations),
            violation_keys=self._violation_keys,
            component_errors={component.name: c.component_errors[component.name] for component in self.components},
            join_dropped=dict(joiner.dropped) if joiner is not None else None,
            pending_labels=joiner.waiting() if joiner is not None else None,
            segment_other=dict(c.segment_other),
            lost={name: (source.lost_bytes, source.lost_files) for name, source in self._sources().items()},
            windows_seconds=tuple((w.label, w.seconds) for w in self.config.windows),
            version=self.config.version or "",
            trained_at=trained_at.isoformat() if trained_at else "",
            age_seconds=(now - trained_at.timestamp()) if trained_at else None,
            max_age_seconds=self.config.max_model_age if trained_at else None,
            last_success=self.last_success,
            last_duration=self.last_duration,
            up=ok,
            verdicts=(Verdict(CheckName.UPDATE, (), float(self.last_success or 0.0), 0.0, not ok),),
            **parts,
        )


__all__ = ["ModelMonitor"]
