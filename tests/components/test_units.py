"""The units of the monitor, each without files or a running exporter: a component, the label join,
the window store."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from exporter.baseline.features import build_numeric
from exporter.baseline.reference import Reference
from exporter.baseline.target_spec import build_targets
from exporter.components import PerformanceBaseline, build_components
from exporter.components.drift import FeatureDrift
from exporter.prepare.label_join import LabelJoiner
from exporter.prepare.preparer import Preparer
from exporter.stats.binning import bin_index
from exporter.stats.methods.ks import ks_statistic
from exporter.windows.store import WindowStore
from tests.helpers import model_config, reference_for, reference_frame

NOW = 1_800_000_000.0


def test_ks_of_all_features_at_once_equals_each_alone() -> None:
    rng = np.random.default_rng(0)
    features = tuple(build_numeric(f"f{i}", pd.Series(rng.normal(0, 1, 3000) if i % 2 else
                                                      rng.integers(0, 7, 3000).astype(float)), "ks", 0.1)
                     for i in range(6))
    component = FeatureDrift(Reference(features, (), 3000), 0.5)
    counts = np.zeros((6, component.num_bins), dtype=np.int64)
    for i, feature in enumerate(features):
        counts[i, : feature.n_bins] = np.bincount(bin_index(feature.edges, rng.normal(0.2, 1, 500)),
                                                  minlength=feature.n_bins)
    together = component._ks_scores(counts)
    for i, feature in enumerate(features):
        assert together[i] == ks_statistic(feature.reference_counts, counts[i, : feature.n_bins])


def _units(tmp_path: Path):
    config = model_config(tmp_path, labels={"path": str(tmp_path / "labels" / "*.jsonl"), "id_column": "id",
                                            "label_column": "label"}, label_column=None)
    reference = reference_for(config)
    spec = build_targets(config, reference_frame())
    baseline = PerformanceBaseline(0.05)
    components = build_components(config, reference, spec, baseline)
    store = WindowStore(components, tuple(config.windows), config.window_buckets, {})
    return config, Preparer(config, reference, spec, {}, 3600.0), store


def _frame(ts: float, ids: list[str]) -> pd.DataFrame:
    rng = np.random.default_rng(len(ids))
    return pd.DataFrame({"ts": ts, "id": ids, "age": rng.normal(40, 10, len(ids)), "income": 5e4,
                         "country": "US", "score": rng.random(len(ids)), "prediction": 1})


def test_the_label_join_gives_each_label_to_its_prediction_once(tmp_path: Path) -> None:
    _config, preparer, _store = _units(tmp_path)
    joiner = LabelJoiner((), max_pending=100, early_retention=600.0, classification=True)
    early, _ = preparer.prepare_labels(pd.DataFrame({"id": ["p1"], "label": [1]}))
    assert joiner.on_labels(early, NOW - 50, Counter()) is None  # p1 not logged yet: it waits
    batch, _ = preparer.prepare(_frame(NOW - 100, ["p0", "p1", "p2"]), NOW, with_ids=True)
    joiner.on_predictions(batch)
    assert batch.outputs.label.tolist() == [-1, 1, -1]  # the early label found its prediction
    assert batch.label_delay[1] == 50.0
    assert joiner.waiting() == (2, 0)
    rejected: Counter[str] = Counter()
    late, _ = preparer.prepare_labels(pd.DataFrame({"id": ["p0", None, "p2", "p2"], "label": [0, 1, None, 1]}))
    rows = joiner.on_labels(late, NOW, rejected)
    assert rows is not None and len(rows) == 2
    assert rows.outputs.label.tolist() == [0, 1] and rows.label_delay.tolist() == [100.0, 100.0]
    assert rejected == {"missing_id": 1, "missing_label": 1}
    assert joiner.waiting() == (0, 0)
    joiner.on_predictions(preparer.prepare(_frame(NOW - 3000, ["old"]), NOW, with_ids=True)[0])
    assert joiner.expire(NOW, max_delay=600.0) and joiner.dropped["prediction_expired"] == 1


def test_the_window_store_puts_rows_and_late_labels_in_their_buckets(tmp_path: Path) -> None:
    _config, preparer, store = _units(tmp_path)
    joiner = LabelJoiner((), 100, 600.0, True)
    batch, _ = preparer.prepare(pd.concat([_frame(NOW - 10, [f"a{i}" for i in range(40)]),
                                           _frame(NOW - 1800, [f"b{i}" for i in range(25)])]), NOW, with_ids=True)
    joiner.on_predictions(batch)
    store.add_predictions(batch, NOW)
    merged = {window: fields for _, window, fields in store.merged(NOW)}
    assert merged["5m"]["volume/rows"] == 40 and merged["1h"]["volume/rows"] == 65
    labels, _ = preparer.prepare_labels(pd.DataFrame({"id": [f"b{i}" for i in range(25)], "label": 1}))
    store.add_labels(joiner.on_labels(labels, NOW, Counter()), NOW)
    merged = {window: fields for _, window, fields in store.merged(NOW)}
    assert merged["5m"]["volume/labelled"] == 0  # the labels belong to predictions 30 minutes old
    assert merged["1h"]["volume/labelled"] == 25
    assert merged["1h"]["classification/confusion"][1].sum() == 25
    assert merged["1h"]["label_delay/counts"].sum() == 25
