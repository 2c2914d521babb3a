"""The HTML report of one model's window, for whoever was just paged.

One self-contained page (styles inline, charts as inline SVG, no script, nothing fetched): the
window's rows and label coverage, the failed checks, realized and estimated performance against
their thresholds, prediction drift, and per feature its reference and window distributions drawn
over each other (from the bins the exporter already keeps), its drift score against its threshold
and its missing / out-of-range / new-category / wrong-type shares. Features come sorted by impact:
those failing a check first, each group by the exporter's drift impact (importance, distance past
the threshold, correlation with performance), else by how far its worst check is past its threshold.

It is built from a :class:`~exporter.results.ModelSnapshot` only, so ``model-monitor report`` and
``serve``'s ``/report`` draw the same page, and the scrape path does no work for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from exporter.checks import BY_NAME, LABEL_COVERAGE_MIN, describe
from exporter.drift import PVALUE_METHODS
from exporter.results import Distribution, FeatureWindow, ModelSnapshot, Verdict, WindowResult

#: Bins drawn per feature; a categorical feature's smaller categories beyond it are drawn as one bar.
MAX_BARS = 20
#: Geometry of a chart row (pixels).
ROW_HEIGHT, LABEL_WIDTH, BAR_WIDTH = 18, 170, 300


class UnknownWindowError(LookupError):
    """The snapshot has no whole-model window of that name."""


class WindowNotReadyError(UnknownWindowError):
    """The window is configured but the exporter has not computed it yet (``serve`` answers 503)."""


@dataclass(frozen=True)
class Bar:
    label: str
    reference: float
    window: float
    y: int
    reference_width: float
    window_width: float


@dataclass(frozen=True)
class FeatureView:
    feature: FeatureWindow
    #: The feature's failed checks, as the lines ``check`` prints.
    failures: tuple[str, ...]
    #: How far its worst check is past (or short of) its threshold: 1.0 is at the threshold.
    impact: float
    bars: tuple[Bar, ...]
    chart_height: int


def _ratio(verdict: Verdict) -> float:
    """How far a verdict's value is towards failing: value / threshold, inverted where lower is worse."""
    method = dict(verdict.detail).get("method", "")
    lower_is_worse = method in PVALUE_METHODS or BY_NAME[verdict.check].op == "<"
    value, threshold = (verdict.threshold, verdict.value) if lower_is_worse else (verdict.value, verdict.threshold)
    if threshold <= 0:
        return math.inf if value > 0 else 0.0
    return value / threshold


def _bars(distribution: Distribution | None) -> tuple[Bar, ...]:
    if distribution is None:
        return ()
    rows = [(name, float(ref), float(win)) for name, ref, win in
            zip(distribution.bins, distribution.reference, distribution.window, strict=True) if ref or win]
    if len(rows) > MAX_BARS:  # keep the largest bins in their order; the rest share one bar
        largest = sorted(range(len(rows)), key=lambda k: -max(rows[k][1], rows[k][2]))[: MAX_BARS - 1]
        kept = [rows[k] for k in sorted(largest)]
        rest = [rows[k] for k in range(len(rows)) if k not in set(largest)]
        kept.append((f"({len(rest)} others)", sum(r[1] for r in rest), sum(r[2] for r in rest)))
        rows = kept
    top = max((max(r[1], r[2]) for r in rows), default=0.0) or 1.0
    return tuple(Bar(label, ref, win, k * ROW_HEIGHT, BAR_WIDTH * ref / top, BAR_WIDTH * win / top)
                 for k, (label, ref, win) in enumerate(rows))


def _window(snapshot: ModelSnapshot, window: str) -> WindowResult:
    for result in snapshot.windows:
        if result.window == window and not result.segment:
            return result
    labels = [label for label, _ in snapshot.windows_seconds]
    if window in labels:
        raise WindowNotReadyError(f"model {snapshot.model}: window {window!r} has no results yet "
                                  "(its first update has not finished)")
    names = ", ".join(labels)
    raise UnknownWindowError(f"model {snapshot.model} has no window {window!r} (windows: {names})")


