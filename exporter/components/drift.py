"""Feature drift: each feature's binned distribution against the reference, and the share that drifted."""

from __future__ import annotations

from typing import Any

import numpy as np

from exporter.baseline import drift
from exporter.baseline.features import CategoricalFeature, NumericFeature
from exporter.baseline.reference import Reference
from exporter.components.base import Component, WindowContext
from exporter.prepare.preparer import PreparedBatch
from exporter.prepare.rows import FeatureHistograms
from exporter.summary.results import Distribution, DriftResult, Threshold, WindowBuilder
from exporter.summary.sketch import FieldSpec, Groups, Summary
from exporter.values.vocabulary import CheckName


class FeatureDrift(Component):
    name = "drift"

    def __init__(self, reference: Reference, dataset_share: float):
        self.reference = reference
        self.dataset_share = dataset_share
        self.num_bins = reference.num_bins
        self.cat_bins = reference.cat_bins
        # KS of every ks feature at once: the reference CDFs, padded with 1 beyond each feature's bins.
        self.ks_rows = np.array([i for i, f in enumerate(reference.numeric) if f.method == "ks" and f.usable],
                                dtype=np.intp)
        self.ks_reference = np.ones((self.ks_rows.size, self.num_bins))
        for row, i in enumerate(self.ks_rows.tolist()):
            counts = reference.numeric[i].reference_counts
            self.ks_reference[row, : counts.size] = np.cumsum(counts / counts.sum())

        # The report's bins, named once: (names, reference shares) per feature.
        self._bins: dict[str, tuple[tuple[str, ...], np.ndarray]] = {
            f.name: (numeric_bin_names(f), _shares(f.coarse(f.reference_counts))) for f in reference.numeric}
        self._bins.update({c.name: ((*c.categories, "(other reference values)", "(new)"), _shares(c.reference_counts))
                           for c in reference.categorical})

    def fields(self) -> dict[str, FieldSpec]:
        n_num, n_cat = len(self.reference.numeric), len(self.reference.categorical)
        return {
            "num_counts": FieldSpec((n_num, self.num_bins), np.int64),
            "num_sums": FieldSpec((n_num, self.num_bins), np.float64),
            "cat_counts": FieldSpec((n_cat, self.cat_bins), np.int64),
        }

    def summarize(self, batch: PreparedBatch, groups: Groups) -> Summary:
        return self.summarize_histograms(batch.features.histograms(groups))

    def summarize_histograms(self, h: FeatureHistograms) -> Summary:
        """The fields of rows summarised as per-feature histograms (by the rows, or by the database)."""
        return {"num_counts": h.num_counts, "num_sums": h.num_sums, "cat_counts": h.cat_counts}

    def migrate_v1(self, old: Summary) -> Summary:
        """Release 1 had one slot for every untracked value: exact only when the reference had none."""
        cat_counts = np.zeros((*old["cat_counts"].shape[:2], self.cat_bins), dtype=np.int64)
        for j, cat in enumerate(self.reference.categorical):
            if cat.reference_counts[cat.other_slot]:
                raise ValueError(f"{cat.name!r} has more reference values than max_categories")
            k = len(cat.categories)
            cat_counts[:, j, :k] = old["cat_counts"][:, j, :k]
            cat_counts[:, j, cat.unseen_slot] = old["cat_counts"][:, j, k]
        return {"num_counts": old["num_counts"], "num_sums": old["num_sums"], "cat_counts": cat_counts}

    def _ks_scores(self, counts: np.ndarray) -> dict[int, float]:
        """KS of every ks feature in one pass (as :func:`exporter.stats.drift_statistics.ks_statistic`, row by row)."""
        if not self.ks_rows.size:
            return {}
        window = counts[self.ks_rows].astype(np.float64)
        totals = window.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            cdf = np.cumsum(window / totals[:, None], axis=1)
        scores = np.minimum(1.0, np.abs(self.ks_reference - cdf).max(axis=1))
        return {int(i): float(s) for i, s, total in zip(self.ks_rows, scores, totals, strict=True) if total > 0}

    def evaluate(self, merged: Summary, ctx: WindowContext, out: WindowBuilder) -> None:
        verdicts: list[bool] = []
        ks = self._ks_scores(merged["num_counts"]) if ctx.rows >= ctx.min_rows else {}
        for i, feature in enumerate(self.reference.numeric):
            counts = merged["num_counts"][i]
            n = int(counts.sum())
            if feature.usable and ctx.rows >= ctx.min_rows and n >= ctx.min_rows:
                score = ks[i] if i in ks else drift.numeric_score(feature, counts, merged["num_sums"][i])
                verdicts.append(self._result(out, feature, score, n, counts))
        for j, cat in enumerate(self.reference.categorical):
            counts = merged["cat_counts"][j]
            n = int(counts[: cat.n_bins].sum())
            if cat.usable and ctx.rows >= ctx.min_rows and n >= ctx.min_rows:
                score = drift.categorical_score(cat, counts)
                verdicts.append(self._result(out, cat, score, n, counts))
        if not ctx.segment:
            self._distributions(merged, out)
        if verdicts:
            share = sum(verdicts) / len(verdicts)
            dataset = share >= self.dataset_share
            out.set(drifted_ratio=share, dataset_drifted=dataset)
            out.verdict(CheckName.DATASET_DRIFT, share, self.dataset_share, dataset)

    def _distributions(self, merged: Summary, out: WindowBuilder) -> None:
        """Each feature's window and reference shares per bin (numeric: the coarse bins), for the report."""
        for i, feature in enumerate(self.reference.numeric):
            if feature.usable:
                names, reference = self._bins[feature.name]
                out.feature(feature.name, distribution=Distribution(
                    names, reference, merged["num_counts"][i][: feature.n_bins], feature.coarse_starts))
        for j, cat in enumerate(self.reference.categorical):
            if cat.usable:
                names, reference = self._bins[cat.name]
                counts = merged["cat_counts"][j][: cat.n_bins]
                out.feature(cat.name, distribution=Distribution(names, reference, counts))

    @staticmethod
    def _result(out: WindowBuilder, feature: NumericFeature | CategoricalFeature, score: float, n: int,
                counts: np.ndarray) -> bool:
        """The verdict on one feature, against its fixed threshold or the calibrated one for ``n`` values."""
        method = feature.method
        threshold, drifted = drift.judge(feature, score, n, counts)
        out.feature(feature.name, drift=DriftResult(method, score, threshold, drifted))
        out.verdict(CheckName.FEATURE_DRIFT, score, threshold, drifted, (("feature", feature.name),),
                    (("method", method),))
        return drifted

    def snapshot_fields(self) -> dict[str, Any]:
        features = [*self.reference.numeric, *self.reference.categorical]
        return {"thresholds": tuple(Threshold(f.name, f.method, f.threshold) for f in features if f.usable),
                "dataset_drift_share": self.dataset_share}


def numeric_bin_names(feature: NumericFeature) -> tuple[str, ...]:
    """Names of a numeric feature's coarse bins: below the reference min, value ranges (or values), above its max."""
    edges, starts = feature.edges, feature.coarse_starts.tolist()
    ends = [*starts[1:], feature.n_bins]
    names = []
    for start, end in zip(starts, ends, strict=True):
        if start == 0:
            names.append(f"< {edges[0]:.4g}")
        elif start == feature.n_bins - 1:
            names.append(f"> {edges[-1]:.4g}")
        elif end - start == 1 and edges[start] == np.nextafter(edges[start - 1], np.inf):  # one discrete value
            names.append(f"{edges[start - 1]:.4g}")
        else:
            closing = "]" if end == feature.n_bins - 1 else ")"  # the last inner bin holds the reference max
            names.append(f"[{edges[start - 1]:.4g}, {edges[end - 1]:.4g}{closing}")
    return tuple(names)


def _shares(counts: np.ndarray) -> np.ndarray:
    return counts / max(1, int(counts.sum()))
