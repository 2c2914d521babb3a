"""Feature data quality: missing values, type violations, values outside the reference range, new categories."""

from __future__ import annotations

from typing import Any

import numpy as np

from exporter.checks import CheckName
from exporter.components.base import Component, WindowContext
from exporter.config import FeatureQualityConfig, QualityConfig
from exporter.prepare import PreparedBatch
from exporter.reference import Reference
from exporter.results import QualityThreshold, WindowBuilder
from exporter.sketch import FieldSpec, Summary


class FeatureQuality(Component):
    name = "quality"

    def __init__(self, reference: Reference, quality: QualityConfig):
        self.reference = reference
        self.numeric_last_bin = np.array([f.n_bins - 1 for f in reference.numeric], dtype=np.int64)[:, None]
        self.unseen_slot = np.array([c.unseen_slot for c in reference.categorical], dtype=np.int64)[:, None]
        self.thresholds = self._thresholds(quality)
        self.limits = {(q.feature, q.check): q.value for q in self.thresholds}

    def _thresholds(self, q: QualityConfig) -> tuple[QualityThreshold, ...]:
        """Each feature's limit per check: its own (``quality.features``) where given, else the model's rule."""
        out = []

        def limit(feature: str, check: CheckName, own: float | None, default: float) -> None:
            out.append(QualityThreshold(feature, check, default if own is None else own))

        for f in self.reference.numeric:
            own = q.features.get(f.name, FeatureQualityConfig())
            limit(f.name, CheckName.COMPLETENESS, own.missing_ratio,
                  min(1.0, f.missing_ratio + q.missing_ratio_tolerance))
            limit(f.name, CheckName.OUT_OF_RANGE, own.out_of_range_ratio, q.out_of_range_ratio)
            limit(f.name, CheckName.DATA_TYPE, own.type_violation_ratio, q.type_violation_ratio)
        for c in self.reference.categorical:
            own = q.features.get(c.name, FeatureQualityConfig())
            limit(c.name, CheckName.COMPLETENESS, own.missing_ratio,
                  min(1.0, c.missing_ratio + q.missing_ratio_tolerance))
            limit(c.name, CheckName.CATEGORICAL_VALUES, own.new_category_ratio, q.new_category_ratio)
        return tuple(out)

    def fields(self) -> dict[str, FieldSpec]:
        n_num, n_cat = len(self.reference.numeric), len(self.reference.categorical)
        return {
            "num_missing": FieldSpec((n_num,), np.int64),
            "num_invalid": FieldSpec((n_num,), np.int64),
            "num_out_of_range": FieldSpec((n_num,), np.int64),
            "cat_missing": FieldSpec((n_cat,), np.int64),
            "cat_new": FieldSpec((n_cat,), np.int64),
        }

    def summarize(self, batch: PreparedBatch) -> Summary:
        f = batch.features
        index = f.num_index
        return {
            "num_missing": f.num_missing.sum(axis=1).astype(np.int64),
            "num_invalid": f.num_invalid.sum(axis=1).astype(np.int64),
            "num_out_of_range": ((index == 0) | (index == self.numeric_last_bin)).sum(axis=1).astype(np.int64),
            "cat_missing": (f.cat_index < 0).sum(axis=1).astype(np.int64),
            "cat_new": (f.cat_index == self.unseen_slot).sum(axis=1).astype(np.int64),
        }

    def evaluate(self, merged: Summary, ctx: WindowContext, out: WindowBuilder) -> None:
        rows = ctx.rows

        def ratios(counts: np.ndarray) -> list[float]:
            return (counts / rows).tolist() if rows else [0.0] * counts.size

        missing = ratios(merged["num_missing"])
        invalid = ratios(merged["num_invalid"])
        outside = ratios(merged["num_out_of_range"])
        for i, feature in enumerate(self.reference.numeric):
            out.feature(feature.name, kind="numeric", missing_ratio=missing[i], type_violation_ratio=invalid[i],
                        out_of_range_ratio=outside[i])
            if rows:
                self._verdict(out, feature.name, CheckName.COMPLETENESS, missing[i])
                self._verdict(out, feature.name, CheckName.OUT_OF_RANGE, outside[i])
                self._verdict(out, feature.name, CheckName.DATA_TYPE, invalid[i])
        missing = ratios(merged["cat_missing"])
        new = ratios(merged["cat_new"])
        for j, cat in enumerate(self.reference.categorical):
            out.feature(cat.name, kind="categorical", missing_ratio=missing[j], type_violation_ratio=0.0,
                        new_category_ratio=new[j])
            if rows:
                self._verdict(out, cat.name, CheckName.COMPLETENESS, missing[j])
                self._verdict(out, cat.name, CheckName.CATEGORICAL_VALUES, new[j])

    def _verdict(self, out: WindowBuilder, feature: str, check: CheckName, ratio: float) -> None:
        limit = self.limits[(feature, check)]
        if ratio > limit:  # a check compared with an exported threshold records only its failures
            out.verdict(check, ratio, limit, True, (("feature", feature),))

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