def feature_views(snapshot: ModelSnapshot, result: WindowResult) -> list[FeatureView]:
    """The window's features with their failed checks and impact, most urgent first."""
    by_feature: dict[str, list[Verdict]] = {}
    for verdict in result.verdicts:
        feature = dict(verdict.subject).get("feature")
        if feature is not None:
            by_feature.setdefault(feature, []).append(verdict)
    views = []
    for feature in result.features:
        verdicts = by_feature.get(feature.feature, [])
        failures = tuple(describe(snapshot.model, result.window, v) for v in verdicts if v.failed)
        # The exporter's impact where it has one (drift with importance and correlation), else the
        # worst check's distance past its threshold.
        impact = feature.impact if feature.impact is not None else max((_ratio(v) for v in verdicts), default=0.0)
        bars = _bars(feature.distribution)
        views.append(FeatureView(feature, failures, impact, bars, max(1, len(bars)) * ROW_HEIGHT))
    return sorted(views, key=lambda v: (not v.failures, -v.impact, v.feature.feature))


#: Names and lines longer than this are shown cut (the whole text stays in the element's ``title``).
CLIP_CHARACTERS = 160


def clip(text: object, length: int = CLIP_CHARACTERS) -> str:
    """``text`` cut to ``length`` characters with an ellipsis: a feature name or category value of
    10,000 characters must not push the page apart. Escaping is the template's (autoescape)."""
    text = str(text)
    return text if len(text) <= length else text[: length - 1] + "\u2026"


@cache
def _template(name: str = "report.html.j2") -> Any:
    import jinja2  # only the report needs it

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                                     autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                                     lstrip_blocks=True)
    environment.filters["percent"] = lambda v: "\u2013" if v is None else f"{100 * v:.2f}%"
    environment.filters["number"] = lambda v: "\u2013" if v is None else f"{v:.4g}"
    environment.filters["clip"] = clip
    return environment.get_template(name)


def render_report(snapshot: ModelSnapshot, window: str, now: float | None = None) -> str:
    """The report of ``snapshot``'s whole-model ``window`` as one HTML document."""
    result = _window(snapshot, window)
    failed = [describe(snapshot.model, "", v) for v in snapshot.verdicts if v.failed]
    failed += [describe(snapshot.model, result.window, v) for v in result.verdicts if v.failed]
    metrics = sorted(set(result.performance) | set(result.estimated_performance)
                     | set(snapshot.performance_thresholds))
    performance = [{"metric": m, "realized": result.performance.get(m),
                    "estimated": result.estimated_performance.get(m),
                    "reference": snapshot.reference_performance.get(m),
                    "threshold": snapshot.performance_thresholds.get(m)} for m in metrics]
    for row in performance:
        threshold = row["threshold"]
        row["failed"] = threshold is not None and any(
            row[k] is not None and row[k] < threshold for k in ("realized", "estimated"))
    seconds = dict(snapshot.windows_seconds).get(window, 0.0)
    end = now if now is not None else (snapshot.last_success or 0.0)
    views = feature_views(snapshot, result)
    return _template().render(
        snapshot=snapshot, result=result, failed=failed, performance=performance, features=views,
        drifted=sum(1 for v in views if v.feature.drift is not None and v.feature.drift.drifted),
        with_drift=sum(1 for v in views if v.feature.drift is not None),
        start=_utc(end - seconds), end=_utc(end), label_width=LABEL_WIDTH, bar_width=BAR_WIDTH,
        row_height=ROW_HEIGHT, label_coverage_min=LABEL_COVERAGE_MIN,
    )


def render_index(snapshots: dict[str, ModelSnapshot]) -> str:
    """A page linking the report of every model's every window."""
    return _template("index.html.j2").render(snapshots=[snapshots[name] for name in sorted(snapshots)])


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
