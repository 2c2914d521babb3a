"""A model's cumulative counters: rows ingested, rejected, violations, errors, segment overflow."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exporter.prepare.rows import Rejections

_SEP = "\x1f"


@dataclass
class Counters:
    predictions_total: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    violations: Counter[tuple[str, str]] = field(default_factory=Counter)
    segment_other: Counter[str] = field(default_factory=Counter)
    #: Evaluations of a window that a component failed, by component (its results were left out).
    component_errors: Counter[str] = field(default_factory=Counter)

    def add(self, issues: Rejections) -> None:
        self.rejected.update(issues.rejected)
        self.violations.update(issues.violations)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {
            "predictions_total": self.predictions_total,
            "rejected": dict(self.rejected),
            "errors": dict(self.errors),
            "violations": {_SEP.join(k): v for k, v in self.violations.items()},
            "segment_other": dict(self.segment_other),
            "component_errors": dict(self.component_errors),
        }, {}

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.predictions_total = int(meta["predictions_total"])
        self.rejected = Counter(meta["rejected"])
        self.errors = Counter(meta["errors"])
        self.violations = Counter({tuple(k.split(_SEP, 1)): v for k, v in meta["violations"].items()})
        self.segment_other = Counter(meta["segment_other"])
        self.component_errors = Counter(meta.get("component_errors", {}))  # absent from older releases' state
