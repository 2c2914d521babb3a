"""The layout a model's saved rings depend on, as one fingerprint: a state saved for another layout is not read."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from exporter.baseline.files import Baseline
from exporter.baseline.reference import Reference
from exporter.baseline.targets import TargetSpec
from exporter.components import PerformanceBaseline, bucket_layout, build_components
from exporter.config import ModelConfig
from exporter.prepare.segments import segment_keys


def fingerprint(reference: Reference, spec: TargetSpec, auc_edges: np.ndarray | None, signature: list[Any],
                config: ModelConfig, segment_keys: list[str]) -> str:
    """Identifies everything a saved ring depends on: bins, fields, windows, segments, classes."""
    windows = [(w.label, w.seconds, config.window_buckets) for w in config.windows]
    description = repr((signature, windows, segment_keys, spec.classes))
    hasher = hashlib.sha256(description.encode())
    for edges in (auc_edges, spec.output.edges if spec.output else None):
        if edges is not None:
            hasher.update(np.ascontiguousarray(edges, dtype=np.float64).tobytes())
    return f"{reference.fingerprint()}:{hasher.hexdigest()[:16]}"


def base_fingerprint(reference: Reference, spec: TargetSpec, auc_edges: np.ndarray | None, config: ModelConfig,
                     segment_keys: list[str]) -> str:
    """The fingerprint of everything a saved ring depends on but the fields (bins, windows, segments, classes):
    a state saved with the same base and fewer fields is this layout before components or fields were added."""
    return fingerprint(reference, spec, auc_edges, [], config, segment_keys)


def performance_baseline(config: ModelConfig, base: Baseline) -> PerformanceBaseline:
    """What ``base`` knows of the reference's performance (values, noise, sampling errors), with ``config``'s
    tolerance and alpha: the thresholds and bands of the performance components."""
    return PerformanceBaseline(config.performance_tolerance, dict(base.performance), dict(base.performance_noise),
                               config.performance_alpha, dict(base.sampling_errors))


def baseline_fingerprint(config: ModelConfig, base: Baseline) -> str:
    """The fingerprint of the monitor that ``base`` builds for ``config``, without building it: no source is
    opened and no ring allocated (``model-monitor baseline`` writes it into the baseline file)."""
    components = build_components(config, base.reference, base.spec, performance_baseline(config, base))
    return fingerprint(base.reference, base.spec, base.spec.auc_edges, bucket_layout(components).signature(),
                       config, segment_keys(base.segments))
