"""The HTML report of one model's window, for whoever was just paged.

One self-contained page (styles inline, charts as inline SVG, no script, nothing fetched): the
window's rows and label coverage, the failed checks, realized and estimated performance against
their thresholds, prediction drift, and per feature its reference and window distributions drawn
over each other (from the bins the exporter already keeps), its drift score against its threshold
and its missing / out-of-range / new-category / wrong-type shares. Failed checks say whether their alert
pages or warns. Features come most urgent first: those failing a check first, by the severity of the
check's alert, then by how far it is past its limit; the others by the exporter's drift impact.

It is built from a :class:`~exporter.summary.results.ModelSnapshot` only, so ``model-monitor report`` and
``serve``'s ``/report`` draw the same page, and the scrape path does no work for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from exporter.baseline.drift import is_test
from exporter.components.checks import BY_NAME, LABEL_COVERAGE_MIN, describe
from exporter.summary.results import CheckTimeline, Distribution, FeatureWindow, ModelSnapshot, Verdict, WindowResult
from exporter.values.vocabulary import CheckName

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


#: How the report names a check's severity: what its alert does to whoever is on call.
SEVERITY_WORDS = {"critical": "page", "warning": "warning"}
#: Severities, most urgent first.
SEVERITY_RANK = {"critical": 0, "warning": 1}


def rank_of(severity: str) -> int:
    """0 for the most urgent severity; an unknown severity after every known one."""
    return SEVERITY_RANK.get(severity, len(SEVERITY_RANK))


def _verdict_rank(verdict: Verdict) -> int:
    return rank_of(BY_NAME[verdict.check].severity)


#: Size of a check's timeline drawn beside it (pixels).
SPARK_WIDTH, SPARK_HEIGHT = 180, 30


@dataclass(frozen=True)
class Sparkline:
    """A check's value per bucket (a polyline), its threshold per bucket (dashed) and the buckets that failed
    (dots), in SVG coordinates of a SPARK_WIDTH x SPARK_HEIGHT box."""

    values: str
    thresholds: str
    failed: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class FailedCheck:
    """A failed check as the report lists it: the line ``check`` prints, its alert's severity, and since when
    it fails with its timeline over the window's buckets (window checks)."""

    line: str
    severity: str
    #: "page" or "warning" (:data:`SEVERITY_WORDS`).
    word: str
    since: str | None = None
    sparkline: Sparkline | None = None


def sparkline(timeline: CheckTimeline) -> Sparkline | None:
    """The timeline scaled into its box; None without two buckets of values."""
    starts = timeline.starts
    finite = [v for v in (*timeline.values, *timeline.thresholds) if math.isfinite(v)]
    if len(starts) < 2 or not finite:
        return None
    low, high = min(finite), max(finite)
    span = (high - low) or 1.0
    first, last = starts[0], starts[-1]

    def x(start: float) -> float:
        return round((start - first) / ((last - first) or 1.0) * (SPARK_WIDTH - 4) + 2, 1)

    def y(value: float) -> float:
        return round(SPARK_HEIGHT - 3 - (value - low) / span * (SPARK_HEIGHT - 6), 1)

    def line(values: tuple[float, ...]) -> str:
        return " ".join(f"{x(t)},{y(v)}" for t, v in zip(starts, values, strict=True) if math.isfinite(v))

    dots = tuple((x(t), y(v)) for t, v, f in zip(starts, timeline.values, timeline.failed, strict=True)
                 if f and math.isfinite(v))
    return Sparkline(line(timeline.values), line(timeline.thresholds), dots)


@dataclass(frozen=True)
class FeatureView:
    feature: FeatureWindow
    #: The feature's failed checks, most severe first.
    failures: tuple[FailedCheck, ...]
    #: The exporter's drift impact (importance, distance past the threshold, correlation with performance),
    #: else how far its worst check is past (or short of) its threshold.
    impact: float
    #: How far its most severe failed check is past its limit (1.0 is at the limit); 0 when none fails.
    past_limit: float
    bars: tuple[Bar, ...]
    chart_height: int

    @property
    def severity_rank(self) -> int:
        return min((rank_of(f.severity) for f in self.failures), default=len(SEVERITY_RANK) + 1)


def _ratio(verdict: Verdict) -> float:
    """How far a verdict's value is towards failing: value / threshold, inverted where lower is worse."""
    method = dict(verdict.detail).get("method", "")
    lower_is_worse = (bool(method) and is_test(method)) or BY_NAME[verdict.check].op == "<"
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


def failed_check(model: str, window: str, verdict: Verdict, result: WindowResult | None = None) -> FailedCheck:
    """``verdict`` as the report lists it; with the window's ``result``, since when and its timeline."""
    severity = BY_NAME[verdict.check].severity
    timeline = next((t for t in result.timelines if (t.check, t.subject) == (verdict.check, verdict.subject)),
                    None) if result is not None else None
    since = timeline.since if timeline is not None else None
    text = None
    if timeline is not None and since is not None:
        # Failing from the window's first point: it may have failed before the window began.
        text = _utc(since) + (" or earlier (the window's first bucket)" if since == timeline.starts[0] else "")
        first = timeline.first_failed
        if first is not None and first < since:
            text += f"; first failed alone at {_utc(first)}"
    return FailedCheck(describe(model, window, verdict), severity, SEVERITY_WORDS.get(severity, severity), text,
                       sparkline(timeline) if timeline is not None else None)


