"""Migration of state files written by the first release (format 1) into today's parts.

Format 1 kept one flat archive: ``ring/{segment}/{window}/{field}`` with the
old field names, ``pending/*``, ``early/*``, ``recent_ids``, the latency and
label-delay histograms, and cursors and counters in the metadata. Each
component maps its own fields (:meth:`~exporter.components.base.Component.migrate_v1`);
this module reads the rest and checks that the file was written for the same
reference, fields, windows and segments, with the fingerprint format 1 used.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from exporter.baseline.reference import Reference
from exporter.baseline.targets import TargetSpec
from exporter.components import Component
from exporter.config import ModelConfig
from exporter.monitor.layout import fingerprint
from exporter.state.store import Part, StateError
from exporter.windows.store import WindowStore


class Monitor(Protocol):
    """What the migration reads of a model's monitor (:class:`exporter.monitor.model.ModelMonitor`)."""

    config: ModelConfig
    reference: Reference
    targets: TargetSpec
    store: WindowStore
    components: list[Component]


def _legacy_signature(arrays: dict[str, np.ndarray], ring_prefix: str) -> list[tuple[str, tuple[int, ...], str]]:
    """Format 1's layout signature, read off the fields of one of its rings."""
    fields = {name[len(ring_prefix):]: array for name, array in arrays.items()
              if name.startswith(ring_prefix) and name[len(ring_prefix):] != "ids"}
    return [(name, tuple(array.shape[1:]), array.dtype.str) for name, array in sorted(fields.items())]


def migrate(meta: dict[str, Any], arrays: dict[str, np.ndarray], monitor: Monitor) -> dict[str, Part]:
    """Today's parts from a format-1 file; StateError when it was written for another layout."""
    store = monitor.store
    first_window = monitor.config.windows[0].label
    signature = _legacy_signature(arrays, f"ring/0/{first_window}/")
    expected = fingerprint(monitor.reference, monitor.targets, monitor.targets.legacy_auc_edges(), signature,
                           monitor.config, store.segment_keys)
    if meta.get("fingerprint") != expected:
        raise StateError("state of format 1 saved for another reference, feature set, segment or window layout")
    rings: dict[str, np.ndarray] = {}
    for i, segment in enumerate(store.segment_keys):
        for label in store.rings[segment]:
            prefix = f"ring/{i}/{label}/"
            old = {name[len(prefix):]: array for name, array in arrays.items() if name.startswith(prefix)}
            rings[f"{i}/{label}/ids"] = old["ids"]
            for component in monitor.components:
                try:
                    migrated = component.migrate_v1(old)
                except (KeyError, ValueError, IndexError) as error:
                    raise StateError(f"state of format 1: the {component.name} fields cannot be migrated ({error})") \
                        from None
                slots = len(old["ids"])
                for name, spec in component.fields().items():
                    # A field release 1 did not have (a component added since) starts at zero in every slot.
                    array = migrated.get(name)
                    if array is None:
                        array = np.zeros((slots, *spec.shape), dtype=spec.dtype)
                    rings[f"{i}/{label}/{component.name}/{name}"] = array
    counters = meta["counters"]
    parts: dict[str, Part] = {
        "rings": ({}, rings),
        "sources": ({"predictions": meta["cursors"], "labels": meta["label_cursors"]}, {}),
        "counters": ({
            "predictions_total": counters["predictions_total"],
            "rejected": counters["rejected"],
            "errors": counters["errors"],
            "violations": counters["violations"],
            "segment_other": counters["segment_other"],
        }, {}),
        "recent_ids": ({"pos": counters["recent_ids"][0], "count": counters["recent_ids"][1]},
                       {"hashes": arrays["recent_ids"]}),
        "labels": ({"dropped": counters["join_dropped"]},
                   {name: array for name, array in arrays.items() if name.startswith(("pending/", "early/"))}),
        "component.service": ({"latency_sum": counters["latency_sum"],
                               "errors_total": counters["prediction_errors_total"]},
                              {"latency_counts": arrays["latency_counts"]}),
        "component.label_delay": ({"sum": counters["label_delay_sum"]}, {"counts": arrays["label_delay_counts"]}),
    }
    return parts
