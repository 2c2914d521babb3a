"""The window store: every window of a model and of each of its segments, as rings of bucket summaries.

Rows are grouped by the combination of their buckets in every ring (usually
one group while tailing a live log), the components summarise every group at
once (:class:`~exporter.summary.sketch.Groups`), and each group's summary is added to
the buckets it belongs to (:class:`exporter.windows.ring.Ring`).
Rows of a segment go to the whole model's rings and to their segment's rings.
A window is read back as the element-wise sum of its live buckets. The store
knows the components only as producers of namespaced fields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from exporter.components import Component, HasLabels, bucket_layout, namespaced
from exporter.config import Window
from exporter.prepare.preparer import PreparedBatch, Rows
from exporter.prepare.segments import OTHER, segment_key, segment_keys
from exporter.summary.sketch import ONE_GROUP, Groups, Summary
from exporter.windows.ring import Ring


def _groups(buckets: list[np.ndarray]) -> tuple[Groups, list[list[int]]]:
    """The rows grouped by their bucket in every ring, and each group's bucket in each ring.

    Bucket ids of a batch span a few values per ring, so the combination is a small integer and
    the groups are found with a table of the combinations seen, without sorting the rows.
    """
    if all(ids.size == 0 or ids.min() == ids.max() for ids in buckets):
        return ONE_GROUP, [[int(ids[0]) for ids in buckets]]
    combined = np.zeros(buckets[0].size, dtype=np.int64)
    span = 1
    for ids in buckets:
        low = int(ids.min())
        width = int(ids.max()) - low + 1
        if span * width > DENSE_COMBINATIONS:  # too many to tabulate: number the combinations seen so far
            _, combined = np.unique(combined, return_inverse=True)
            span = int(combined.max()) + 1
        combined = combined * width + (ids - low)
        span *= width
    if span <= DENSE_COMBINATIONS:
        seen = np.zeros(span, dtype=bool)
        seen[combined] = True
        number = np.cumsum(seen) - 1
        of_row = number[combined]
        count = int(number[-1]) + 1
    else:
        _, of_row = np.unique(combined, return_inverse=True)
        count = int(of_row.max()) + 1
    first = np.zeros(count, dtype=np.intp)
    first[of_row[::-1]] = np.arange(of_row.size - 1, -1, -1)  # each group's first row
    ring_buckets = np.stack([ids[first] for ids in buckets], axis=1).tolist()
    return Groups(of_row.astype(np.intp), count), ring_buckets


#: Most bucket combinations of one batch found with a table (beyond: by sorting).
DENSE_COMBINATIONS = 1 << 22


class WindowStore:
    """Rings of every (segment, window) of one model, over the layout of its components."""

    def __init__(self, components: list[Component], windows: tuple[Window, ...], buckets: int,
                 segments: dict[str, tuple[str, ...]]):
        self.components = components
        self.windows = windows
        self.buckets = buckets
        self.segments = segments
        self.segment_keys = segment_keys(segments)
        self.layout = bucket_layout(components)
        self.rings = self._new_rings()
        #: Set for a one-shot evaluation (``check``, ``report``) whose windows are read once, at this instant,
        #: and never saved: a row live at that instant goes to its window's newest bucket. A batch whose rows
        #: spread over every bucket of a window (a file not in time order) is then summarised as a few
        #: groups instead of one per bucket combination; the windows read at that instant are the same.
        self.read_once_at: float | None = None

    def _new_rings(self) -> dict[str, dict[str, Ring]]:
        return {k: {w.label: Ring(w, self.layout, self.buckets) for w in self.windows} for k in self.segment_keys}

    # -- adding ---------------------------------------------------------------------------------

    def add_predictions(self, batch: PreparedBatch, now: float, skip: frozenset[str] = frozenset()) -> None:
        """Add the prediction rows of ``batch`` (and the labels they carry) to every window they belong to;
        the components named in ``skip`` are summarised otherwise (features aggregated by the database)."""
        def summary(selected: Rows, groups: Groups) -> Summary:
            part = batch if isinstance(selected, slice) else batch.take(selected)
            out: Summary = {}
            for component in self.components:
                if component.name in skip:
                    continue
                out.update(namespaced(component, component.summarize(part, groups)))
                out.update(namespaced(component, component.summarize_labels(part, groups)))
            return out

        self._add(batch.ts, batch.segments, now, summary)

    def add_labels(self, rows: Any, now: float) -> None:
        """Add what late labels add (``rows``: a :class:`~exporter.prepare.preparer.LabelledRows`) to their predictions'
        buckets."""
        def summary(selected: Rows, groups: Groups) -> Summary:
            part: HasLabels = rows if isinstance(selected, slice) else rows.take(selected)
            out: Summary = {}
            for component in self.components:
                out.update(namespaced(component, component.summarize_labels(part, groups)))
            return out

        self._add(rows.ts, rows.segments, now, summary)

    def _add(self, ts: np.ndarray, codes: dict[str, np.ndarray], now: float,
             make_summary: Callable[[Rows, Groups], Summary]) -> None:
        if self.read_once_at is not None and now != self.read_once_at:
            raise ValueError(f"rows added at {now} to windows that are read once, at {self.read_once_at}")
        self._add_to_rings(self.rings[""], ts, None, now, make_summary)
        for column, column_codes in codes.items():
            kept = self.segments[column]
            for code in np.unique(column_codes):
                segment = segment_key(column, kept[code] if code < len(kept) else OTHER)
                rows_of_code = np.flatnonzero(column_codes == code)
                self._add_to_rings(self.rings[segment], ts[rows_of_code], rows_of_code, now, make_summary)

    def _add_to_rings(self, rings: dict[str, Ring], ts: np.ndarray, subset: np.ndarray | None, now: float,
                      make_summary: Callable[[Rows, Groups], Summary]) -> None:
        """Summarise the rows, per distinct combination of window buckets, and add each group to ``rings``.

        ``subset`` maps positions in ``ts`` to rows of the batch (None: the same).
        """
        ring_list = list(rings.values())
        buckets = [ring.buckets_at(ts, now) for ring in ring_list]
        oldest = [ring.oldest_live_bucket(now) for ring in ring_list]
        if self.read_once_at is not None:
            for ids, first, ring in zip(buckets, oldest, ring_list, strict=True):
                ids[ids >= first] = ring.newest_bucket(now)
        live = np.zeros(ts.size, dtype=bool)
        for ids, first in zip(buckets, oldest, strict=True):
            live |= ids >= first
        if not live.any():
            return
        selected: Rows = slice(None) if subset is None else subset
        if not live.all():
            selected = np.flatnonzero(live) if subset is None else subset[live]
            buckets = [ids[live] for ids in buckets]
        groups, group_buckets = _groups(buckets)
        summary = make_summary(selected, groups)
        for ring, ring_buckets, first in zip(ring_list, np.array(group_buckets, dtype=np.int64).T, oldest,
                                             strict=True):
            live_groups = ring_buckets >= first
            if live_groups.all():
                ring.add(ring_buckets, summary)
            elif live_groups.any():
                ring.add(ring_buckets[live_groups], {name: array[live_groups] for name, array in summary.items()})

    def add_summary(self, segment: str, buckets: list[int], summary: Summary, now: float) -> None:
        """Add ``summary`` (any subset of the fields) to ``segment``'s rings, bucket ``buckets[i]`` of the i-th
        window (-1: none), where that bucket is still live."""
        for ring, bucket in zip(self.rings[segment].values(), buckets, strict=True):
            if bucket >= 0 and bucket >= ring.oldest_live_bucket(now):
                ring.add_one(bucket, summary)

    # -- reading --------------------------------------------------------------------------------

    def bucket_fields(self, segment: str, window: str, now: float) -> list[tuple[float, Summary]]:
        """(start time, fields) of each live bucket of ``segment``'s ``window`` at ``now``, oldest first."""
        ring = self.rings[segment][window]
        live = np.flatnonzero(ring.live_mask(now))
        order = live[np.argsort(ring.ids[live])]
        return [(float(ring.ids[slot]) * ring.width, {name: array[slot] for name, array in ring.data.items()})
                for slot in order.tolist()]

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
