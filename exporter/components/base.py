"""What a component is: one concern of the monitor, end to end.

As whylogs' metrics own their state, update, merge and summary, a
:class:`Component` owns

(a) its fields in the bucket summary (:meth:`Component.fields`, named within
    its own namespace, typed and shaped: the layout of a bucket is the union of
    the enabled components' fields, so a window stays one vectorised sum);
(b) how a prepared batch is summarised into them: :meth:`summarize` for what is
    known when a prediction is logged, :meth:`summarize_labels` for what a
    label adds whenever it arrives; both summarise every group of rows of a
    batch at once (:class:`~exporter.summary.sketch.Groups`: the rows of each bucket),
    with vectorised counts, never a pass per group;
(c) how a merged window becomes results and check verdicts (:meth:`evaluate`);
(d) its part of the saved state: its ring fields are saved with the rings,
    whatever it keeps outside the rings (cumulative histograms, counters) by
    :meth:`state` and :meth:`restore`; :meth:`migrate_v1` reads the fields a
    release-1 state file held.

Components know nothing of files, HTTP or metric names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from exporter.baseline.targets import Targets
from exporter.summary.results import WindowBuilder
from exporter.summary.sketch import FieldSpec, Groups, Summary

if TYPE_CHECKING:
    from exporter.prepare.rows import FeatureHistograms


class HasLabels(Protocol):
    """Rows whose labels a component may add: a prepared batch, or predictions joined to late labels."""

    outputs: Targets
    label_delay: np.ndarray

    def __len__(self) -> int: ...


@dataclass(frozen=True)
class WindowContext:
    """What every component may know of the window it evaluates."""

    window: str
    segment: str
    rows: int
    labelled: int
    min_rows: int
    #: The time the window ends (epoch seconds).
    now: float = 0.0
    #: False for one bucket evaluated alone (a check's timeline): components keep no history of it.
    record: bool = True


#: A component's saved state outside the rings: JSON-able metadata and named arrays.
State = tuple[dict[str, Any], dict[str, np.ndarray]]


class Component:
    """One concern of the monitor; subclasses override what they need."""

    #: The component's namespace: in the bucket layout, in saved state, in error messages.
    name: ClassVar[str]
    #: Release-1 field name of each field, for :meth:`migrate_v1` (same name when absent).
    V1_FIELDS: ClassVar[Mapping[str, str]] = {}
    #: True when a state saved without this component's part may be restored, the component starting empty.
    optional_state: ClassVar[bool] = False

    def fields(self) -> dict[str, FieldSpec]:
        """The component's fields in one bucket summary."""
        return {}

    def summarize(self, batch: Any, groups: Groups) -> Summary:
        """Fields of the prediction rows of ``batch`` (a :class:`~exporter.prepare.preparer.PreparedBatch`), one summary
        per
        group of ``groups`` (a leading axis of ``groups.count`` on every field)."""
        return {}

    def summarize_labels(self, rows: HasLabels, groups: Groups) -> Summary:
        """Fields that the labels of ``rows`` add to their predictions' buckets, one summary per group."""
        return {}

    def observe(self, batch: Any) -> None:
        """Cumulative, model-wide bookkeeping of accepted prediction rows (not windowed)."""

    def observe_labels(self, rows: HasLabels) -> None:
        """Cumulative, model-wide bookkeeping of labels joined from the labels log."""

    def evaluate(self, merged: Summary, ctx: WindowContext, out: WindowBuilder) -> None:
        """Results and verdicts of one window from the merged fields (keys without the namespace)."""

    def snapshot_fields(self) -> dict[str, Any]:
        """Model-wide values for :class:`~exporter.summary.results.ModelSnapshot` (thresholds, histograms, ...)."""
        return {}

    def state(self) -> State | None:
        """What the component keeps outside the rings, or None when it keeps nothing."""
        return None

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Load what :meth:`state` saved; KeyError, ValueError or TypeError when it does not fit."""

    def migrate_v1(self, old: Summary) -> Summary:
        """This component's fields from the fields of a release-1 ring (leading axis: ring slots). A field the
        ring did not hold (a component or field added since) is left out: the migration starts it at zero."""
        names = {name: self.V1_FIELDS.get(name, name) for name in self.fields()}
        return {name: old[v1] for name, v1 in names.items() if v1 in old}


@runtime_checkable
class FromHistograms(Protocol):
    """A component whose fields of prediction rows come from the features' per-bucket histograms alone. Under
    ``sql.pushdown`` the database computes the histograms (:mod:`exporter.monitor.pushdown`) and the feature
    columns are never fetched: the pushdown ingest asks every component of this kind, and no other, for them."""

    name: ClassVar[str]

    def summarize_histograms(self, histograms: FeatureHistograms) -> Summary:
        """The fields :meth:`Component.summarize` would give the rows whose features ``histograms`` counts."""
        ...


@runtime_checkable
class MeasuresPerformance(Protocol):
    """A component that measures realized performance: the reference's own performance, the baseline of the
    performance thresholds, is measured with it (:func:`exporter.monitor.building.realized_performance`)."""

    def metrics(self, merged: Summary) -> dict[str, float]:
        """Each metric of the labelled rows that ``merged`` (the component's fields, merged) summarises."""
        ...
