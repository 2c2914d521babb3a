"""The saved state of a model's monitor: its units' parts assembled into one save, restored at start.

Every unit with state saves a named part: ``rings`` (the window store), ``sources`` (cursors),
``counters``, ``recent_ids``, ``labels`` (the label join), ``classes``, and ``component.<name>`` for
components that keep state outside the rings. :class:`SavedState` is the part of
:class:`~exporter.monitor.model.ModelMonitor` that assembles them, writes them with the state store
(:mod:`exporter.state.store`) and reads them back, migrating release-1 files
(:mod:`exporter.monitor.migrate_v1`). A save that fails never stops the updates, and saved state that
cannot be used never stops a start: both are logged and counted, and the model goes on from the logs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from exporter.config import ModelConfig
from exporter.monitor import migrate_v1
from exporter.monitor.counters import Counters
from exporter.prepare.dedup import RecentIds
from exporter.prepare.label_join import LabelJoiner
from exporter.prepare.preparer import Preparer
from exporter.state.files import adopt_legacy_state_file, state_path
from exporter.state.store import Part, StateError, StateStore, parts_of
from exporter.values.vocabulary import ErrorStage
from exporter.windows.store import WindowStore

if TYPE_CHECKING:
    from exporter.components import Component
    from exporter.monitor.sources import Source

log = logging.getLogger(__name__)


class SavedState:
    """Saving and restoring the parts of a model's monitor (a base of
    :class:`~exporter.monitor.model.ModelMonitor`, which holds the units it names)."""

    config: ModelConfig
    components: list[Component]
    store: WindowStore
    joiner: LabelJoiner
    recent_ids: RecentIds
    counters: Counters
    preparer: Preparer
    state_file: Path | None
    state_store: StateStore | None
    _fingerprint: str
    #: The layout's fingerprint without its fields, and its fields ([name, shape, dtype]): saved with the state,
    #: so that a release that adds components or fields reads it (see :meth:`_added_fields`).
    _base_fingerprint: str
    _fields: list[list[Any]]
    _dirty: bool
    _save_failure: object

    def _build_units(self) -> None:
        raise NotImplementedError

    def _sources(self) -> dict[str, Source]:
        raise NotImplementedError

    def _state_file(self, state_dir: Path) -> Path:
        try:
            return adopt_legacy_state_file(state_dir, self.config.name)
        except OSError as error:
            log.warning("model %s: cannot take over the state file named by an earlier release in %s: %s",
                        self.config.name, state_dir, error)
            return state_path(state_dir, self.config.name)

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
            added: dict[str, tuple[tuple[int, ...], str]] | None = None
            if meta["version"] == 1:
                parts = migrate_v1.migrate(meta, arrays, self)
                log.info("model %s: migrating state of format 1 from %s", self.config.name, self.state_file)
            elif meta.get("fingerprint") != self._fingerprint:
                added = self._added_fields(meta)
                if added is None:
                    raise StateError(
                        f"{self.state_file}: saved for another reference, feature set, segment or window layout")
                parts = _with_fields_at_zero(parts_of(meta, arrays), added)
                log.info("model %s: state of %s read with %d fields added since it was saved (%s), at zero",
                         self.config.name, self.state_file, len(added), ", ".join(sorted(added)))
            else:
                parts = parts_of(meta, arrays)
            self._restore_parts(parts, upgraded=added is not None)
            if added is not None:
                self.state_store.reset()  # the next save writes a base of today's layout
            self._count_journal_damage()  # after the saved counters are back
            log.info("model %s: restored state from %s", self.config.name, self.state_file)
        except Exception as error:  # noqa: BLE001 - any fault of saved state means: start from the logs
            detail = str(error) if isinstance(error, StateError) else f"{type(error).__name__}: {error}"
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

    def _added_fields(self, meta: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]] | None:
        """The fields this layout has and the saved state lacks, when the state is this layout with fewer
        components or fields (the same bins, windows, segments and classes, and every saved field as it is
        today); None when it is another layout."""
        saved, base = meta.get("fields"), meta.get("base")
        if saved is None or base != self._base_fingerprint:
            return None
        current = {name: (tuple(shape), dtype) for name, shape, dtype in self._fields}
        before = {name: (tuple(shape), dtype) for name, shape, dtype in saved}
        if any(current.get(name) != spec for name, spec in before.items()):
            return None
        return {name: spec for name, spec in current.items() if name not in before}

    def _restore_parts(self, parts: dict[str, Part], upgraded: bool = False) -> None:
        self.store.restore(parts["rings"][1])
        for name, unit in self._stateful().items():
            if name not in parts and (getattr(unit, "optional_state", False)
                                      or (upgraded and name.startswith("component."))):
                continue  # saved by an older release, or a component added since: this unit starts empty
            unit.restore(*parts[name])
        cursors, arrays = parts["sources"]
        for name, source in self._sources().items():
            prefix = f"{name}."
            source.restore(cursors[name], {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
            source.lost_bytes, source.lost_files = (int(v) for v in cursors.get(f"{name}_lost", (0, 0)))

    def persist(self) -> None:
        if self.state_file is None:
            return
        parts: dict[str, Part] = {name: unit.state() for name, unit in self._stateful().items()}
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
        self.state_store.save({"fingerprint": self._fingerprint, "base": self._base_fingerprint,
                               "fields": self._fields}, parts, dirty)
        self.store.saved()

    def _save(self) -> bool:
        """:meth:`persist`, counted and logged when it fails: the first failure of a kind at ERROR (with the path
        and the free space), repeats of it at DEBUG, and the first save that succeeds again at INFO."""
        try:
            self.persist()
        except Exception as error:  # a save that fails never stops the updates
            self.counters.errors[ErrorStage.STATE] += 1
            message = str(error) if isinstance(error, OSError) else f"{type(error).__name__}: {error}"
            # A failure of the same kind (errno and file; the free space in its message changes) is a repeat.
            kind = (type(error).__name__, error.errno, error.filename) if isinstance(error, OSError) else message
            level = logging.DEBUG if kind == self._save_failure else logging.ERROR
            log.log(level, "model %s: cannot save state: %s", self.config.name, message,
                    exc_info=not isinstance(error, OSError))
            self._save_failure = kind
            return False
        if self._save_failure is not None:
            log.info("model %s: state saved again to %s", self.config.name, self.state_file)
            self._save_failure = None
        self._dirty = False
        return True


def _with_fields_at_zero(parts: dict[str, Part], added: dict[str, tuple[tuple[int, ...], str]]) -> dict[str, Part]:
    """``parts`` with each field of ``added`` at zero in every ring slot (rings are saved as ``i/window/field``
    beside ``i/window/ids``)."""
    meta, rings = parts["rings"]
    rings = dict(rings)
    for key, ids in list(rings.items()):
        if key.endswith("/ids"):
            prefix = key[: -len("ids")]
            for name, (shape, dtype) in added.items():
                rings[prefix + name] = np.zeros((len(ids), *shape), dtype=np.dtype(dtype))
    return {**parts, "rings": (meta, rings)}
