"""Reliability: crash safety, hostile input, failing sources, cardinality caps, secured /metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import bcrypt
import numpy as np
import pandas as pd
import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.config import ConfigError, parse_config
from exporter.monitor.building import build_monitor
from exporter.monitor.model import ModelMonitor
from exporter.sources.tables import _is_utf8, parse_csv, parse_jsonl
from exporter.summary.results import ModelSnapshot
from exporter.values.vocabulary import RejectReason
from tests.disks import small_disk
from tests.helpers import (
    model_config,
    reference_frame,
    rows_at,
    scrape,
    self_signed_certificate,
    value_of,
    write_config,
    write_jsonl,
)
from tests.processes import LOOPBACK, Process, free_port, start_exporter, wait_for


def _monitor(tmp: Path, **overrides) -> ModelMonitor:
    return build_monitor(model_config(tmp, **overrides), tmp / "state")


def _overall(snapshot: ModelSnapshot, window: str = "5m"):
    return next(w for w in snapshot.windows if w.window == window and w.segment == "")


# --- crash safety ---------------------------------------------------------------------------------


class Writer:
    """Streams complete JSONL lines with unique ids into rotating files; counts what it wrote."""

    def __init__(self, folder: Path, rows_per_second: int = 3000):
        self.folder = folder
        self.rows_per_second = rows_per_second
        self.written = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rng = np.random.default_rng(1)
        self.folder.mkdir(parents=True, exist_ok=True)
        while not self.stop.wait(0.05):
            n = self.rows_per_second // 20
            now = time.time()
            lines = "".join(json.dumps({"ts": now, "id": f"w{self.written + i}", "age": float(rng.normal(40, 10)),
                                        "income": 50000.0, "country": "US", "score": 0.3, "prediction": 0}) + "\n"
                            for i in range(n))
            with open(self.folder / f"part-{self.written // 20000:04d}.jsonl", "a") as handle:
                handle.write(lines)
            self.written += n


@pytest.mark.integration
def test_sigkill_at_random_points_neither_loses_nor_double_counts(tmp_path: Path) -> None:
    config = model_config(tmp_path)
    data = {"interval": "0.1s", "state_dir": str(tmp_path / "state"),
            "models": [json.loads(config.model_dump_json())]}
    data["models"][0]["windows"] = ["1h"]
    path = write_config(tmp_path / "monitor.yaml", data)
    writer = Writer(tmp_path / "logs")
    writer.thread.start()
    rng = np.random.default_rng(20261122)
    port = free_port()
    kills = 0
    try:
        for iteration in range(10):
            process = Process([sys.executable, "-m", "exporter.cli", "serve", "--config", str(path), "--port",
                               str(port)], tmp_path / f"exporter-{iteration}.log")
            wait_for(lambda: requests.get(f"http://{LOOPBACK}:{port}/metrics", timeout=2).ok, 30, "the exporter")
            time.sleep(float(rng.uniform(0.05, 1.5)))
            os.killpg(process.proc.pid, signal.SIGKILL)
            process.proc.wait(timeout=10)
            process.stop()
            kills += 1
    finally:
        writer.stop.set()
        writer.thread.join(timeout=10)
    assert kills == 10 and writer.written > 10000
    final = start_exporter(path, port, tmp_path / "exporter-final.log")
    try:
        samples = wait_for(
            lambda: (s := scrape(port)) and value_of(s, "model_predictions_total", model="m") == writer.written and s,
            60, f"all {writer.written} rows")
        assert value_of(samples, "model_window_rows", model="m", window="1h") == writer.written
        assert value_of(samples, "model_monitor_rejected_rows_total", model="m", reason="duplicate_id") == 0
        # A kill in the middle of a journal append leaves a record cut short: logged and counted at the next
        # start (its rows are read again, as the counts above show); each kill can cut at most one.
        assert value_of(samples, "model_monitor_errors_total", model="m", stage="state") <= kills
    finally:
        final.stop()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_state_is_reported_and_rebuilt_from_logs(tmp_path: Path, damage: str) -> None:
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows_at(now - 30, 60))
    _monitor(tmp_path).update(now=now)
    state_file = next((tmp_path / "state").glob("*.npz"))
    content = state_file.read_bytes()
    state_file.write_bytes({"truncated": content[: len(content) // 2], "garbage": os.urandom(4096),
                            "empty": b""}[damage])
    snapshot = _monitor(tmp_path).update(now=now)
    assert snapshot.errors["state"] == 1
    assert _overall(snapshot).rows == 60 and snapshot.predictions_total == 60


def test_incompatible_state_is_rebuilt_not_misread(tmp_path: Path) -> None:
    now = time.time()
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows_at(now - 30, 60))
    _monitor(tmp_path).update(now=now)
    snapshot = _monitor(tmp_path, windows=["5m", "2h"]).update(now=now)  # another window layout
    assert snapshot.errors["state"] == 1
    assert _overall(snapshot, "2h").rows == 60


# --- hostile and bad input --------------------------------------------------------------------------


def _write_lines(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        handle.write(data)


def test_nan_and_inf_are_missing_or_type_violations(tmp_path: Path) -> None:
    now = time.time()
    base = rows_at(now, 30)
    lines = [json.dumps(r) for r in base]
    lines.append(f'{{"ts": {now}, "id": "nan", "age": NaN, "income": Infinity, "country": "US"}}')
    lines.append(f'{{"ts": {now}, "id": "inf", "age": -Infinity, "income": 1.0, "country": "US"}}')
    _write_lines(tmp_path / "logs" / "a.jsonl", ("\n".join(lines) + "\n").encode())
    snapshot = _monitor(tmp_path).update(now=now)
    features = {f.feature: f for f in _overall(snapshot).features}
    assert _overall(snapshot).rows == 32
    assert features["age"].missing_ratio == pytest.approx(1 / 32)
    assert features["age"].type_violation_ratio == pytest.approx(1 / 32)
    assert features["income"].type_violation_ratio == pytest.approx(1 / 32)
    assert all(np.isfinite(f.drift.score) for f in features.values() if f.drift)


def test_megabyte_strings_and_binary_garbage(tmp_path: Path) -> None:
    now = time.time()
    huge = "x" * (1 << 20)
    _write_lines(tmp_path / "logs" / "a.jsonl",
                 json.dumps({"ts": now, "id": "big", "age": 40, "income": 1.0, "country": huge}).encode() + b"\n"
                 + os.urandom(5000).replace(b"\n", b" ") + b"\n"
                 + b"\x00\x01\x02\xff\xfe\n")
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows_at(now, 20))
    snapshot = _monitor(tmp_path).update(now=now)
    window = _overall(snapshot)
    assert window.rows == 21
    assert snapshot.rejected["malformed_json"] == 2
    country = next(f for f in window.features if f.feature == "country")
    assert country.new_category_ratio == pytest.approx(1 / 21)


def test_timestamps_far_in_the_future_or_past_and_unparseable(tmp_path: Path) -> None:
    now = time.time()
    rows = rows_at(now, 10)
    rows += [dict(r, ts=t, id=f"t{i}") for i, (r, t) in enumerate(zip(rows_at(now, 5, seed=9),
             [now + 86400 * 365, 0, -5, "2026-13-45T99:00:00", "1900-01-01T00:00:00Z"], strict=True))]
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows)
    snapshot = _monitor(tmp_path).update(now=now)
    assert snapshot.rejected == {"future_timestamp": 1, "too_old": 3, "bad_timestamp": 1}
    assert _overall(snapshot).rows == 10


def test_duplicate_ids_are_rejected(tmp_path: Path) -> None:
    now = time.time()
    rows = rows_at(now, 20)
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows + rows[:5])
    monitor = _monitor(tmp_path)
    snapshot = monitor.update(now=now)
    write_jsonl(tmp_path / "logs" / "b.jsonl", rows[5:8])  # logged again, in another file, later
    snapshot = monitor.update(now=now)
    assert snapshot.rejected["duplicate_id"] == 8
    assert _overall(snapshot).rows == 20


def test_empty_files_ragged_csv_and_a_file_replaced_under_the_exporters_feet(tmp_path: Path) -> None:
    now = time.time()
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "empty.csv").write_text("")
    (tmp_path / "logs" / "header-only.csv").write_text("ts,id,age,income,country\n")
    (tmp_path / "logs" / "a.csv").write_text(f"ts,id,age,income,country\n{now},a1,40,1.0,US\n{now},a2,41\n"
                                             f"{now},a3,42,1.0,DE,extra,more\n{now},a4,43,2.0,FR\n")
    monitor = _monitor(tmp_path, predictions={"path": str(tmp_path / "logs" / "*.csv"), "timestamp_column": "ts",
                                              "id_column": "id"})
    snapshot = monitor.update(now=now)
    assert _overall(snapshot).rows == 2 and snapshot.rejected["malformed_csv"] == 2
    replacement = tmp_path / "logs" / "a.csv.new"
    replacement.write_text(f"ts,id,age,income,country\n{now},b1,40,1.0,US\n")
    replacement.replace(tmp_path / "logs" / "a.csv")  # atomically replaced: a new inode
    snapshot = monitor.update(now=now)
    assert _overall(snapshot).rows == 3


def test_reference_with_constant_and_all_missing_columns(tmp_path: Path) -> None:
    frame = reference_frame()
    frame["constant"] = 7.0
    frame["empty"] = np.nan
    frame["empty_cat"] = None
    frame.to_parquet(tmp_path / "reference.parquet")
    monitor = _monitor(tmp_path, features={"numeric": ["age", "constant", "empty"], "categorical": ["empty_cat"]})
    now = time.time()
    rows = rows_at(now, 40)
    for i, row in enumerate(rows):
        row.update(constant=7.0 if i % 2 else 8.0, empty=1.0, empty_cat="a")
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows)
    snapshot = monitor.update(now=now)
    features = {f.feature: f for f in _overall(snapshot).features}
    assert features["constant"].drift is not None and features["constant"].drift.drifted
    assert features["constant"].out_of_range_ratio == pytest.approx(0.5)
    assert features["empty"].drift is None and features["empty_cat"].drift is None
    assert features["empty_cat"].new_category_ratio == 1.0
    assert snapshot.up


# --- fuzzing --------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_row_parsers_never_raise(data: bytes) -> None:
    rejected: Counter[str] = Counter()
    frame = parse_jsonl(data, rejected)
    assert isinstance(frame, pd.DataFrame)
    frame = parse_csv("ts,id,age", data, rejected)
    assert isinstance(frame, pd.DataFrame)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40) | st.text(max_size=20).map(lambda text: text.encode("utf-8", "surrogatepass")))
def test_utf8_is_checked_as_pythons_strict_decoder_checks_it(data: bytes) -> None:
    """Arrow's check of a CSV chunk's UTF-8 (in place, no copy) says what decoding it would: surrogates,
    overlong forms, truncated sequences and stray bytes are refused alike."""
    try:
        data.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    assert _is_utf8(data) is valid
    assert _is_utf8(memoryview(b"x" + data)[1:]) is valid


def test_csv_is_parsed_from_a_view_as_from_its_bytes() -> None:
    """A view of a chunk (how sources hand over complete lines) gives the frame its bytes give: quoted
    names and cells, an empty name, ragged rows counted, bad UTF-8 rows rejected by the line parser."""
    good = b'1,"x, y",3,\n4,,6,7\n8,9\n10,"z",11,12\n'
    for data in (good, good + b"13,\xff,14,15\n"):
        chunk = b"ignored" + data + b"tail"
        view = memoryview(chunk)[len(b"ignored"):len(chunk) - len(b"tail")]
        from_view, from_bytes = Counter(), Counter()
        frame = parse_csv('a,"b,c",d,', view, from_view, frozenset({"a"}))
        pd.testing.assert_frame_equal(frame, parse_csv('a,"b,c",d,', data, from_bytes, frozenset({"a"})))
        assert from_view == from_bytes and from_view[RejectReason.MALFORMED_CSV] == 1 + (data != good)
        assert list(frame.columns) == ["a", "b,c", "d", ""]
        assert frame["a"].tolist() == ["1", "4", "10"] and frame["b,c"].tolist()[::2] == ["x, y", "z"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8)


@pytest.fixture(scope="module")
def fuzz_monitor(tmp_path_factory: pytest.TempPathFactory) -> ModelMonitor:
    return _monitor(tmp_path_factory.mktemp("fuzz"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.dictionaries(st.sampled_from(["ts", "id", "age", "income", "country", "score", "prediction",
                                                 "other"]), json_values, max_size=8), max_size=20))
def test_fuzz_rows_are_ingested_or_rejected_never_raise(fuzz_monitor: ModelMonitor, rows: list[dict]) -> None:
    lines = "".join(json.dumps(r, allow_nan=True) + "\n" for r in rows).encode()
    rejected: Counter[str] = Counter()
    frame = parse_jsonl(lines, rejected)
    before = fuzz_monitor.counters.predictions_total + sum(fuzz_monitor.counters.rejected.values())
    accepted = fuzz_monitor.ingest(frame, time.time())
    after = fuzz_monitor.counters.predictions_total + sum(fuzz_monitor.counters.rejected.values())
    assert after - before == len(frame) and accepted <= len(frame)
    fuzz_monitor.compute(time.time())


config_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["models", "name", "task", "reference", "predictions", "path", "windows", "drift",
                         "method", "threshold", "interval", "server", "port", "features", "numeric", "x"]),
        inner, max_size=4),
    max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(config_values)
def test_fuzz_config_loader_gives_a_config_or_a_config_error(data: object) -> None:
    try:
        parse_config(data)
    except ConfigError as error:
        assert str(error)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_fuzz_yaml_config_files(tmp_path: Path, text: str) -> None:
    from exporter.config import load_config

    path = tmp_path / "fuzz.yaml"
    path.write_text(text)
    try:
        load_config(path)
    except ConfigError as error:
        assert str(error)


# --- failing sources -------------------------------------------------------------------------------


def test_a_broken_source_stops_its_model_only_and_recovers(tmp_path: Path) -> None:
    now = time.time()
    good_dir, bad_dir = tmp_path / "good", tmp_path / "bad"
    write_jsonl(good_dir / "logs" / "a.jsonl", rows_at(now, 30))
    write_jsonl(bad_dir / "logs" / "a.jsonl", rows_at(now, 30))
    good, bad = _monitor(good_dir), _monitor(bad_dir)
    first = bad.update(now=now)
    assert first.up and good.update(now=now).up
    logs = bad_dir / "logs"
    logs.rename(bad_dir / "logs.moved")  # the folder disappears...
    gone = bad.update(now=now + 1)
    assert not gone.up and gone.errors["read"] == 1 and gone.last_success == first.last_success
    (bad_dir / "logs").write_text("not a folder")  # ...and comes back as a file
    broken = bad.update(now=now + 2)
    assert not broken.up and broken.errors["read"] == 2 and broken.last_success == first.last_success
    write_jsonl(good_dir / "logs" / "a.jsonl", rows_at(now + 2, 10, seed=7))
    other = good.update(now=now + 2)
    assert other.up and _overall(other).rows == 40  # the other model carries on
    (bad_dir / "logs").unlink()
    (bad_dir / "logs.moved").rename(bad_dir / "logs")
    write_jsonl(bad_dir / "logs" / "a.jsonl", rows_at(now + 3, 5, seed=8))
    recovered = bad.update(now=now + 3)
    assert recovered.up and recovered.last_success > first.last_success
    assert _overall(recovered).rows == 35


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder: permissions cannot fail")
def test_unreadable_folder_is_an_error(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "logs" / "a.jsonl", rows_at(time.time(), 5))
    monitor = _monitor(tmp_path)
    (tmp_path / "logs").chmod(0)
    try:
        snapshot = monitor.update()
        assert not snapshot.up and snapshot.errors["read"] == 1
    finally:
        (tmp_path / "logs").chmod(0o755)


@pytest.mark.integration
def test_one_failing_model_does_not_stop_the_others_in_one_exporter(tmp_path: Path) -> None:
    now = time.time()
    configs = []
    for name in ("ok", "broken"):
        folder = tmp_path / name
        folder.mkdir()
        config = json.loads(model_config(folder).model_dump_json())
        config["name"] = name
        configs.append(config)
        write_jsonl(folder / "logs" / "a.jsonl", rows_at(now, 25))
    (tmp_path / "state").mkdir()
    path = write_config(tmp_path / "monitor.yaml", {"interval": "0.5s", "state_dir": str(tmp_path / "state"),
                                                    "models": configs})
    port = free_port()
    # The broken model cannot save its state: a mount point stands where its state file belongs, and a mount
    # point cannot be moved aside (a plain directory would be).
    with small_disk(tmp_path / "state" / "broken.state.npz", "64k"):
        exporter = start_exporter(path, port, tmp_path / "exporter.log")
        _check_one_failing_model(port, exporter)
    log = (tmp_path / "exporter.log").read_text()
    assert log.count("model broken: cannot save state") == 1  # reported once, counted every time


def _check_one_failing_model(port: int, exporter: Process) -> None:
    try:
        # Both models run their first update in any order: wait for the broken one's errors and the ok one's update.
        samples = wait_for(lambda: (s := scrape(port)) and
                           (value_of(s, "model_monitor_errors_total", model="broken", stage="state") or 0) >= 2
                           and value_of(s, "model_monitor_last_success_timestamp_seconds", model="ok") and s,
                           30, "state errors of the broken model and an update of the other")
        assert value_of(samples, "model_monitor_last_run_success", model="broken") == 0
        assert value_of(samples, "model_monitor_last_success_timestamp_seconds", model="broken") is None
        assert value_of(samples, "model_monitor_last_run_success", model="ok") == 1
        assert value_of(samples, "model_window_rows", model="ok", window="5m") == 25
    finally:
        exporter.stop()


# --- cardinality ----------------------------------------------------------------------------------


def test_a_million_distinct_values_never_explode_series_or_memory(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    frame = reference_frame(5000)
    frame["user"] = [f"u{i}" for i in rng.integers(0, 10**6, 5000)]
    frame.to_parquet(tmp_path / "reference.parquet")
    monitor = _monitor(tmp_path, features={"numeric": ["age"], "categorical": ["country", "user"]},
                       segments=["user"], max_segment_values=5, max_categories=50)
    from exporter.publish.exposition import build_families

    def series_count() -> int:
        return sum(len(f.samples) for f in build_families([monitor.snapshot(monitor.compute(time.time()), True)]))

    def ring_bytes() -> int:
        return sum(a.nbytes for rings in monitor.store.rings.values() for r in rings.values() for a in r.data.values())

    now = time.time()

    def batch(start: int, n: int) -> pd.DataFrame:
        ids = np.arange(start, start + n).astype(str)
        return pd.DataFrame({"ts": now, "id": ids, "age": rng.normal(40, 10, n), "country": "US",
                             "user": np.char.add("v", ids)})

    monitor.ingest(batch(0, 10_000), now)  # every series that data creates exists now
    before_series, before_bytes = series_count(), ring_bytes()
    n = 1_000_000
    monitor.ingest(batch(10_000, n), now)
    snapshot = monitor.snapshot(monitor.compute(now), True)
    assert series_count() == before_series and ring_bytes() == before_bytes
    assert snapshot.segment_other["user"] == n + 10_000
    user = next(f for f in _overall(snapshot).features if f.feature == "user")
    assert user.new_category_ratio == 1.0
    assert len(monitor.reference.categorical[1].categories) == 50


# --- secured /metrics ------------------------------------------------------------------------------


@pytest.mark.integration
def test_tls_and_basic_auth_from_a_web_config_file(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    password = "s3cret-Passw0rd"
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=6)).decode()
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"tls_server_config": {"cert_file": cert.name, "key_file": key.name},
                                   "basic_auth_users": {"prometheus": hashed}}))
    config = model_config(tmp_path)
    path = write_config(tmp_path / "monitor.yaml", {"state_dir": str(tmp_path / "state"),
                                                    "models": [json.loads(config.model_dump_json())]})
    port = free_port()
    process = Process([sys.executable, "-m", "exporter.cli", "serve", "--config", str(path), "--port", str(port),
                       "--web.config.file", str(web)], tmp_path / "exporter.log")
    url = f"https://{LOOPBACK}:{port}/metrics"
    try:
        wait_for(lambda: requests.get(url, verify=str(cert), timeout=2).status_code == 401, 30, "the TLS server")
        response = requests.get(url, verify=str(cert), auth=("prometheus", password), timeout=5)
        assert response.status_code == 200 and "model_predictions_total" in response.text
        assert requests.get(url, verify=str(cert), auth=("prometheus", "wrong"), timeout=5).status_code == 401
        assert requests.get(url, verify=str(cert), auth=("someone", password), timeout=5).status_code == 401
        with requests.get(f"http://{LOOPBACK}:{port}/metrics", timeout=5) as plain:  # told so, as by Go
            assert plain.status_code == 400 and "HTTP request to an HTTPS server" in plain.text
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(url, timeout=5)  # an unknown certificate is refused by a verifying client
        assert password not in process.output() and password not in response.text
        assert hashed not in response.text
        report = url.replace("/metrics", "/report?model=m&window=5m")  # the report sits behind the same door
        assert requests.get(report, verify=str(cert), timeout=5).status_code == 401
        page = requests.get(report, verify=str(cert), auth=("prometheus", password), timeout=5)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert 'data-feature="age"' in page.text
    finally:
        process.stop()


def test_web_config_errors_are_clear(tmp_path: Path) -> None:
    from exporter.publish.webconfig import load_web_config

    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"basic_auth_users": {"u": "plaintext"}}))
    with pytest.raises(ConfigError, match="not a bcrypt hash"):
        load_web_config(web)
    web.write_text(yaml.safe_dump({"tls_server_config": {"cert_file": "x.crt"}}))
    with pytest.raises(ConfigError, match="key_file"):
        load_web_config(web)
    web.write_text(yaml.safe_dump({"tls": {}}))
    with pytest.raises(ConfigError, match="tls"):
        load_web_config(web)


def test_a_second_exporter_on_the_same_state_folder_exits_with_a_clear_message(tmp_path: Path) -> None:
    config = json.loads(model_config(tmp_path).model_dump_json())
    path = write_config(tmp_path / "monitor.yaml", {"interval": "1s", "state_dir": str(tmp_path / "state"),
                                                    "models": [config]})
    first = start_exporter(path, free_port(), tmp_path / "first.log")
    try:
        second = subprocess.run([sys.executable, "-m", "exporter.cli", "serve", "--config", str(path), "--port",
                                 str(free_port())], capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert "in use by another exporter" in second.stderr and str(first.proc.pid) in second.stderr
    finally:
        first.stop()
    # The lock dies with its holder: the folder can be used again at once.
    again = start_exporter(path, free_port(), tmp_path / "again.log")
    again.stop()


def test_a_poison_line_is_skipped_and_counted_and_the_exporter_lives_on(tmp_path: Path) -> None:
    """A JSON line nested 100,000 deep crashes the C parser pyarrow uses (a segmentation fault): such lines
    never reach it. The exporter, as a real process, counts the line, moves past it and keeps serving."""
    now = time.time()
    log = tmp_path / "logs" / "a.jsonl"
    write_jsonl(log, rows_at(now, 20, seed=1))
    with open(log, "a") as handle:
        handle.write('{"a":' * 100_000 + "1" + "}" * 100_000 + "\n")  # nested 100,000 deep
        keys = ", ".join(f'"k{i}": {i}' for i in range(20_000))
        handle.write(f'{{"ts": {now}, "id": "wide", {keys}}}\n')  # 20,000 keys
        handle.write("[" * 200_000 + "\n")  # deep and broken
    write_jsonl(log, rows_at(now, 30, seed=2))
    config = json.loads(model_config(tmp_path).model_dump_json())
    path = write_config(tmp_path / "monitor.yaml", {"interval": "0.5s", "state_dir": str(tmp_path / "state"),
                                                    "models": [config]})
    port = free_port()
    exporter = start_exporter(path, port, tmp_path / "exporter.log")
    try:
        samples = wait_for(lambda: (s := scrape(port)) and value_of(s, "model_predictions_total", model="m") == 50
                           and s, 30, "the 50 good rows")
        assert value_of(samples, "model_monitor_rejected_rows_total", model="m", reason="too_complex") == 3
        assert exporter.alive()
    finally:
        exporter.stop()
    restarted = start_exporter(path, port, tmp_path / "restarted.log")  # the cursor moved past the poison lines
    try:
        samples = wait_for(lambda: scrape(port), 30, "metrics after restart")
        assert value_of(samples, "model_predictions_total", model="m") == 50
        assert restarted.alive()
    finally:
        restarted.stop()
