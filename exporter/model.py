"""One monitored model: the orchestrator of its units.

An update (:meth:`ModelMonitor.update`) reads the new rows of the model's
prediction log (:mod:`exporter.sources`), prepares them into arrays
(:mod:`exporter.prepare`), drops duplicate ids (:mod:`exporter.dedup`), lets
waiting labels join them (:mod:`exporter.label_join`) and adds their
summaries to the window store (:mod:`exporter.window_store`); then it reads
new labels, which the label join turns into rows the store adds to their
predictions' buckets. It commits the cursors, persists every unit's state
together (:mod:`exporter.state`), evaluates every window with the components
(:mod:`exporter.components`) and returns an immutable
:class:`exporter.results.ModelSnapshot`. Failures are counted by stage and
never raised: one model's trouble stops no other model.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from exporter import state, state_v1, targets
from exporter.baseline import Baseline, read_baseline
from exporter.checks import CheckName
from exporter.classes import ClassRegistry
from exporter.components import ROWS, PerformanceBaseline, build_components, evaluate_window, namespaced
from exporter.config import Config, ConfigError, ModelConfig, text_columns
from exporter.counters import Counters
from exporter.dedup import RecentIds
from exporter.label_join import LabelJoiner
from exporter.memory import release_free_memory
from exporter.prepare import LabelledRows, PreparedBatch, Preparer, role_columns
from exporter.reference import Reference, load_reference
from exporter.results import ModelSnapshot, Verdict, WindowResult
from exporter.rows import Rejections
from exporter.segments import OTHER, segment_values
from exporter.sketch import ONE_GROUP
from exporter.sources import Chunk, FileSource, SourceError, rows_at_once
from exporter.tables import InputLimits, normalized
from exporter.timelines import timeline_points, timelines
from exporter.vocabulary import ErrorStage, RejectReason, SchemaCheck
from exporter.window_store import WindowStore

if TYPE_CHECKING:
    from exporter.pushdown import Aggregation
    from exporter.sql_source import SqlBatch, SqlSource

    Source = FileSource | SqlSource

log = logging.getLogger(__name__)

#: Bytes of each log one update reads at most: a backlog is worked off over several updates.
UPDATE_BYTES = 256 * 1024 * 1024
#: Rows prepared at once at most: the working memory of an update is about this many rows' arrays. Models
#: with many features prepare fewer rows at once: about INGEST_VALUES feature values.
INGEST_ROWS = 65_536
INGEST_VALUES = 1_500_000


def build_monitor(config: ModelConfig, state_dir: Path | None, where: str = "config") -> ModelMonitor:
    """Build ``config``'s monitor from its baseline file or its reference; ConfigError on any problem."""
    if config.baseline is not None:
        base = read_baseline(config.baseline, config, where)
    else:
        base = baseline_of_reference(config, where)
        release_free_memory()  # the reference's columns, before the windows' arrays are made
    reference = base.reference
    if config.constraints is not None:
        from exporter.sagemaker import apply_constraints, read_constraints

        config, reference = apply_constraints(config, reference, read_constraints(config.constraints, config, where),
                                              where)
    return ModelMonitor(config, reference, state_dir, base.spec, base.segments,
                        reference_performance=base.performance, performance_noise=base.performance_noise)


def build_monitors(config: Config, source: str = "config", persist: bool = True) -> list[ModelMonitor]:
    """A monitor per configured model, its reference read and checked; ConfigError on any problem."""
    monitors = []
    state_dir: Path | None = config.state_dir if persist else None
    if state_dir is not None:
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"{source}: state_dir: cannot create {state_dir}: {error.strerror}") from None
    for model in config.models:
        monitors.append(build_monitor(model, state_dir, source))
    return monitors


def baseline_of_reference(config: ModelConfig, where: str = "config") -> Baseline:
    """Read ``config``'s reference once and compute what the monitor needs from it; ConfigError on any problem."""
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
    return Baseline(reference, spec, segments, realized_performance(config, reference, spec, frame),
                    performance_noise(config, reference, spec, frame))


