"""Saved state: each unit's part comes back, and a release-1 state file migrates with nothing lost."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from exporter.baseline.files import Baseline
from exporter.components import Component
from exporter.config import load_config
from exporter.monitor.building import baseline_of_reference, build_monitor
from exporter.monitor.layout import performance_baseline
from exporter.monitor.model import ModelMonitor
from exporter.publish.exposition import build_families, families_as_json
from exporter.state import store as state
from exporter.summary.sketch import FieldSpec
from exporter.values.vocabulary import RejectReason

FIXTURE = Path(__file__).parents[1] / "fixtures" / "state-v1"
NOW = 1_800_000_000.0  # the fixture's clock (see make_state_v1.py)
VOLATILE = {"model_monitor_last_success_timestamp_seconds", "model_monitor_last_run_duration_seconds"}
#: The rejection reasons release 1 exposed at 0; this release creates a zero series for every reason.
RELEASE_1_REASONS = {"malformed_json", "malformed_csv", "missing_timestamp", "bad_timestamp", "future_timestamp",
                     "too_old", "duplicate_id", "unreadable_file", "ingest_error"}
NEW_ZERO_REASONS = {str(r) for r in RejectReason} - RELEASE_1_REASONS


def _samples(monitor: ModelMonitor) -> list[dict]:
    snapshot = monitor.update(now=NOW, persist=False)
    return [m for m in families_as_json(build_families([snapshot])) if m["name"] not in VOLATILE]


def _key(sample: dict) -> str:
    return json.dumps([sample["name"], sorted(sample["labels"].items())])


@pytest.fixture()
def v1_folder(tmp_path: Path) -> Path:
    for name in ("config.yaml", "reference.parquet"):
        shutil.copy(FIXTURE / name, tmp_path / name)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "fraud.state.npz").write_bytes(gzip.decompress((FIXTURE / "fraud.state.npz.gz").read_bytes()))
    (tmp_path / "logs").mkdir()  # the logs themselves are not part of the fixture: nothing new to read
    (tmp_path / "labels").mkdir()
    return tmp_path


def _monitor(folder: Path) -> ModelMonitor:
    config = load_config(folder / "config.yaml")
    return build_monitor(config.models[0], config.state_dir)


#: The fixture's baseline, read from its reference once: every fuzzed state file is opened by a monitor of it.
_BASE: list[Baseline] = []


def _monitor_of_fixture(folder: Path) -> ModelMonitor:
    """:func:`_monitor` of a folder holding the fixture's config and reference, without reading the reference
    again (the monitor is built from the same baseline, as from a baseline file)."""
    config = load_config(folder / "config.yaml")
    model = config.models[0]
    if not _BASE:
        _BASE.append(baseline_of_reference(model))
    base = _BASE[0]
    return ModelMonitor(model, base.reference, config.state_dir, base.spec, base.segments,
                        performance_baseline(model, base))


def test_release_1_state_migrates_with_nothing_lost(v1_folder: Path) -> None:
    expected = {_key(m): m["value"] for m in json.loads((FIXTURE / "expected.json").read_text())}
    v1_meta, _ = state.load(v1_folder / "state" / "fraud.state.npz")
    monitor = _monitor(v1_folder)
    assert monitor.counters.errors.get("state", 0) == 0, "the release-1 file was not accepted"
    assert set(monitor.source.cursors) == set(v1_meta["cursors"])
    assert monitor.joiner.waiting() == (800, 1)
    got = {_key(m): m["value"] for m in _samples(monitor)}
    added = {k for k in got.keys() - expected.keys()}
    # Release 3 added the data_type check: its threshold series are new, one per numeric feature.
    data_type = {k for k in added if json.loads(k)[0] == "model_data_quality_threshold_ratio"
                 and dict(json.loads(k)[1])["check"] == "data_type"}
    assert data_type and all(got[k] == 0.01 for k in data_type)
    # ... and the drift threshold in force per window. The fixture's config sets no threshold, which
    # release 3 calibrates to each window's size: never below the fixed part (the minimum effect).
    in_force = {k for k in added if json.loads(k)[0] == "model_feature_drift_window_threshold"}
    outputs = {k for k in added if json.loads(k)[0] == "model_prediction_drift_window_threshold"}
    assert outputs and all(got[k] > 0 for k in outputs)
    floor = {(labels["feature"], labels["method"]): value for name, labels, value in
             ((json.loads(k)[0], dict(json.loads(k)[1]), v) for k, v in got.items())
             if name == "model_feature_drift_threshold"}
    assert in_force and all(got[k] >= floor[dict(json.loads(k)[1])["feature"], dict(json.loads(k)[1])["method"]]
                            for k in in_force)
    # ... and the data-quality limits in force per window: at least the model-wide limits.
    quality = {k for k in added if json.loads(k)[0] == "model_data_quality_window_threshold_ratio"}
    static = {(labels["feature"], labels["check"]): value for name, labels, value in
              ((json.loads(k)[0], dict(json.loads(k)[1]), v) for k, v in got.items())
              if name == "model_data_quality_threshold_ratio"}
    assert quality and all(got[k] >= static[dict(json.loads(k)[1])["feature"], dict(json.loads(k)[1])["check"]]
                           for k in quality)
    # ... and the performance thresholds in force per window: at most the large-window thresholds.
    perf = {k for k in added if json.loads(k)[0] in ("model_performance_window_threshold",
                                                      "model_estimated_performance_window_threshold")}
    large = {dict(json.loads(k)[1])["metric"]: v for k, v in got.items()
             if json.loads(k)[0] == "model_performance_threshold"}
    assert perf and all(got[k] <= large[dict(json.loads(k)[1])["metric"]] for k in perf)
    # ... and the impact of each feature's drift (no history yet: importance x score over threshold).
    impact = {k for k in added if json.loads(k)[0] == "model_feature_drift_impact"}
    assert impact and all(got[k] > 0 for k in impact)
    # Release 4 watches the labels' drift: its model-wide threshold is new. A release-1 ring held no label
    # counts, so the migrated buckets start them at zero and no window has a label-drift score yet.
    label_drift = {k for k in added if json.loads(k)[0] == "model_label_drift_threshold"}
    assert len(label_drift) == 1 and all(got[k] > 0 for k in label_drift)
    assert not any(json.loads(k)[0] == "model_label_drift_score" for k in got)
    # ... and the classifier's confidence: its drift threshold and the low-confidence limit are new, model-wide;
    # the migrated buckets hold no confidence counts, so no window has its drift or unsure share yet.
    confidence = {k for k in added if json.loads(k)[0] == "model_low_confidence_threshold"
                  or dict(json.loads(k)[1]).get("output") == "confidence"}
    assert {json.loads(k)[0] for k in confidence} == {"model_low_confidence_threshold",
                                                       "model_prediction_drift_threshold"}
    assert not any(json.loads(k)[0] == "model_low_confidence_ratio" for k in got)
    # ... and multivariate drift: the reference's mean reconstruction error; no window has a score yet.
    multivariate = {k for k in added if json.loads(k)[0] == "model_multivariate_reference_error"}
    assert len(multivariate) == 1 and all(got[k] > 0 for k in multivariate)
    assert not any(json.loads(k)[0] == "model_multivariate_drift_score" for k in got)
    # Release 5 measures specificity and average precision (realized and estimated, with their reference values and
    # thresholds), the sampling error of every metric a window has, and the confusion matrices.
    specificity = {k for k in added if dict(json.loads(k)[1]).get("metric") in ("specificity", "average_precision")}
    for metric in ("specificity", "average_precision"):
        assert {json.loads(k)[0] for k in specificity if dict(json.loads(k)[1])["metric"] == metric} >= {
            "model_performance", "model_estimated_performance", "model_reference_performance",
            "model_performance_threshold"}
    confusion = {k for k in added if json.loads(k)[0] == "model_confusion_matrix"}
    assert {dict(json.loads(k)[1])["kind"] for k in confusion} == {"realized", "estimated"}
    sampling = {k for k in added if json.loads(k)[0] == "model_performance_sampling_error"}
    assert {dict(json.loads(k)[1])["kind"] for k in sampling} == {"realized", "estimated"}
    assert all(0 < got[k] < 1 for k in sampling)
    added -= data_type | in_force | outputs | quality | perf | impact | label_drift | confidence | multivariate
    added -= specificity | sampling | confusion
    rejected = [json.loads(k) for k in added if json.loads(k)[0] == "model_monitor_rejected_rows_total"]
    reasons = {dict(labels)["reason"] for _, labels in rejected}
    assert reasons == NEW_ZERO_REASONS
    # Release 3 exports every schema violation the model can count at 0 until it happens.
    violations = {k for k in added if json.loads(k)[0] == "model_data_quality_violations_total"}
    assert {(dict(json.loads(k)[1])["check"], dict(json.loads(k)[1])["feature"]) for k in violations} <= set(
        monitor.violation_keys())
    # Release 4 counts each component's failed evaluations, at 0 for every component from the start.
    component_errors = {dict(json.loads(k)[1])["component"] for k in added
                        if json.loads(k)[0] == "model_monitor_component_errors_total"}
    assert component_errors == {component.name for component in monitor.components}
    assert {json.loads(k)[0] for k in added} == {"model_monitor_rejected_rows_total", "model_monitor_lost_files_total",
                                                 "model_monitor_unread_bytes_total",
                                                 "model_data_quality_violations_total",
                                                 "model_monitor_component_errors_total"}
    assert all(got[k] == 0 for k in added)
    assert expected.keys() <= got.keys()
    # Release 2 estimates Wasserstein more closely from the same counts (docs/concepts/drift.md, its accuracy):
    # those scores and the verdicts that follow from them are recomputed, so their counts are compared below.
    # Release 3 calibrates the thresholds the fixture left unset (release 1 fixed them at 0.1).
    changed = {"model_feature_drift_score", "model_feature_drifted", "model_drifted_features_ratio",
               "model_dataset_drifted", "model_feature_drift_threshold", "model_prediction_drift_threshold",
               "model_prediction_drifted"}
    expected = {k: v for k, v in expected.items() if json.loads(k)[0] not in changed}
    # Counts come back exactly; a statistic over today's wider score bins (ROC AUC, CBPE) may differ in the
    # last bit of a double, from summing a longer array of the same counts.
    assert {k: got[k] for k in expected} == pytest.approx(expected, rel=1e-13, abs=0)
    integral = {k for k, v in expected.items() if isinstance(v, float) and v.is_integer()}
    assert {k: got[k] for k in integral} == {k: expected[k] for k in integral}


def test_release_1_counts_are_migrated_exactly(v1_folder: Path) -> None:
    _, arrays = state.load(v1_folder / "state" / "fraud.state.npz")
    monitor = _monitor(v1_folder)
    for i, segment in enumerate(monitor.store.segment_keys):
        for label, ring in monitor.store.rings[segment].items():
            old = f"ring/{i}/{label}/"
            np.testing.assert_array_equal(ring.ids, arrays[old + "ids"])
            for new_name, old_name in (("drift/num_counts", "num_counts"), ("drift/num_sums", "num_sums"),
                                       ("volume/rows", "rows"), ("volume/labelled", "labelled"),
                                       ("classification/confusion", "confusion"),
                                       ("quality/num_missing", "num_missing"), ("label_delay/counts", "label_delay")):
                np.testing.assert_array_equal(ring.data[new_name], arrays[old + old_name], err_msg=new_name)
            # Score histograms move into today's wider score bins, in the same order.
            auc_old, auc_new = arrays[old + "auc_pos"], ring.data["classification/auc_pos"]
            np.testing.assert_array_equal(auc_new[:, auc_new.any(axis=0)], auc_old[:, auc_old.any(axis=0)])


class _Novel(Component):
    """A component release 1 did not have: its fields are in no release-1 ring."""

    name = "novel"

    def fields(self) -> dict[str, FieldSpec]:
        return {"counts": FieldSpec((3,), np.int64), "sums": FieldSpec((2, 2), np.float64)}


def test_a_component_added_since_release_1_starts_at_zero(v1_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter.monitor import model

    built = model.build_components
    monkeypatch.setattr(model, "build_components", lambda *args: [*built(*args), _Novel()])
    _, arrays = state.load(v1_folder / "state" / "fraud.state.npz")
    monitor = _monitor(v1_folder)
    assert monitor.counters.errors.get("state", 0) == 0, "the release-1 file was refused"
    for i, segment in enumerate(monitor.store.segment_keys):
        for label, ring in monitor.store.rings[segment].items():
            slots = len(arrays[f"ring/{i}/{label}/ids"])
            assert ring.data["novel/counts"].shape == (slots, 3) and not ring.data["novel/counts"].any()
            assert ring.data["novel/sums"].shape == (slots, 2, 2) and not ring.data["novel/sums"].any()
            # ... and the fields release 1 had are migrated as before.
            np.testing.assert_array_equal(ring.data["volume/rows"], arrays[f"ring/{i}/{label}/rows"])


def test_state_round_trips_through_format_2(v1_folder: Path) -> None:
    first = _monitor(v1_folder)
    before = {_key(m): m["value"] for m in _samples(first)}
    first.persist()
    meta, arrays = state.load(first.state_file)
    assert meta["version"] == state.FORMAT_VERSION
    # Every unit saved its own, namespaced part.
    assert {"rings", "sources", "counters", "recent_ids", "labels", "component.service",
            "component.label_delay"} <= set(meta["parts"])
    assert any(name.startswith("rings/0/5m/drift/") for name in arrays)
    second = _monitor(v1_folder)
    assert second.counters.errors.get("state", 0) == 0
    assert {_key(m): m["value"] for m in _samples(second)} == before
    np.testing.assert_array_equal(second.recent_ids.hashes, first.recent_ids.hashes)


def test_state_of_another_layout_is_refused_and_rebuilt(v1_folder: Path) -> None:
    text = (v1_folder / "config.yaml").read_text().replace("- 1h", "- 2h")
    (v1_folder / "config.yaml").write_text(text)
    monitor = _monitor(v1_folder)
    assert monitor.counters.errors["state"] == 1
    assert monitor.counters.predictions_total == 0 and not monitor.source.cursors


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_any_damage_to_the_file_is_a_counted_rebuild(v1_folder: Path, damage: str) -> None:
    path = v1_folder / "state" / "fraud.state.npz"
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(len(damage))
    if damage == "truncate":
        data = data[: len(data) // 3]
    elif damage == "flip":
        for position in rng.integers(0, len(data), 50):
            data[position] ^= 0xFF
    else:
        data = bytearray(rng.bytes(4096))
    path.write_bytes(bytes(data))
    monitor = _monitor(v1_folder)
    assert monitor.counters.errors["state"] == 1
    assert monitor.update(now=NOW, persist=False).errors["state"] == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_fuzzed_state_files_are_always_detected_and_rebuilt(tmp_path_factory, damage, cut) -> None:
    """Random bytes flipped anywhere in a format-2 file, and random cuts: always a counted rebuild, never an
    exception and never a silently wrong restore (a byte the content does not depend on, such as a zip
    header's timestamp, may change and leave a correct restore)."""
    folder = tmp_path_factory.mktemp("fuzz")
    for name in ("config.yaml", "reference.parquet"):
        shutil.copy(FIXTURE / name, folder / name)
    (folder / "logs").mkdir()
    (folder / "labels").mkdir()
    state_file = folder / "state" / "fraud.state.npz"
    if not _PRISTINE:
        (folder / "state").mkdir()
        state_file.write_bytes(gzip.decompress((FIXTURE / "fraud.state.npz.gz").read_bytes()))
        _monitor(folder).persist()  # rewritten in format 2
        _PRISTINE.append(state_file.read_bytes())
        _PRISTINE_SAMPLES.append({_key(m): m["value"] for m in _samples(_monitor(folder))})
    data = bytearray(_PRISTINE[0])
    changed = False
    for position, value in damage:
        index = int(position * len(data))
        changed |= data[index] != value
        data[index] = value
    if cut is not None:
        changed |= int(cut * len(data)) < len(data)
        data = data[: int(cut * len(data))]
    assume(changed)
    state_file.parent.mkdir(exist_ok=True)
    state_file.write_bytes(bytes(data))
    monitor = _monitor_of_fixture(folder)
    if monitor.counters.errors.get("state", 0) == 0:
        assert {_key(m): m["value"] for m in _samples(monitor)} == _PRISTINE_SAMPLES[0]
    else:
        assert monitor.counters.errors["state"] == 1
        assert monitor.counters.predictions_total == 0


_PRISTINE: list[bytes] = []
_PRISTINE_SAMPLES: list[dict] = []


def test_a_state_saved_before_components_were_added_is_read_with_them_at_zero(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A release that adds a component (or a field) reads the state of the release before: every saved field as
    it was, the new ones at zero, nothing read again. A state of another layout is still refused."""
    from exporter.monitor import model
    from tests.helpers import model_config, rows_at, write_jsonl

    now = 1_800_000_000.0
    config = model_config(tmp_path)
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows_at(now - 60, 200))
    state_dir = tmp_path / "state"
    before = build_monitor(config, state_dir)
    assert before.update(now).up
    saved_rows = before.counters.predictions_total
    built = model.build_components
    monkeypatch.setattr(model, "build_components", lambda *args: [*built(*args), _Novel()])
    after = build_monitor(config, state_dir)
    assert after.counters.errors.get("state", 0) == 0, "the state of the release before was refused"
    assert after.counters.predictions_total == saved_rows == 200
    for segment, rings in before.store.rings.items():
        for label, ring in rings.items():
            grown = after.store.rings[segment][label]
            for name, array in ring.data.items():
                np.testing.assert_array_equal(grown.data[name], array, err_msg=name)
            assert not grown.data["novel/counts"].any() and grown.data["novel/counts"].shape[1:] == (3,)
    assert after.update(now + 1).up and after.counters.predictions_total == 200  # nothing read twice
    after.persist()
    again = build_monitor(config, state_dir)
    assert again.counters.errors.get("state", 0) == 0 and again.counters.predictions_total == 200
    # One field fewer than saved (a component removed) is another layout: refused and rebuilt from the logs.
    monkeypatch.setattr(model, "build_components", lambda *args: [c for c in built(*args) if c.name != "quality"])
    fewer = build_monitor(config, state_dir)
    assert fewer.counters.errors["state"] == 1
