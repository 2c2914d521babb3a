"""What one update of a model found: immutable values, read by the exposition.

Nothing here knows metric names or computes anything; a snapshot is replaced
whole after each update, so a scrape always sees one complete update. The
components fill a window's results through :class:`WindowBuilder`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class DriftResult:
    method: str
    score: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class Distribution:
    """A feature's binned distribution over a window beside the reference's (for the report).

    ``bins`` name the bins (a value range, a value or a category); ``reference`` holds the
    reference's shares per bin. The window's counts are kept as merged (``starts``: the start of each
    named bin in them, for numeric features' coarse bins), and turned into shares only when read:
    an update pays nothing for a report nobody opens. Arrays, not to be modified.
    """

    bins: tuple[str, ...]
    reference: Any
    counts: Any
    starts: Any = None

    @property
    def window(self) -> Any:
        """The window's shares of its present values per bin."""
        import numpy as np

        counts = self.counts if self.starts is None else np.add.reduceat(self.counts, self.starts)
        return counts / max(1, int(counts.sum()))


@dataclass(frozen=True)
class FeatureWindow:
    """Data quality and drift of one feature over one window."""

    feature: str
    kind: str  # "numeric" | "categorical"
    missing_ratio: float
    type_violation_ratio: float
    out_of_range_ratio: float | None = None  # numeric features
    new_category_ratio: float | None = None  # categorical features
    drift: DriftResult | None = None  # absent when the window has too few values
    distribution: Distribution | None = None  # whole-model windows only
    #: How much the feature's drift matters (see exporter.components.impact); whole-model windows.
    impact: float | None = None
    #: The data-quality limits in force in the window, by check (calibrated to its rows).
    quality_limits: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class OutputDrift:
    """Drift of the model's output: ``output`` is score, value (regression) or class."""

    output: str
    method: str
    score: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class MultivariateDrift:
    """A window's mean PCA reconstruction error and the band outside which it drifted."""

    score: float
    lower: float
    upper: float
    drifted: bool


@dataclass(frozen=True, eq=False)
class ConfusionMatrix:
    """Rows per (actual, predicted) class of a window: counted once labels arrive, or expected (CBPE)."""

    classes: tuple[str, ...]
    #: ``counts[actual][predicted]`` in the order of ``classes``.
    counts: np.ndarray


@dataclass(frozen=True, slots=True)
class Verdict:
    """One check of :data:`~exporter.components.checks.CHECKS` on one subject (a feature, a metric, an output, the
    model)."""

    check: str
    #: What the check is about, as labels: {"feature": "age"}, {"metric": "f1"}, {} for the whole window.
    subject: tuple[tuple[str, str], ...]
    value: float
    threshold: float
    failed: bool
    #: Extra facts for the message (the drift method, ...).
    detail: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CheckTimeline:
    """A check that failed on a window, point by point (runs of the window's buckets, each evaluated alone with
    thresholds calibrated to its own rows; see :mod:`exporter.windows.timelines`): when each point starts, the check's
    value and threshold there (NaN where it has too few rows to judge), and whether it failed there."""

    check: str
    subject: tuple[tuple[str, str], ...]
    starts: tuple[float, ...]
    values: tuple[float, ...]
    thresholds: tuple[float, ...]
    failed: tuple[bool, ...]

    @property
    def first_failed(self) -> float | None:
        """The start of the first point of the window at which the check failed."""
        return next((start for start, failed in zip(self.starts, self.failed, strict=True) if failed), None)

    @property
    def since(self) -> float | None:
        """The start of the point from which the check fails: the failing point that best separates the points
        before it from those after it (the largest share failing after it less the share failing before it;
        the earliest of equals). A point can fail once by chance: this is where the failures began to hold,
        which the first failing point need not be."""
        n = len(self.failed)
        best, since = -math.inf, None
        failed_before = 0
        total = sum(self.failed)
        for i, failed in enumerate(self.failed):
            if failed:
                after = (total - failed_before) / (n - i)
                before = failed_before / i if i else 0.0
                if after - before > best:
                    best, since = after - before, self.starts[i]
            failed_before += failed
        return since


@dataclass(frozen=True)
class WindowResult:
    window: str
    rows: int
    #: "" for the whole model, ``column=value`` for a segment.
    segment: str = ""
    features: tuple[FeatureWindow, ...] = ()
    drifted_ratio: float | None = None
    dataset_drifted: bool | None = None
    labelled_rows: int = 0
    #: Realized performance by metric name (labels arrived).
    performance: dict[str, float] = field(default_factory=dict)
    #: Performance estimated without labels, by metric name.
    estimated_performance: dict[str, float] = field(default_factory=dict)
    #: The thresholds in force in the window (calibrated to its labelled rows, and to its rows for estimates).
    performance_limits: dict[str, float] = field(default_factory=dict)
    estimated_performance_limits: dict[str, float] = field(default_factory=dict)
    #: Realized minus estimated performance on the same labelled rows (the concept-drift signal), by metric,
    #: and the size of a gap that the estimate's sampling noise explains at that many rows.
    estimation_gap: dict[str, float] = field(default_factory=dict)
    estimation_gap_limits: dict[str, float] = field(default_factory=dict)
    #: The sampling error of each realized metric at the window's labelled rows, and of each estimate at its
    #: rows, as NannyML computes it (:mod:`exporter.stats.sampling_error`): the band around the metric.
    performance_sampling_error: dict[str, float] = field(default_factory=dict)
    estimated_performance_sampling_error: dict[str, float] = field(default_factory=dict)
    #: The labelled rows' confusion matrix and the expected one of every row (CBPE), whole-model windows only.
    confusion_matrix: ConfusionMatrix | None = None
    estimated_confusion_matrix: ConfusionMatrix | None = None
    label_coverage: float | None = None
    prediction_drift: tuple[OutputDrift, ...] = ()
    #: The window's mean PCA reconstruction error against the reference's (absent with too few rows).
    multivariate_drift: MultivariateDrift | None = None
    #: Drift of the labels that arrived for the window's predictions (absent with too few labels).
    label_drift: DriftResult | None = None
    #: Share of a classifier's predictions whose confidence is below ``low_confidence``.
    low_confidence_ratio: float | None = None
    #: Share of the window's outputs (score or predicted value) outside the reference range.
    prediction_out_of_range: float | None = None
    #: Percentiles ("50", "90", "99") of the delay of the labels joined to the window's predictions.
    label_delay_quantiles: dict[str, float] = field(default_factory=dict)
    #: The verdicts of the checks on this window: every drift verdict (exported as 0/1), and the
    #: failures of the checks that compare a value with an exported threshold (quality, performance).
    verdicts: tuple[Verdict, ...] = ()
    #: Each failed check of a whole-model window, bucket by bucket (see :mod:`exporter.windows.timelines`).
    timelines: tuple[CheckTimeline, ...] = ()


@dataclass(frozen=True)
class Threshold:
    feature: str
    method: str
    value: float


@dataclass(frozen=True)
class QualityThreshold:
    """The ratio above which a data-quality check of a feature fails."""

    feature: str
    check: str  # completeness | categorical_values | out_of_range
    value: float


@dataclass(frozen=True)
class Histogram:
    """A cumulative Prometheus histogram: ``buckets`` are (upper bound, cumulative count)."""

    buckets: tuple[tuple[float, int], ...]
    total: float
    count: int


@dataclass(frozen=True)
class ModelSnapshot:
    """What one update of a model found. The fields from ``thresholds`` on are model-wide values that the
    components fill in (:meth:`~exporter.components.base.Component.snapshot_fields`); a model without the
    component that fills one keeps its default here (no histogram, no threshold)."""

    model: str
    windows: tuple[WindowResult, ...]
    predictions_total: int
    rejected: dict[str, int]
    errors: dict[str, int]
    violations: dict[tuple[str, str], int]
    join_dropped: dict[str, int] | None
    #: (predictions waiting for a label, labels waiting for a prediction)
    pending_labels: tuple[int, int] | None
    segment_other: dict[str, int]
    #: (label, seconds) of every configured window.
    windows_seconds: tuple[tuple[str, float], ...]
    version: str
    trained_at: str
    age_seconds: float | None
    last_success: float | None
    last_duration: float | None
    up: bool
    #: Model-wide verdicts (the update itself).
    verdicts: tuple[Verdict, ...] = ()
    #: Per log (predictions, labels): bytes known lost, and files truncated or removed with rows maybe unread.
    lost: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Every (check, column) whose schema violations can be counted: exported at 0 until they happen, so that
    #: ``increase()`` over the counter has a series (and sees the first violation) on a healthy model.
    violation_keys: tuple[tuple[str, str], ...] = ()
    #: Window evaluations each component failed (its results left out), for every component of the model.
    component_errors: dict[str, int] = field(default_factory=dict)
    #: The age after which the model is due for retraining (``max_model_age``), when it has a training time.
    max_age_seconds: float | None = None
    thresholds: tuple[Threshold, ...] = ()
    quality_thresholds: tuple[QualityThreshold, ...] = ()
    #: The share of drifted features at which the dataset drifted.
    dataset_drift_share: float | None = None
    #: (output, method, threshold) of prediction drift
    output_thresholds: tuple[tuple[str, str, float], ...] = ()
    #: The reference's mean PCA reconstruction error (multivariate drift).
    multivariate_reference_error: float | None = None
    #: The confidence below which a classifier's prediction counts as unsure.
    low_confidence: float | None = None
    #: (method, threshold) of label drift (for a calibrated rule: its minimum effect)
    label_drift_threshold: tuple[str, float] | None = None
    #: Realized performance on the reference, and the alert thresholds derived from it.
    reference_performance: dict[str, float] = field(default_factory=dict)
    performance_thresholds: dict[str, float] = field(default_factory=dict)
    latency: Histogram | None = None
    label_delay: Histogram | None = None
    prediction_errors: int | None = None
    calibration_error: float | None = None
    calibrated: bool | None = None


#: A value that was not set before a change (:meth:`WindowBuilder.rollback` removes it again).
_ABSENT = object()


class WindowBuilder:
    """A window's results under construction: each component fills in its own part."""

    def __init__(self, window: str, segment: str, rows: int):
        self.window = window
        self.segment = segment
        self.values: dict[str, Any] = {"window": window, "segment": segment, "rows": rows}
        self.features: dict[str, dict[str, Any]] = {}
        self.verdicts: list[Verdict] = []
        #: What each change replaced, so that a component's part can be taken back (:meth:`rollback`).
        self._undo: list[tuple[dict[str, Any], str, Any]] = []
        self._new_features: list[str] = []

    def set(self, **values: Any) -> None:
        self._record(self.values, values)
        self.values.update(values)

    def feature(self, name: str, **values: Any) -> None:
        """Set facts of feature ``name`` (features appear in the order they are first set)."""
        facts = self.features.get(name)
        if facts is None:
            self.features[name] = {"feature": name, **values}
            self._new_features.append(name)
        else:
            self._record(facts, values)
            facts.update(values)

    def _record(self, facts: dict[str, Any], values: dict[str, Any]) -> None:
        self._undo.extend((facts, key, facts.get(key, _ABSENT)) for key in values)

    def mark(self) -> tuple[int, int, int]:
        """A point to go back to with :meth:`rollback`."""
        return len(self._undo), len(self._new_features), len(self.verdicts)

    def rollback(self, mark: tuple[int, int, int]) -> None:
        """Take back every change since ``mark``: the part of a component whose evaluation failed."""
        undo, new, verdicts = mark
        while len(self._undo) > undo:
            facts, key, old = self._undo.pop()
            if old is _ABSENT:
                facts.pop(key, None)
            else:
                facts[key] = old
        while len(self._new_features) > new:
            del self.features[self._new_features.pop()]
        del self.verdicts[verdicts:]

    def verdict(self, check: str, value: float, threshold: float, failed: bool,
                subject: tuple[tuple[str, str], ...] = (), detail: tuple[tuple[str, str], ...] = ()) -> None:
        """Record a check's verdict; ``subject`` and ``detail`` are (label, value) pairs."""
        self.verdicts.append(Verdict(check, subject, value, threshold, failed, detail))

    def build(self) -> WindowResult:
        features = tuple(FeatureWindow(**facts) for facts in self.features.values())
        return WindowResult(**self.values, features=features, verdicts=tuple(self.verdicts))
