"""Since when a check fails: the window's own buckets, each evaluated alone.

When a check fails on a whole-model window, on-call asks since when. The window is a merge of its buckets
(:mod:`exporter.windows.ring`), so runs of consecutive buckets (:func:`timeline_points`: at most 20, each with
enough rows) can be evaluated alone with the same components (thresholds calibrated to their own rows, as
a window's are). :func:`timelines` reads, for each failed check of the window, the check's value and
threshold at every point and whether it failed there; :attr:`CheckTimeline.since` says since when. A point
with too few rows to judge has no value (NaN), as a window would have none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from exporter.components.checks import LABEL_COVERAGE_MIN
from exporter.summary.results import CheckTimeline, FeatureWindow, Verdict, WindowResult
from exporter.summary.sketch import Summary, merge_into
from exporter.values.vocabulary import CheckName

#: The data-quality checks: the feature's ratio and the name of its limit in ``quality_limits``.
QUALITY_RATIOS = {
    CheckName.COMPLETENESS: "missing_ratio",
    CheckName.CATEGORICAL_VALUES: "new_category_ratio",
    CheckName.OUT_OF_RANGE: "out_of_range_ratio",
    CheckName.DATA_TYPE: "type_violation_ratio",
}


#: Points of a timeline at most: buckets are grouped so that each point holds a share of the window's rows.
MOST_POINTS = 20


def timeline_points(buckets: Sequence[tuple[float, Summary]], rows_field: str, min_rows: int,
                    most: int = MOST_POINTS, maxima: frozenset[str] = frozenset()) -> list[tuple[float, Summary]]:
    """The window's buckets (start, fields), oldest first, grouped into consecutive runs that each hold at
    least ``min_rows`` rows and ``1 / most`` of the window's (the last run joins the one before when short):
    a point of a few rows would fail by chance (a drift statistic's bias on small samples, a fixed threshold)
    and tell nothing of since when. Each point: the start of its first bucket and its fields merged (summed, the
    ``maxima`` fields by their maximum)."""
    total = sum(int(fields[rows_field]) for _, fields in buckets)
    target = max(min_rows, math.ceil(total / most), 1)
    points: list[tuple[float, Summary]] = []
    start, merged, rows = 0.0, None, 0
    for bucket_start, fields in buckets:
        if merged is None:
            start, merged, rows = bucket_start, {name: array.copy() for name, array in fields.items()}, 0
        else:
            merge_into(merged, fields, maxima)
        rows += int(fields[rows_field])
        if rows >= target:
            points.append((start, merged))
            merged = None
    if merged is not None and rows:
        if points:
            merge_into(points[-1][1], merged, maxima)
        else:
            points.append((start, merged))
    return points


def _feature(result: WindowResult, name: str | None) -> FeatureWindow | None:
    return next((f for f in result.features if f.feature == name), None)


def check_value(result: WindowResult, check: str, subject: dict[str, str],
                dataset_share: float) -> tuple[float, float] | None:
    """(value, threshold) of ``check`` on ``subject`` in ``result``; None where the window has none."""
    if check == CheckName.FEATURE_DRIFT:
        feature = _feature(result, subject.get("feature"))
        return (feature.drift.score, feature.drift.threshold) if feature and feature.drift else None
    if check in QUALITY_RATIOS:
        feature = _feature(result, subject.get("feature"))
        if feature is None or check not in feature.quality_limits or not result.rows:
            return None
        return float(getattr(feature, QUALITY_RATIOS[CheckName(check)])), feature.quality_limits[check]
    if check == CheckName.DATASET_DRIFT:
        return (result.drifted_ratio, dataset_share) if result.drifted_ratio is not None else None
    if check == CheckName.PREDICTION_DRIFT:
        drift = next((d for d in result.prediction_drift if d.output == subject.get("output")), None)
        return (drift.score, drift.threshold) if drift is not None else None
    if check in (CheckName.PERFORMANCE, CheckName.ESTIMATED_PERFORMANCE):
        metric = subject.get("metric", "")
        values, limits = ((result.performance, result.performance_limits) if check == CheckName.PERFORMANCE
                          else (result.estimated_performance, result.estimated_performance_limits))
        return (values[metric], limits[metric]) if metric in values and metric in limits else None
    if check == CheckName.LABEL_COVERAGE:
        return (result.label_coverage, LABEL_COVERAGE_MIN) if result.label_coverage is not None else None
    # Checks that record their verdict whether or not it fails (drift of the labels, the estimation gap, ...).
    verdict = next((v for v in result.verdicts if v.check == check and dict(v.subject) == subject), None)
    return (verdict.value, verdict.threshold) if verdict is not None else None


def timelines(window: WindowResult, buckets: Sequence[tuple[float, WindowResult]],
              dataset_share: float) -> tuple[CheckTimeline, ...]:
    """A timeline of each failed check of ``window`` over ``buckets``: (start, the bucket evaluated alone)."""
    out = []
    failed: list[Verdict] = [v for v in window.verdicts if v.failed]
    for verdict in failed:
        subject = dict(verdict.subject)
        values, thresholds, fails = [], [], []
        for _, bucket in buckets:
            found = check_value(bucket, verdict.check, subject, dataset_share)
            value, threshold = found if found is not None else (math.nan, math.nan)
            values.append(float(value))
            thresholds.append(float(threshold))
            fails.append(any(v.failed and v.check == verdict.check and v.subject == verdict.subject
                             for v in bucket.verdicts))
        out.append(CheckTimeline(verdict.check, verdict.subject, tuple(start for start, _ in buckets),
                                 tuple(values), tuple(thresholds), tuple(fails)))
    return tuple(out)
