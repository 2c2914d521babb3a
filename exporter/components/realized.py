"""What realized performance shares: the thresholds from the reference's own performance and noise
(:class:`PerformanceBaseline`, which CBPE shares too), and the evaluation of a window's metrics against them.

The components themselves: :mod:`exporter.components.classification` and
:mod:`exporter.components.regression`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from exporter.components.base import Component, WindowContext
from exporter.config import DEFAULT_ALPHA
from exporter.stats import performance
from exporter.stats.distributions import norm_ppf
from exporter.stats.sampling_error import SamplingError
from exporter.summary.results import ConfusionMatrix, WindowBuilder
from exporter.summary.sketch import Summary
from exporter.values.vocabulary import CheckName


@dataclass
class PerformanceBaseline:
    """The reference's realized performance and the thresholds below which performance fails.

    A window's threshold is the reference's value minus the larger of ``tolerance`` and the metric's
    sampling noise at the window's size: ``z(1 - alpha) * noise[metric] / sqrt(n)`` (for an error, its value
    plus the larger of ``tolerance`` times it and the noise), where
    ``noise`` is the metric's standard deviation over subsamples of the reference times the square
    root of their size (:func:`exporter.monitor.building.performance_noise`), so a small window is not judged
    on a difference its size cannot tell from chance.
    """

    tolerance: float
    reference: dict[str, float] = field(default_factory=dict)
    #: Standard deviation of each metric on one row's worth of data (sigma(n) * sqrt(n)).
    noise: dict[str, float] = field(default_factory=dict)
    alpha: float = DEFAULT_ALPHA
    #: Each metric's sampling error terms as NannyML measures them (:mod:`exporter.stats.sampling_error`).
    sampling: dict[str, SamplingError] = field(default_factory=dict)

    def sampling_errors(self, metrics: dict[str, float], n: int) -> dict[str, float]:
        """The sampling error of each of ``metrics`` measured on ``n`` rows: NannyML's where it has one, else the
        metric's standard deviation over subsamples of the reference (its noise) over ``sqrt(n)``."""
        out = {}
        for metric in metrics:
            if metric in self.sampling:
                error = self.sampling[metric].at(n)
            elif metric in self.noise and n > 0:
                error = self.noise[metric] / math.sqrt(n)
            else:
                error = None
            if error is not None and math.isfinite(error):
                out[metric] = error
        return out

    @property
    def thresholds(self) -> dict[str, float]:
        """The thresholds of a window large enough for its noise to be below the tolerance."""
        return self.thresholds_at(None)

    def thresholds_at(self, n: int | None) -> dict[str, float]:
        """Each metric's threshold in a window of ``n`` rows (None: a window too large for noise to matter).

        A score (accuracy, F1, R², ...) fails below the reference's value minus the larger of ``tolerance`` and
        its noise at ``n`` rows; an error (MAE, MSE, RMSE: in the target's units) fails above the reference's
        value plus the larger of ``tolerance`` times that value and its noise."""
        z = norm_ppf(1 - self.alpha)
        out = {}
        for metric, value in self.reference.items():
            noise = 0.0 if n is None else z * self.noise.get(metric, 0.0) / math.sqrt(max(n, 1))
            if metric in performance.HIGHER_IS_BETTER:
                out[metric] = max(0.0, value - max(self.tolerance, noise))
            elif metric in performance.LOWER_IS_BETTER:
                out[metric] = value + max(self.tolerance * abs(value), noise)
        return out

    def verdicts(self, check: CheckName, metrics: dict[str, float], out: WindowBuilder, n: int) -> dict[str, float]:
        """Record the failures of ``metrics`` measured on ``n`` rows; returns the thresholds in force."""
        limits = {metric: limit for metric, limit in self.thresholds_at(n).items() if metric in metrics}
        for metric, limit in limits.items():
            error = metric in performance.LOWER_IS_BETTER
            # Only failures are recorded: the threshold is exported.
            if metrics[metric] > limit if error else metrics[metric] < limit:
                out.verdict(check, metrics[metric], limit, True, (("metric", metric),),
                            (("side", "above" if error else "below"),))
        return limits

    def gap_verdicts(self, realized: dict[str, float], estimated: dict[str, float], out: WindowBuilder,
                     n: int) -> None:
        """The concept-drift signal of a window: realized minus estimated performance on the same ``n``
        labelled rows, per metric both hold, against the estimate's sampling noise at ``n`` rows (the larger of
        ``tolerance`` (for an error: times the reference's error) and ``z(1 - alpha) * noise[metric] / sqrt(n)``,
        as the performance thresholds). The
        verdict fails when the realized value is worse than the estimate by more than that: the world no
        longer answers as the model's scores say it should (concept drift). Every verdict is recorded, so
        its 0/1 series is exported whether or not it fails."""
        z = norm_ppf(1 - self.alpha)
        gaps, limits = {}, {}
        for metric in sorted(set(realized) & set(estimated)):
            gap = realized[metric] - estimated[metric]
            if not math.isfinite(gap):
                continue
            floor = self.tolerance * abs(self.reference.get(metric, 0.0)) if metric in performance.LOWER_IS_BETTER \
                else self.tolerance  # an error's tolerance is relative, as for its threshold
            limit = max(floor, z * self.noise.get(metric, 0.0) / math.sqrt(max(n, 1)))
            worse = -gap if metric in performance.HIGHER_IS_BETTER else gap
            gaps[metric], limits[metric] = gap, limit
            out.verdict(CheckName.CONCEPT_DRIFT, gap, limit, worse > limit, (("metric", metric),))
        out.set(estimation_gap=gaps, estimation_gap_limits=limits)


class Realized(Component):
    """Realized performance of a window's labelled rows, against the reference's (a base of the components)."""

    def __init__(self, baseline: PerformanceBaseline):
        self.baseline = baseline

    def metrics(self, merged: Summary) -> dict[str, float]:
        raise NotImplementedError

    def confusion(self, merged: Summary) -> ConfusionMatrix | None:
        """The window's confusion matrix (classifiers), or None."""
        return None

    def evaluate(self, merged: Summary, ctx: WindowContext, out: WindowBuilder) -> None:
        metrics = self.metrics(merged) if ctx.labelled >= ctx.min_rows else {}
        out.set(performance=metrics, performance_sampling_error=self.baseline.sampling_errors(metrics, ctx.labelled))
        if metrics and not ctx.segment:
            out.set(confusion_matrix=self.confusion(merged))
        out.set(performance_limits=self.baseline.verdicts(CheckName.PERFORMANCE, metrics, out, ctx.labelled))

    def snapshot_fields(self) -> dict[str, Any]:
        return {"reference_performance": dict(self.baseline.reference),
                "performance_thresholds": self.baseline.thresholds}


