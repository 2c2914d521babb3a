"""Feature data quality: missing values, type violations, values outside the reference range, new categories."""

from __future__ import annotations

from typing import Any

import numpy as np

from exporter.baseline.reference import Reference
from exporter.components.base import Component, WindowContext
from exporter.config import QualityConfig
from exporter.prepare.preparer import PreparedBatch
from exporter.prepare.rows import FeatureHistograms
from exporter.stats.distributions import binom_ppf, binom_quantile_at_most
from exporter.summary.results import QualityThreshold, WindowBuilder
from exporter.summary.sketch import FieldSpec, Groups, Summary
from exporter.values.vocabulary import CheckName

#: The field of FeatureQualityConfig that sets a feature's own limit of each check.
_OWN_LIMIT = {CheckName.COMPLETENESS: "missing_ratio", CheckName.OUT_OF_RANGE: "out_of_range_ratio",
              CheckName.DATA_TYPE: "type_violation_ratio", CheckName.CATEGORICAL_VALUES: "new_category_ratio"}


def _own_limit(quality: QualityConfig, feature: str, check: CheckName) -> float | None:
    """The limit ``quality.features`` sets for ``feature``'s ``check``, None when it sets none (the model's rule)."""
    own = quality.features.get(feature)
    return None if own is None else getattr(own, _OWN_LIMIT[check])


