"""The window store: every window of a model and of each of its segments, as rings of bucket summaries.

Rows are summarised once per distinct combination of their buckets in every
ring (usually one group while tailing a live log) by the components, and each
summary is added to the buckets it belongs to (:class:`exporter.windows.Ring`).
Rows of a segment go to the whole model's rings and to their segment's rings.
A window is read back as the element-wise sum of its live buckets. The store
knows the components only as producers of namespaced fields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Any

import numpy as np

from exporter.components import Component, HasLabels, namespaced
from exporter.config import Window
from exporter.prepare import PreparedBatch, Rows
from exporter.segments import OTHER, segment_key, segment_keys
from exporter.sketch import FieldSpec, Layout, Summary, key
from exporter.windows import Ring


def _group_ids(buckets: list[np.ndarray]) -> np.ndarray | None:
    """A group id per row, equal for rows in the same bucket of every ring; None if all rows share one."""
    if all(ids.size == 0 or ids.min() == ids.max() for ids in buckets):
        return None
    stacked = np.stack(buckets, axis=1)
    _, inverse = np.unique(stacked, axis=0, return_inverse=True)
    return inverse.ravel()


class WindowStore:
    """Rings of every (segment, window) of one model, over the layout of its components."""

    def __init__(self, components: list[Component], windows: tuple[Window, ...], buckets: int,
                 segments: dict[str, tuple[str, ...]]):
        self.components = components
        self.windows = windows
        self.buckets = buckets
        self.segments = segments
        self.segment_keys = segment_keys(segments)
        fields: dict[str, FieldSpec] = {}
        for component in components:
            fields.update({key(component.name, name): spec for name, spec in component.fields().items()})
        self.layout = Layout(fields)
        self.rings = self._new_rings()

    def _new_rings(self) -> dict[str, dict[str, Ring]]:
        return {k: {w.label: Ring(w, self.layout, self.buckets) for w in self.windows} for k in self.segment_keys}

    # -- adding ---------------------------------------------------------------------------------

    def add_predictions(self, batch: PreparedBatch, now: float, skip: frozenset[str] = frozenset()) -> None:
        """Add the prediction rows of ``batch`` (and the labels they carry) to every window they belong to;
        the components named in ``skip`` are summarised otherwise (features aggregated by the database)."""
        def summary(selected: Rows) -> Summary:
            part = batch.take(selected)
            out: Summary = {}
            for component in self.components:
                if component.name in skip:
                    continue
                out.update(namespaced(component, component.summarize(part)))
                out.update(namespaced(component, component.summarize_labels(part)))
            return out

        self._add(batch.ts, batch.segments, now, summary)

    def add_labels(self, rows: Any, now: float) -> None:
        """Add what late labels add (``rows``: a :class:`~exporter.prepare.LabelledRows`) to their predictions'
        buckets."""
        def summary(selected: Rows) -> Summary:
            part: HasLabels = rows.take(selected)
            out: Summary = {}
            for component in self.components:
                out.update(namespaced(component, component.summarize_labels(part)))
            return out

        self._add(rows.ts, rows.segments, now, summary)

    def _add(self, ts: np.ndarray, codes: dict[str, np.ndarray], now: float,
             make_summary: Callable[[Rows], Summary]) -> None:
        self._add_to_rings(self.rings[""], ts, None, now, make_summary)
        for column, column_codes in codes.items():
            kept = self.segments[column]
            for code in np.unique(column_codes):
                segment = segment_key(column, kept[code] if code < len(kept) else OTHER)
                rows_of_code = np.flatnonzero(column_codes == code)
                self._add_to_rings(self.rings[segment], ts[rows_of_code], rows_of_code, now, make_summary)

    @staticmethod
    def _add_to_rings(rings: dict[str, Ring], ts: np.ndarray, subset: np.ndarray | None, now: float,
                      make_summary: Callable[[Rows], Summary]) -> None:
        """Summarise the rows once per distinct combination of window buckets and add them to ``rings``.

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

    def add_summary(self, segment: str, buckets: list[int], summary: Summary, now: float) -> None:
        """Add ``summary`` (any subset of the fields) to ``segment``'s rings, bucket ``buckets[i]`` of the i-th
        window (-1: none), where that bucket is still live."""
        for ring, bucket in zip(self.rings[segment].values(), buckets, strict=True):
            if bucket >= 0 and bucket >= ring.oldest_live_bucket(now):
                ring.add_one(bucket, summary)

    # -- reading --------------------------------------------------------------------------------

    def merged(self, now: float) -> Iterator[tuple[str, str, Summary]]:
        """(segment, window, merged fields) of every window ending at ``now``."""
        for segment, rings in self.rings.items():
            for label, ring in rings.items():
                yield segment, label, ring.merged(now)

    # -- saved state ----------------------------------------------------------------------------

    def state(self) -> dict[str, np.ndarray]:
        return {f"{i}/{label}/{name}": array
                for i, segment in enumerate(self.segment_keys)
                for label, ring in self.rings[segment].items()
                for name, array in ring.state().items()}

    def dirty(self) -> dict[str, set[int]]:
        """Per array of :meth:`state`, the slots (first-axis indexes) changed since :meth:`saved`."""
        return {f"{i}/{label}/{name}": ring.dirty
                for i, segment in enumerate(self.segment_keys)
                for label, ring in self.rings[segment].items()
                for name in ring.state()}

    def saved(self) -> None:
        """The state was written: no slot has changed since."""
        for rings in self.rings.values():
            for ring in rings.values():
                ring.dirty = set()

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        """Load the rings from :meth:`state`'s arrays; ValueError (nothing changed) when they do not fit."""
        rings = self._new_rings()
        for i, segment in enumerate(self.segment_keys):
            for label, ring in rings[segment].items():
                prefix = f"{i}/{label}/"
                ring.restore({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
        self.rings = rings