#: Subsamples of the reference drawn to measure each metric's sampling noise, and their size.
NOISE_SUBSAMPLES, NOISE_ROWS = 40, 1000


def performance_noise(config: ModelConfig, reference: Reference, spec: targets.TargetSpec,
                      frame: pd.DataFrame) -> dict[str, float]:
    """Each metric's standard deviation over subsamples of the reference's labelled rows, times sqrt(size).

    Subsamples of ``min(NOISE_ROWS, labelled / 4)`` rows, drawn without replacement with a fixed
    seed; the metric's noise on a window of ``n`` rows is this over ``sqrt(n)`` (as NannyML sets
    its thresholds from the reference's chunk-to-chunk variability). Empty with fewer than 200
    labelled rows: the thresholds then rest on ``performance_tolerance`` alone.
    """
    labelled = np.flatnonzero(targets.prepare(spec, config, frame).labelled())
    size = min(NOISE_ROWS, labelled.size // 4)
    if size < 50:
        return {}
    rng = np.random.default_rng(0)
    samples = [realized_performance(config, reference, spec, frame.iloc[rng.choice(labelled, size, replace=False)])
               for _ in range(NOISE_SUBSAMPLES)]
    metrics = set.intersection(*(set(s) for s in samples)) if samples else set()
    return {m: float(np.std([s[m] for s in samples], ddof=1) * np.sqrt(size)) for m in sorted(metrics)
            if all(np.isfinite(s[m]) for s in samples)}


def realized_performance(config: ModelConfig, reference: Reference, spec: targets.TargetSpec,
                         frame: pd.DataFrame) -> dict[str, float]:
    """Realized performance of the labelled rows of ``frame`` (the reference's: the baseline of the thresholds)."""
    outputs = targets.prepare(spec, config, frame)
    labelled = LabelledRows(np.zeros(len(frame)), outputs, {}, np.full(len(frame), np.nan))
    if not labelled.outputs.labelled().any():
        return {}
    for component in build_components(config, reference, spec, PerformanceBaseline(0.0)):
        metrics = getattr(component, "metrics", None)
        if metrics is not None:
            return metrics({name: value[0] for name, value in component.summarize_labels(labelled, ONE_GROUP).items()})
    return {}


def open_source(config: ModelConfig, kind: str, reference: Reference,
                pushdown: Callable[[SqlSource], Callable[[Any, Any, Any], Any]] | None = None) -> Source:
    """The reader of ``config``'s ``predictions`` or ``labels`` log: files, or a database table or query.

    A database is asked once for the query's columns (and, under ``sql.pushdown``, for the aggregation
    ``pushdown`` sets up), so bad SQL is a ConfigError at start (an unreachable database is not: it is
    retried every update).
    """
    section = config.predictions if kind == "predictions" else config.labels
    assert section is not None
    if section.sql is not None:
        from exporter.sql_source import SqlSource

        key = config.predictions.id_column if kind == "predictions" else config.labels.id_column  # type: ignore[union-attr]
        source = SqlSource(section.sql, section.sql.timestamp_column or config.predictions.timestamp_column,
                           key or "", config.predictions.timestamp_unit, where=f"model {config.name}: {kind}.sql")
        source.validate(pushdown(source) if pushdown is not None and section.sql.pushdown else None)
        return source
    categorical = {c.name for c in reference.categorical}
    text = text_columns(config) | categorical
    limits = InputLimits(**config.input_limits.model_dump())
    # Categorical features with no other role are read from Parquet as dictionaries: rows.feature_codes
    # codes each batch's distinct values once instead of every row's text.
    dictionary = frozenset(categorical - role_columns(config)) if kind == "predictions" else frozenset()
    assert section.path is not None
    return FileSource(section.path, section.format, text_columns=text, limits=limits, dictionary_columns=dictionary)


class ModelMonitor:
    """Everything the exporter keeps about one model, and the order in which its units run."""

    def __init__(self, config: ModelConfig, reference: Reference, state_dir: Path | None,
                 target_spec: targets.TargetSpec | None = None,
                 segments: dict[str, tuple[str, ...]] | None = None,
                 reference_performance: dict[str, float] | None = None,
                 performance_noise: dict[str, float] | None = None):
        self.config = config
        self.reference = reference
        self.targets = target_spec or targets.TargetSpec(
            config.task, None, None, ("0", "1") if config.task == "binary_classification" else (), None, None,
            str(config.positive_label), config.decision_threshold)
        self.segments = segments or {}
        self.preparer = Preparer(config, reference, self.targets, self.segments,
                                 max_age=max(w.seconds for w in config.windows))
        self.baseline = PerformanceBaseline(config.performance_tolerance, dict(reference_performance or {}),
                                            dict(performance_noise or {}), config.performance_alpha)
        self._build_units()
        self.aggregation: Aggregation | None = None
        self.source = open_source(config, "predictions", reference, self._pushdown)
        self.label_source = open_source(config, "labels", reference) if config.labels else None
        self.state_file = self._state_file(state_dir) if state_dir is not None else None
        self.state_store = state.StateStore(self.state_file) if self.state_file is not None else None
        self.last_success: float | None = None
        self.last_duration: float | None = None
        self._logged: set[object] = set()
        self._fingerprint = self.layout_fingerprint()
        self._dirty = False
        self._save_failure: str | None = None
        self._violation_keys = self.violation_keys()
        self.restore()

    def _state_file(self, state_dir: Path) -> Path:
        try:
            return state.adopt_legacy_state_file(state_dir, self.config.name)
        except OSError as error:
            log.warning("model %s: cannot take over the state file named by an earlier release in %s: %s",
                        self.config.name, state_dir, error)
            return state.state_path(state_dir, self.config.name)

    def _build_units(self) -> None:
        """The units that hold state, all empty: at start, and again when saved state cannot be used."""
        config = self.config
        self.components = build_components(config, self.reference, self.targets, self.baseline)
        self.store = WindowStore(self.components, config.windows, config.window_buckets, self.segments)
        # Without a labels log the joiner stays empty (labels then come with their predictions, if at all).
        self.joiner = LabelJoiner(tuple(self.segments), config.labels.max_pending if config.labels else 1,
                                  config.labels.early_label_retention if config.labels else 0.0,
                                  config.task != "regression")
        self.recent_ids = RecentIds(config.max_recent_ids)
        self.counters = Counters()
        if self.targets.task == "multiclass_classification":
            self.preparer.registry = ClassRegistry(self.targets.classes)

    # -- views kept for callers and tests -----------------------------------------------------

    @property
    def rings(self) -> dict[str, dict[str, Any]]:
        return self.store.rings

    @property
    def pending(self) -> Any:
        return self.joiner.pending

    @property
    def early(self) -> Any:
        return self.joiner.early

    @property
    def predictions_total(self) -> int:
        return self.counters.predictions_total

    @property
    def rejected(self) -> Any:
        return self.counters.rejected

    # -- identity of the persisted layout -------------------------------------------------

    def layout_fingerprint(self) -> str:
        return fingerprint(self.reference, self.targets, self.targets.auc_edges, self.store.layout.signature(),
                           self.config, self.store.segment_keys)

    def violation_keys(self) -> tuple[tuple[str, str], ...]:
        """The schema violations this model counts, by check and column (as :mod:`exporter.rows` and
        :mod:`exporter.prepare` count them): a missing feature or timestamp column, a numeric feature's value of
        the wrong type, columns the model does not know (one series), and a missing labels-log column."""
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

    # -- persistence ------------------------------------------------------------------------

    def _stateful(self) -> dict[str, Any]:
        """Every unit that saves a part of its own, by part name."""
        units: dict[str, Any] = {"counters": self.counters, "recent_ids": self.recent_ids, "labels": self.joiner}
        if self.preparer.registry is not None:
            units["classes"] = self.preparer.registry
        for component in self.components:
            if component.state() is not None:
                units[f"component.{component.name}"] = component
        return units

    def restore(self) -> None:
        """Load the persisted state. Whatever is wrong with it (a file corrupt, truncated, of another version or
        layout, of the right checksum but the wrong shape, a directory where a file belongs) is logged naming
        the file, counted in ``model_monitor_errors_total{stage="state"}``, and the model starts from the logs
        as if new: a state fault never stops the exporter from starting."""
        if self.state_file is None:
            return
        assert self.state_store is not None
        try:
            loaded = self.state_store.load()
            if self.state_store.journal_damage is not None:
                # The records before the damage each left a whole state: the model goes on from there.
                log.warning("model %s: damaged state journal: %s", self.config.name, self.state_store.journal_damage)
            if loaded is None:
                self._count_journal_damage()
                return
            meta, arrays = loaded
            if meta["version"] == 1:
                parts = state_v1.migrate(meta, arrays, self)
                log.info("model %s: migrating state of format 1 from %s", self.config.name, self.state_file)
            elif meta.get("fingerprint") != self._fingerprint:
                raise state.StateError(
                    f"{self.state_file}: saved for another reference, feature set, segment or window layout")
            else:
                parts = state.parts_of(meta, arrays)
            self._restore_parts(parts)
            self._count_journal_damage()  # after the saved counters are back
            log.info("model %s: restored state from %s", self.config.name, self.state_file)
        except Exception as error:  # noqa: BLE001 - any fault of saved state means: start from the logs
            detail = str(error) if isinstance(error, state.StateError) else f"{type(error).__name__}: {error}"
            log.error("model %s: cannot use saved state %s (%s); rebuilding from the logs", self.config.name,
                      self.state_file, detail)
            self._build_units()
            for source in self._sources().values():
                source.restore({})
            self.state_store.reset()
            self.counters.errors[ErrorStage.STATE] += 1

    def _count_journal_damage(self) -> None:
        if self.state_store is not None and self.state_store.journal_damage is not None:
            self.counters.errors[ErrorStage.STATE] += 1

    def _restore_parts(self, parts: dict[str, state.Part]) -> None:
        self.store.restore(parts["rings"][1])
        for name, unit in self._stateful().items():
            if name not in parts and getattr(unit, "optional_state", False):
                continue  # saved by an older release: this unit starts empty
            unit.restore(*parts[name])
        cursors, arrays = parts["sources"]
        for name, source in self._sources().items():
            prefix = f"{name}."
            source.restore(cursors[name], {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
            source.lost_bytes, source.lost_files = (int(v) for v in cursors.get(f"{name}_lost", (0, 0)))

    def _sources(self) -> dict[str, Source]:
        return {"predictions": self.source, **({"labels": self.label_source} if self.label_source else {})}

    def persist(self) -> None:
        if self.state_file is None:
            return
        parts: dict[str, state.Part] = {name: unit.state() for name, unit in self._stateful().items()}
        parts["rings"] = ({}, self.store.state())
        cursors: dict[str, Any] = {"labels": {}}
        arrays: dict[str, np.ndarray] = {}
        for name, source in self._sources().items():
            cursors[name], own = source.saved()
            arrays.update({f"{name}.{key}": array for key, array in own.items()})
            cursors[f"{name}_lost"] = [source.lost_bytes, source.lost_files]
        parts["sources"] = (cursors, arrays)
        assert self.state_store is not None
        # Only a ring's dirty slots can differ from what is on disk: the journal compares no other.
        dirty = {f"rings/{name}": slots for name, slots in self.store.dirty().items()}
        self.state_store.save({"fingerprint": self._fingerprint}, parts, dirty)
        self.store.saved()

    def _save(self) -> bool:
        """:meth:`persist`, counted and logged when it fails: the first failure of a kind at ERROR (with the path
        and the free space), repeats of it at DEBUG, and the first save that succeeds again at INFO."""
        try:
            self.persist()
        except Exception as error:  # a save that fails never stops the updates
            self.counters.errors[ErrorStage.STATE] += 1
            message = str(error) if isinstance(error, OSError) else f"{type(error).__name__}: {error}"
            level = logging.DEBUG if message == self._save_failure else logging.ERROR
            log.log(level, "model %s: cannot save state: %s", self.config.name, message,
                    exc_info=not isinstance(error, OSError))
            self._save_failure = message
            return False
        if self._save_failure is not None:
            log.info("model %s: state saved again to %s", self.config.name, self.state_file)
            self._save_failure = None
        self._dirty = False
        return True

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

    # -- pushdown ---------------------------------------------------------------------------

    def _pushdown(self, source: SqlSource) -> Callable[[Any, Any, Any], Any]:
        """Set ``source`` up to read narrow rows; the aggregation statement's builder (see :mod:`exporter.pushdown`)."""
        from exporter.pushdown import Aggregation, narrow_columns

        drift = next(c for c in self.components if c.name == "drift")
        self.aggregation = Aggregation(self.reference, self.segments, drift.num_bins, drift.cat_bins, source.postgres)
        source.narrow_names = narrow_columns(self.config)
        aggregation = self.aggregation
        return lambda from_, where, ts: aggregation.statement(from_, where, ts, [])

    def ingest_pushdown(self, batch: SqlBatch, now: float) -> int:
        """Ingest narrow rows and the database's aggregation of their features (identical to :meth:`ingest` on
        the full rows, which a batch falls back to when the row path would reject rows inside it)."""
        from exporter.pushdown import accepted_positions, time_groups

        assert self.aggregation is not None
        frame = batch.frame
        prepared, issues = self.preparer.prepare(frame, now, with_ids=self.label_source is not None, features=False)
        positions = accepted_positions(frame, self.config.predictions.timestamp_column,
                                       self.config.predictions.timestamp_unit, prepared.ts)
        duplicates = prepared.id_hashes is not None and prepared.id_present is not None and \
            bool(self.recent_ids.find(prepared.id_hashes, prepared.id_present).any())
        if positions is None or duplicates:
            self._once(("pushdown-rows", positions is None), "model %s: a batch is read as full rows instead of "
                       "pushed down (%s)", self.config.name, "duplicate ids" if duplicates else
                       "timestamps out of order after conversion")
            return self.ingest(batch.full_rows(), now)
        if positions.size:
            groups = time_groups(prepared.ts, list(self.store.rings[""].values()), now)
            thresholds = [batch.native(int(positions[start])) for start in groups.starts[1:]]
            aggregation = self.aggregation
            result = batch.aggregate(lambda from_, where, ts: aggregation.statement(from_, where, ts, thresholds),
                                     int(positions[0]), int(positions[-1]))
            fields = [c for c in self.components if c.name in ("drift", "quality")]
            for (group, segment), histograms in aggregation.histograms(result, len(groups.starts)).items():
                summary: dict[str, np.ndarray] = {}
                for component in fields:
                    summary.update(namespaced(component, component.summarize_histograms(histograms)))
                self.store.add_summary(segment, groups.buckets[group], summary, now)
                if not segment:
                    for i, feature in enumerate(self.reference.numeric):
                        if histograms.num_invalid[i]:
                            issues.violations[(SchemaCheck.DATA_TYPE, feature.name)] += int(histograms.num_invalid[i])
        return self._accept(prepared, issues, frame, now, skip=frozenset({"drift", "quality"}), no_duplicates=True)

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
            snapshot = replace(snapshot, verdicts=(*snapshot.verdicts, *self._one_shot_verdicts()))
        return snapshot

    def _one_shot_verdicts(self) -> list[Verdict]:
        """The checks of a run that reads the logs once (check, report): a model that read no usable row has
        checked nothing (``no_data``), and a configured column absent from the rows read is a failed ``schema``
        check naming it (a typo in a column name then fails, never silently changes what the columns are)."""
        verdicts = []
        if self.counters.predictions_total == 0:
            verdicts.append(Verdict(CheckName.NO_DATA, (), 0.0, 1.0, True, (("reason", self._no_data_reason()),)))
        for (check, column), count in sorted(self.counters.violations.items()):
            if check == SchemaCheck.MISSING_COLUMN and count:
                verdicts.append(Verdict(CheckName.SCHEMA, (("column", column),), float(count), 0.0, True))
        return verdicts

    def _no_data_reason(self) -> str:
        """Why a one-shot run read no usable row, in one line: no file, an empty source, or every row rejected."""
        rejected = Counter({str(reason): count for reason, count in self.counters.rejected.items() if count})
        if rejected:
            reasons = ", ".join(f"{reason} {count}" for reason, count in rejected.most_common())
            return f"{sum(rejected.values())} rows read from {self.source.pattern}, none usable ({reasons})"
        if isinstance(self.source, FileSource) and not self.source.seen:
            return f"no file matches {self.source.pattern}"
        return f"no row in {self.source.pattern}"

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
            result = evaluate_window(self.components, label, segment, merged, min_rows, now)
            if not segment and self.store.read_once_at is None and any(v.failed for v in result.verdicts):
                # Since when: runs of the window's buckets evaluated alone (only while a check fails; not when
                # a one-shot read put every row in its window's newest bucket).
                points = timeline_points(self.store.bucket_fields(segment, label, now), ROWS, min_rows)
                buckets = [(start, evaluate_window(self.components, label, segment, fields, min_rows, now,
                                                   record=False)) for start, fields in points]
                result = replace(result, timelines=timelines(result, buckets, self.config.drift.dataset_share))
            results.append(result)
        return tuple(results)

    def snapshot(self, windows: tuple[WindowResult, ...], ok: bool, now: float | None = None) -> ModelSnapshot:
        now = time.time() if now is None else now
        trained_at = self.config.trained_at
        if trained_at is not None and trained_at.tzinfo is None:
            trained_at = trained_at.replace(tzinfo=UTC)
        parts: dict[str, Any] = {
            "thresholds": (), "quality_thresholds": (), "output_thresholds": (), "dataset_drift_share":
            self.config.drift.dataset_share, "reference_performance": {}, "performance_thresholds": {},
            "latency": None, "label_delay": None, "prediction_errors": None, "calibration_error": None,
            "calibrated": None,
        }
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
            join_dropped=dict(joiner.dropped) if joiner is not None else None,
            pending_labels=joiner.waiting() if joiner is not None else None,
            segment_other=dict(c.segment_other),
            lost={name: (source.lost_bytes, source.lost_files) for name, source in self._sources().items()},
            windows_seconds=tuple((w.label, w.seconds) for w in self.config.windows),
            version=self.config.version or "",
            trained_at=trained_at.isoformat() if trained_at else "",
            age_seconds=(now - trained_at.timestamp()) if trained_at else None,
            last_success=self.last_success,
            last_duration=self.last_duration,
            up=ok,
            verdicts=(Verdict(CheckName.UPDATE, (), float(self.last_success or 0.0), 0.0, not ok),),
            **parts,
        )


def fingerprint(reference: Reference, spec: targets.TargetSpec, auc_edges: np.ndarray | None, signature: list[Any],
                config: ModelConfig, segment_keys: list[str]) -> str:
    """Identifies everything a saved ring depends on: bins, fields, windows, segments, classes."""
    windows = [(w.label, w.seconds, config.window_buckets) for w in config.windows]
    description = repr((signature, windows, segment_keys, spec.classes))
    hasher = hashlib.sha256(description.encode())
    for edges in (auc_edges, spec.output.edges if spec.output else None):
        if edges is not None:
            hasher.update(np.ascontiguousarray(edges, dtype=np.float64).tobytes())
    return f"{reference.fingerprint()}:{hasher.hexdigest()[:16]}"


__all__ = ["ModelMonitor", "build_monitor"]