def failed_checks_of(snapshot: ModelSnapshot, result: WindowResult) -> list[FailedCheck]:
    """Every failed check of the model and of ``result``, pages first (each group in the checks' order)."""
    failed = [failed_check(snapshot.model, "", v) for v in snapshot.verdicts if v.failed]
    failed += [failed_check(snapshot.model, result.window, v, result) for v in result.verdicts if v.failed]
    return sorted(failed, key=lambda f: rank_of(f.severity))


def feature_views(snapshot: ModelSnapshot, result: WindowResult) -> list[FeatureView]:
    """The window's features, most urgent first: those with a failed check before the others, by the severity
    of their alerts (a page before a warning), then by how far that check is past its limit; the features
    that pass by their drift impact (or their worst check's distance to its threshold)."""
    by_feature: dict[str, list[Verdict]] = {}
    for verdict in result.verdicts:
        feature = dict(verdict.subject).get("feature")
        if feature is not None:
            by_feature.setdefault(feature, []).append(verdict)
    views = []
    for feature in result.features:
        verdicts = by_feature.get(feature.feature, [])
        failed = sorted((v for v in verdicts if v.failed),
                        key=lambda v: (_verdict_rank(v), -_ratio(v)))
        failures = tuple(failed_check(snapshot.model, result.window, v, result) for v in failed)
        impact = feature.impact if feature.impact is not None else max((_ratio(v) for v in verdicts), default=0.0)
        past = _ratio(failed[0]) if failed else 0.0
        bars = _bars(feature.distribution)
        views.append(FeatureView(feature, failures, impact, past, bars, max(1, len(bars)) * ROW_HEIGHT))
    return sorted(views, key=lambda v: (v.severity_rank, -v.past_limit, -v.impact, v.feature.feature))


def default_window(snapshot: ModelSnapshot) -> str:
    """The window ``/report`` opens without ``window=``: the shortest with a failed check of the highest
    severity (the freshest view of what pages), else the longest (all pass: the steadiest view)."""
    seconds = dict(snapshot.windows_seconds)
    worst: tuple[int, float, str] | None = None
    for result in snapshot.windows:
        if result.segment:
            continue
        ranks = [_verdict_rank(v) for v in result.verdicts if v.failed]
        if ranks:
            candidate = (min(ranks), seconds.get(result.window, math.inf), result.window)
            worst = candidate if worst is None or candidate < worst else worst
    if worst is not None:
        return worst[2]
    return max(snapshot.windows_seconds, key=lambda w: w[1], default=("", 0.0))[0]


def window_verdicts(snapshot: ModelSnapshot) -> list[dict[str, Any]]:
    """Each whole-model window with its number of failed checks and the severity of the worst, for the links
    between a model's reports."""
    out = []
    for label, _ in snapshot.windows_seconds:
        result = next((r for r in snapshot.windows if r.window == label and not r.segment), None)
        failed = [v for v in result.verdicts if v.failed] if result is not None else []
        worst = min((BY_NAME[v.check].severity for v in failed), key=rank_of, default=None)
        out.append({"window": label, "ready": result is not None, "failed": len(failed),
                    "word": SEVERITY_WORDS.get(worst, worst) if worst else None})
    return out


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


#: The band drawn around a metric, in sampling errors (NannyML's).
SAMPLING_BAND = 3


def render_report(snapshot: ModelSnapshot, window: str, now: float | None = None) -> str:
    """The report of ``snapshot``'s whole-model ``window`` as one HTML document."""
    result = _window(snapshot, window)
    failed = failed_checks_of(snapshot, result)
    metrics = sorted(set(result.performance) | set(result.estimated_performance)
                     | set(snapshot.performance_thresholds))
    errors = {"realized": result.performance_sampling_error, "estimated": result.estimated_performance_sampling_error}
    band = {kind: {m: SAMPLING_BAND * e for m, e in by_metric.items()} for kind, by_metric in errors.items()}
    performance = [{"metric": m, "realized": result.performance.get(m), "realized_band": band["realized"].get(m),
                    "estimated": result.estimated_performance.get(m), "estimated_band": band["estimated"].get(m),
                    "reference": snapshot.reference_performance.get(m),
                    "threshold": snapshot.performance_thresholds.get(m),
                    "gap": result.estimation_gap.get(m)} for m in metrics]
    # A row fails where a performance check failed on the metric in this window (thresholds in force there).
    failing = {dict(v.subject).get("metric") for v in result.verdicts
               if v.failed and v.check in (CheckName.PERFORMANCE, CheckName.ESTIMATED_PERFORMANCE)}
    for row in performance:
        row["failed"] = row["metric"] in failing
    seconds = dict(snapshot.windows_seconds).get(window, 0.0)
    end = now if now is not None else (snapshot.last_success or 0.0)
    views = feature_views(snapshot, result)
    return _template().render(
        snapshot=snapshot, result=result, failed=failed, performance=performance, features=views,
        drifted=sum(1 for v in views if v.feature.drift is not None and v.feature.drift.drifted),
        with_drift=sum(1 for v in views if v.feature.drift is not None),
        start=_utc(end - seconds), end=_utc(end), label_width=LABEL_WIDTH, bar_width=BAR_WIDTH,
        row_height=ROW_HEIGHT, label_coverage_min=LABEL_COVERAGE_MIN, windows=window_verdicts(snapshot),
        spark_width=SPARK_WIDTH, spark_height=SPARK_HEIGHT,
        last_success=_utc(snapshot.last_success) if snapshot.last_success else None,
    )


def render_index(snapshots: dict[str, ModelSnapshot]) -> str:
    """A page linking the report of every model's every window."""
    return _template("index.html.j2").render(snapshots=[snapshots[name] for name in sorted(snapshots)])


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
