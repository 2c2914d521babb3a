"""Pushdown: the database computes the features' per-bucket bin counts; only narrow rows are fetched.

With ``sql.pushdown: true`` each batch of new rows is read in two queries, in one transaction
(REPEATABLE READ on PostgreSQL, so both see the same rows):

1. the *narrow rows*: timestamp, id and the columns that are not features (prediction, score,
   label, latency, error, class scores, segments), in (timestamp, id) order, as the row path reads
   them. They give everything that needs rows: volume, prediction drift, realized and estimated
   performance, the label join, duplicates, latency and errors, segments.
2. one aggregation over the same range (:meth:`Aggregation.statement`): per time group, segment
   values and feature bin, the number of rows (numeric features: and the sum of their values)::

       WITH batch AS (SELECT <group> AS g, <segments>, <bin of each numeric feature>, <its value>,
                             <each categorical feature as text> FROM <source> WHERE <range>)
       SELECT g, <segments>, 0 AS feature, b0 AS bin, NULL AS value, COUNT(*), SUM(v0) FROM batch GROUP BY ...
       UNION ALL ...                                     -- one branch per feature

   A numeric bin is a nested CASE that bisects the reference's edges (about log2(200) = 8
   comparisons per value); NULL and NaN count as missing, infinities as invalid (the row path's
   rules). Categories and segment values come back as text and are mapped to slots by the same
   functions the row path uses. The time group of a row is a nested CASE over the first
   timestamp of each group, *as the database returned it* in the narrow rows, so rows fall in
   exactly the buckets the row path gives them, whatever the column's type.

Plain CASE, CAST, COUNT, SUM, UNION ALL and a CTE: PostgreSQL, SQLite, Trino, Spark SQL and
ClickHouse all accept this shape. The components turn the counts into their fields with the same
code as for rows (:class:`exporter.prepare.rows.FeatureHistograms`), so the metrics are those of the row
path. A batch in which the row path would reject rows inside the range (a duplicate id) is read
as full rows instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from exporter.baseline.features import feature_codes
from exporter.baseline.reference import Reference
from exporter.components import Component, FromHistograms, namespaced
from exporter.config import ModelConfig, role_columns
from exporter.prepare.dedup import RecentIds
from exporter.prepare.preparer import PreparedBatch, Preparer
from exporter.prepare.rows import FeatureHistograms, Rejections
from exporter.prepare.segments import segment_codes
from exporter.values.missing import MissingTokens
from exporter.values.timestamps import parse_timestamps
from exporter.values.vocabulary import SchemaCheck
from exporter.windows.store import WindowStore

if TYPE_CHECKING:
    from exporter.monitor.sources import Source
    from exporter.sources.sql import SqlBatch, SqlSource
    from exporter.windows.ring import Ring

MISSING, INVALID = -1, -2


def narrow_columns(config: ModelConfig) -> list[str]:
    """The columns read as rows under pushdown: everything the model reads but its features."""
    return list(role_columns(config))


def _at_most(value: Any, thresholds: Sequence[Any], array: Any = None) -> Any:
    """How many of the sorted ``thresholds`` are <= ``value``: PostgreSQL's ``width_bucket(value, array)``
    (a binary search in C) when the thresholds' SQL ``array`` type is given, else a nested CASE that
    bisects them (about log2(len) comparisons; any SQL database)."""
    import sqlalchemy as sa

    if array is not None:
        return sa.func.width_bucket(value, sa.literal(list(thresholds), array), type_=sa.Integer)

    def search(lo: int, hi: int) -> Any:
        if lo == hi:
            return sa.literal_column(str(lo), sa.Integer)
        mid = (lo + hi) // 2
        return sa.case((value < thresholds[mid], search(lo, mid)), else_=search(mid + 1, hi))

    return search(0, len(thresholds))


def numeric_bin(value: Any, edges: np.ndarray, postgres: bool, declared_missing: Any = None) -> Any:
    """The layout bin of :func:`exporter.stats.binning.bin_index` in SQL; -1 missing (NULL, NaN, or
    ``declared_missing``: the feature's ``missing_values``), -2 invalid (inf).

    ``bin_index`` counts the edges <= v, except that the maximum itself is in the last inner bin:
    that is the count of the inner edges (all but the last) <= v, plus one above the maximum.
    """
    import sqlalchemy as sa

    thresholds = [float(e) for e in edges[:-1]] + [float(np.nextafter(edges[-1], np.inf))]
    if postgres:
        from sqlalchemy.dialects.postgresql import ARRAY

        search = _at_most(value, thresholds, ARRAY(sa.Double))
    else:
        search = _at_most(value, [sa.literal(t, sa.Double) for t in thresholds])
    # NaN is missing and infinities are invalid, as in the row path (PostgreSQL's NaN equals itself).
    nan = value == sa.literal(float("nan"), sa.Double) if postgres else value != value
    infinite = sa.or_(value == sa.literal(float("inf"), sa.Double), value == sa.literal(float("-inf"), sa.Double))
    declared = () if declared_missing is None else ((declared_missing, MISSING),)
    return sa.case((value.is_(None), MISSING), *declared, (nan, MISSING), (infinite, INVALID), else_=search)


def declared_missing(column: Any, value: Any, missing: MissingTokens) -> Any:
    """Where a feature's column holds one of its ``missing_values`` (:mod:`exporter.values.missing`): its text
    equal to a token, or its number equal to a numeric token; None without tokens."""
    import sqlalchemy as sa

    if not missing:
        return None
    conditions = [sa.cast(column, sa.String).in_(sorted(missing.text))]
    if missing.numbers:
        conditions.append(value.in_([sa.literal(number, sa.Double) for number in sorted(missing.numbers)]))
    return sa.or_(*conditions)


@dataclass
class Groups:
    """The time groups of a batch's accepted rows: rows of a group share their bucket in every ring."""

    #: Position (among the accepted rows) where each group starts.
    starts: np.ndarray
    #: Each group's bucket in each ring (-1 where the bucket is no longer live in that ring).
    buckets: list[list[int]]


def time_groups(ts: np.ndarray, rings: list[Ring], now: float) -> Groups:
    """Split sorted epoch seconds ``ts`` where any ring's live bucket changes (as the window store groups rows)."""
    ids = []
    for ring in rings:
        bucket = ring.buckets_at(ts, now)
        ids.append(np.where(bucket >= ring.oldest_live_bucket(now), bucket, -1))
    stacked = np.stack(ids, axis=1) if ids else np.zeros((ts.size, 0), dtype=np.int64)
    change = np.ones(ts.size, dtype=bool)
    if ts.size > 1:
        change[1:] = (stacked[1:] != stacked[:-1]).any(axis=1)
    starts = np.flatnonzero(change)
    return Groups(starts, stacked[starts].tolist())


class Aggregation:
    """The aggregation statement of one model, and the reading of its result into histograms."""

    def __init__(self, reference: Reference, segments: dict[str, tuple[str, ...]], num_bins: int, cat_bins: int,
                 postgres: bool):
        self.reference = reference
        self.segments = segments
        self.num_bins = num_bins
        self.cat_bins = cat_bins
        self.postgres = postgres

    def statement(self, source: Any, where: Any, ts: Any, group_thresholds: Sequence[Any]) -> Any:
        import sqlalchemy as sa

        ref = self.reference
        if self.postgres and group_thresholds:
            from sqlalchemy.dialects.postgresql import ARRAY

            kind = sa.DateTime(timezone=getattr(group_thresholds[0], "tzinfo", None) is not None) \
                if hasattr(group_thresholds[0], "tzinfo") else sa.Double
            group = _at_most(ts, group_thresholds, ARRAY(kind))
        else:
            group = _at_most(ts, [sa.literal(t) for t in group_thresholds])
        columns = [group.label("g")]
        columns += [sa.cast(sa.column(s), sa.String).label(f"s{k}") for k, s in enumerate(self.segments)]
        for i, feature in enumerate(ref.numeric):
            value = sa.cast(sa.column(feature.name), sa.Double)
            missing = declared_missing(sa.column(feature.name), value, feature.missing_tokens)
            columns += [numeric_bin(value, feature.edges, self.postgres, missing).label(f"b{i}"),
                        value.label(f"v{i}")]
        columns += [sa.cast(sa.column(c.name), sa.String).label(f"c{j}") for j, c in enumerate(ref.categorical)]
        batch = sa.select(*columns).select_from(source).where(where).cte("model_monitor_batch")
        keys = [batch.c.g, *(batch.c[f"s{k}"] for k in range(len(self.segments)))]
        count = sa.func.count().label("n")
        branches = []
        for i in range(len(ref.numeric)):
            branches.append(sa.select(*keys, sa.literal_column(str(i), sa.Integer).label("feature"),
                                      batch.c[f"b{i}"].label("bin"), sa.cast(sa.null(), sa.String).label("value"),
                                      count, sa.func.sum(batch.c[f"v{i}"]).label("total"))
                            .group_by(*keys, batch.c[f"b{i}"]))
        for j in range(len(ref.categorical)):
            feature = len(ref.numeric) + j
            branches.append(sa.select(*keys, sa.literal_column(str(feature), sa.Integer).label("feature"),
                                      sa.cast(sa.null(), sa.Integer).label("bin"), batch.c[f"c{j}"].label("value"),
                                      count, sa.cast(sa.null(), sa.Double).label("total"))
                            .group_by(*keys, batch.c[f"c{j}"]))
        if not branches:  # a model without features: nothing to push down
            return None
        return sa.union_all(*branches) if len(branches) > 1 else branches[0]

    def histograms(self, result: pd.DataFrame, groups: int) -> dict[tuple[int, str], FeatureHistograms]:
        """Per (group, segment key: "" for the whole model), the histograms of the aggregation's ``result``."""
        from exporter.prepare.segments import OTHER, segment_key

        ref = self.reference
        n_num, n_cat = len(ref.numeric), len(ref.categorical)
        seg_names = list(self.segments)
        seg_frame = pd.DataFrame({name: result[f"s{k}"] for k, name in enumerate(seg_names)})
        codes = segment_codes(self.segments, seg_frame)
        # Every result row adds to its group's whole-model histograms and to one segment per column.
        targets: list[np.ndarray] = [np.zeros(len(result), dtype=np.int64)]
        names = [""]
        for name in seg_names:
            kept = self.segments[name]
            offset = len(names)
            names += [segment_key(name, kept[k] if k < len(kept) else OTHER) for k in range(len(kept) + 1)]
            targets.append(offset + codes[name])
        n_keys = len(names)
        num_counts = np.zeros((groups, n_keys, n_num, self.num_bins), dtype=np.int64)
        num_sums = np.zeros((groups, n_keys, n_num, self.num_bins))
        num_missing = np.zeros((groups, n_keys, n_num), dtype=np.int64)
        num_invalid = np.zeros((groups, n_keys, n_num), dtype=np.int64)
        cat_counts = np.zeros((groups, n_keys, n_cat, self.cat_bins), dtype=np.int64)
        cat_missing = np.zeros((groups, n_keys, n_cat), dtype=np.int64)

        g = result["g"].to_numpy(dtype=np.int64)
        feature = result["feature"].to_numpy(dtype=np.int64)
        n = result["n"].to_numpy(dtype=np.int64)
        numeric = feature < n_num
        b = result["bin"].to_numpy(dtype=np.float64, na_value=-3).astype(np.int64)
        total = result["total"].to_numpy(dtype=np.float64, na_value=0.0)
        slot = np.full(len(result), MISSING, dtype=np.int64)
        for j, cat in enumerate(ref.categorical):
            rows = np.flatnonzero(feature == n_num + j)
            if rows.size:
                slot[rows] = feature_codes(result["value"].iloc[rows].reset_index(drop=True), cat)
        for key in targets:
            binned = numeric & (b >= 0)
            np.add.at(num_counts, (g[binned], key[binned], feature[binned], b[binned]), n[binned])
            np.add.at(num_sums, (g[binned], key[binned], feature[binned], b[binned]), total[binned])
            for code, out in ((MISSING, num_missing), (INVALID, num_invalid)):
                rows = numeric & (b == code)
                np.add.at(out, (g[rows], key[rows], feature[rows]), n[rows])
            cats = ~numeric & (slot >= 0)
            np.add.at(cat_counts, (g[cats], key[cats], feature[cats] - n_num, slot[cats]), n[cats])
            gone = ~numeric & (slot < 0)
            np.add.at(cat_missing, (g[gone], key[gone], feature[gone] - n_num), n[gone])
        present = np.zeros((groups, n_keys), dtype=bool)
        for key in targets:
            present[g, key] = True
        return {(gi, names[k]): FeatureHistograms(num_counts[gi, k], num_sums[gi, k], num_missing[gi, k],
                                                  num_invalid[gi, k], cat_counts[gi, k], cat_missing[gi, k])
                for gi in range(groups) for k in range(n_keys) if present[gi, k]}


def accepted_positions(frame: pd.DataFrame, ts_column: str, unit: str, accepted: np.ndarray) -> np.ndarray | None:
    """Positions in the narrow ``frame`` of the rows the row path accepted (epoch seconds ``accepted``).

    The row path rejects rows by time only (too old, in the future), so in (timestamp, id) order the
    accepted rows are those between the first and the last accepted timestamp. None when the epoch
    seconds do not increase with the database's order (mixed epoch units): the batch is then read as rows.
    """
    seconds = parse_timestamps(frame[ts_column], unit)
    if seconds.size > 1 and (np.isnan(seconds).any() or (np.diff(seconds) < 0).any()):
        return None
    if not accepted.size:
        return np.zeros(0, dtype=np.intp)
    positions = np.flatnonzero((seconds >= accepted.min()) & (seconds <= accepted.max()))
    return positions if positions.size == accepted.size else None


class PushdownIngest:
    """The pushdown ingest of a model's monitor (a base of :class:`~exporter.monitor.model.ModelMonitor`): narrow
    rows go through preparation as rows do, and the database's per-bucket feature histograms go straight to the
    windows of the components that summarise from histograms (:class:`~exporter.components.FromHistograms`)."""

    config: ModelConfig
    reference: Reference
    segments: dict[str, tuple[str, ...]]
    components: list[Component]
    preparer: Preparer
    label_source: Source | None
    recent_ids: RecentIds
    store: WindowStore
    aggregation: Aggregation | None

    def ingest(self, frame: pd.DataFrame, now: float) -> int:
        raise NotImplementedError

    def _accept(self, batch: PreparedBatch, issues: Rejections, frame: pd.DataFrame, now: float,
                skip: frozenset[str] = frozenset(), no_duplicates: bool = False) -> int:
        raise NotImplementedError

    def _once(self, key: object, message: str, *args: object) -> None:
        raise NotImplementedError

    def _pushdown(self, source: SqlSource) -> Callable[[Any, Any, Any], Any]:
        """Set ``source`` up to read narrow rows; the aggregation statement's builder (see
        :mod:`exporter.monitor.pushdown`)."""
        self.aggregation = Aggregation(self.reference, self.segments, self.reference.num_bins,
                                       self.reference.cat_bins, source.postgres)
        source.narrow_names = narrow_columns(self.config)
        aggregation = self.aggregation
        return lambda from_, where, ts: aggregation.statement(from_, where, ts, [])

    def ingest_pushdown(self, batch: SqlBatch, now: float) -> int:
        """Ingest narrow rows and the database's aggregation of their features (identical to :meth:`ingest` on
        the full rows, which a batch falls back to when the row path would reject rows inside it)."""
        assert self.aggregation is not None
        frame = batch.frame
        prepared, issues = self.preparer.prepare(frame, now, with_ids=self.label_source is not None, features=False)
        positions = accepted_positions(frame, self.config.predictions.timestamp_column,
                                       self.config.predictions.timestamp_unit, prepared.ts)
        duplicates = prepared.id_hashes is not None and prepared.id_present is not None and \
            bool(self.recent_ids.find(prepared.id_hashes, prepared.id_present).any())
        if positions is None or duplicates:
            self._once(("pushdown-rows", positions is None), "model %s: a batch is read as full rows instead of "
                       "pushed down (%s)", self.config.name, "duplicate ids" if duplicates else
                       "timestamps out of order after conversion")
            return self.ingest(batch.full_rows(), now)
        if positions.size:
            groups = time_groups(prepared.ts, list(self.store.rings[""].values()), now)
            thresholds = [batch.native(int(positions[start])) for start in groups.starts[1:]]
            aggregation = self.aggregation
            result = batch.aggregate(lambda from_, where, ts: aggregation.statement(from_, where, ts, thresholds),
                                     int(positions[0]), int(positions[-1]))
            fields = self._from_histograms()
            for (group, segment), histograms in aggregation.histograms(result, len(groups.starts)).items():
                summary: dict[str, np.ndarray] = {}
                for component in fields:
                    summary.update(namespaced(component, component.summarize_histograms(histograms)))
                self.store.add_summary(segment, groups.buckets[group], summary, now)
                if not segment:
                    for i, feature in enumerate(self.reference.numeric):
                        if histograms.num_invalid[i]:
                            issues.violations[(SchemaCheck.DATA_TYPE, feature.name)] += int(histograms.num_invalid[i])
        skip = frozenset(component.name for component in self._from_histograms())
        return self._accept(prepared, issues, frame, now, skip=skip, no_duplicates=True)

    def _from_histograms(self) -> list[FromHistograms]:
        return [component for component in self.components if isinstance(component, FromHistograms)]