class FeatureQuality(Component):
    name = "quality"

    def __init__(self, reference: Reference, quality: QualityConfig):
        self.reference = reference
        self.numeric_last_bin = np.array([f.n_bins - 1 for f in reference.numeric], dtype=np.int64)[:, None]
        self.unseen_slot = np.array([c.unseen_slot for c in reference.categorical], dtype=np.int64)[:, None]
        # The histogram widths of the drift component's fields, so both share one computation.
        self.num_bins = reference.num_bins
        self.cat_bins = reference.cat_bins
        self.thresholds = self._thresholds(quality)
        self.alpha = quality.alpha
        # Per (feature, check), in the order of self.thresholds: the floor (the limits above), the
        # reference's own rate, and whether the limit grows with the sampling noise of small windows.
        self.keys = [(q.feature, q.check) for q in self.thresholds]
        self.floors = np.array([q.value for q in self.thresholds])
        rates = self._reference_rates()
        self.rates = np.array([rates[key] for key in self.keys])
        self.noisy = np.array([_own_limit(quality, q.feature, q.check) is None for q in self.thresholds])

    def _thresholds(self, q: QualityConfig) -> tuple[QualityThreshold, ...]:
        """Each feature's limit per check: its own (``quality.features``) where given, else the model's rule."""
        out = []

        def limit(feature: str, check: CheckName, default: float) -> None:
            own = _own_limit(q, feature, check)
            out.append(QualityThreshold(feature, check, default if own is None else own))

        for f in self.reference.numeric:
            limit(f.name, CheckName.COMPLETENESS, min(1.0, f.missing_ratio + q.missing_ratio_tolerance))
            limit(f.name, CheckName.OUT_OF_RANGE, q.out_of_range_ratio)
            limit(f.name, CheckName.DATA_TYPE, q.type_violation_ratio)
        for c in self.reference.categorical:
            limit(c.name, CheckName.COMPLETENESS, min(1.0, c.missing_ratio + q.missing_ratio_tolerance))
            limit(c.name, CheckName.CATEGORICAL_VALUES, q.new_category_ratio)
        return tuple(out)

    def _reference_rates(self) -> dict[tuple[str, str], float]:
        """How often each check's event happens in a sample of the reference's own population."""
        rates: dict[tuple[str, str], float] = {}
        for f in self.reference.numeric:
            present = int(f.reference_counts.sum())
            rates[(f.name, CheckName.COMPLETENESS)] = f.missing_ratio
            # A new value falls outside the range of m values with probability 2 / (m + 1).
            rates[(f.name, CheckName.OUT_OF_RANGE)] = 2.0 / (present + 1)
            rates[(f.name, CheckName.DATA_TYPE)] = 0.0
        for c in self.reference.categorical:
            rates[(c.name, CheckName.COMPLETENESS)] = c.missing_ratio
            rates[(c.name, CheckName.CATEGORICAL_VALUES)] = c.unseen_rate
        return rates

    def limits_at(self, rows: int) -> dict[tuple[str, str], float]:
        """Each check's limit in a window of ``rows``: the floor, or the binomial (1 - alpha) quantile of the
        reference's rate at that size when it is higher (model-wide rules only)."""
        limits = self.floors.copy()
        if rows and self.noisy.any():
            # The quantile is needed only where it may be above the floor: the largest count whose share
            # of the window is within the floor (in floating point, as the share is computed) bounds it.
            floor_count = np.floor(self.floors * rows)
            floor_count -= floor_count / rows > self.floors
            at_most = binom_quantile_at_most(1 - self.alpha, rows, self.rates, floor_count)
            needed = self.noisy & ~at_most
            if needed.any():
                noise = binom_ppf(1 - self.alpha, rows, self.rates[needed]) / rows
                limits[needed] = np.maximum(limits[needed], np.minimum(1.0, noise))
        return dict(zip(self.keys, limits.tolist(), strict=True))

    def fields(self) -> dict[str, FieldSpec]:
        n_num, n_cat = len(self.reference.numeric), len(self.reference.categorical)
        return {
            "num_missing": FieldSpec((n_num,), np.int64),
            "num_invalid": FieldSpec((n_num,), np.int64),
            "num_out_of_range": FieldSpec((n_num,), np.int64),
            "cat_missing": FieldSpec((n_cat,), np.int64),
            "cat_new": FieldSpec((n_cat,), np.int64),
        }

    def summarize(self, batch: PreparedBatch, groups: Groups) -> Summary:
        return self.summarize_histograms(batch.features.histograms(groups))

    def summarize_histograms(self, h: FeatureHistograms) -> Summary:
        """The fields of rows summarised as per-feature histograms (by the rows, or by the database; with or
        without a leading axis of groups)."""
        numeric = np.arange(len(self.reference.numeric))
        categorical = np.arange(len(self.reference.categorical))
        below = h.num_counts[..., 0]
        above = h.num_counts[..., numeric, self.numeric_last_bin[:, 0]]
        return {
            "num_missing": h.num_missing,
            "num_invalid": h.num_invalid,
            "num_out_of_range": (below + above).astype(np.int64),
            "cat_missing": h.cat_missing,
            "cat_new": h.cat_counts[..., categorical, self.unseen_slot[:, 0]].astype(np.int64),
        }

    def evaluate(self, merged: Summary, ctx: WindowContext, out: WindowBuilder) -> None:
        rows = ctx.rows

        def ratios(counts: np.ndarray) -> list[float]:
            return (counts / rows).tolist() if rows else [0.0] * counts.size

        limits = self.limits_at(rows)
        missing = ratios(merged["num_missing"])
        invalid = ratios(merged["num_invalid"])
        outside = ratios(merged["num_out_of_range"])
        for i, feature in enumerate(self.reference.numeric):
            checks = {CheckName.COMPLETENESS: missing[i], CheckName.OUT_OF_RANGE: outside[i],
                      CheckName.DATA_TYPE: invalid[i]}
            self._judge(out, feature.name, checks, limits, rows)
            out.feature(feature.name, kind="numeric", missing_ratio=missing[i], type_violation_ratio=invalid[i],
                        out_of_range_ratio=outside[i])
        missing = ratios(merged["cat_missing"])
        new = ratios(merged["cat_new"])
        for j, cat in enumerate(self.reference.categorical):
            checks = {CheckName.COMPLETENESS: missing[j], CheckName.CATEGORICAL_VALUES: new[j]}
            self._judge(out, cat.name, checks, limits, rows)
            out.feature(cat.name, kind="categorical", missing_ratio=missing[j], type_violation_ratio=0.0,
                        new_category_ratio=new[j])

    @staticmethod
    def _judge(out: WindowBuilder, feature: str, ratios: dict[CheckName, float],
               limits: dict[tuple[str, str], float], rows: int) -> None:
        """Record the window's limits of ``feature`` and the checks its ratios fail."""
        own = {str(check): limits[(feature, check)] for check in ratios}
        out.feature(feature, quality_limits=own)
        for check, ratio in ratios.items():
            # A check compared with an exported threshold records only its failures.
            if rows and ratio > own[check]:
                out.verdict(check, ratio, own[check], True, (("feature", feature),))

    def snapshot_fields(self) -> dict[str, Any]:
        return {"quality_thresholds": self.thresholds}

    def migrate_v1(self, old: Summary) -> Summary:
        num_counts, cat_counts = old["num_counts"], old["cat_counts"]
        last = self.numeric_last_bin[:, 0]
        rows = np.arange(last.size)
        unseen = self.unseen_slot[:, 0] - 1  # release 1 had no slot for the reference's untracked values
        return {
            "num_missing": old["num_missing"],
            "num_invalid": old["num_invalid"],
            "num_out_of_range": (num_counts[:, rows, 0] + num_counts[:, rows, last]).astype(np.int64),
            "cat_missing": old["cat_missing"],
            "cat_new": cat_counts[:, np.arange(unseen.size), unseen].astype(np.int64),
        }
