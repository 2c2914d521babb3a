"""``model-monitor serve`` as a user runs it: a real port, real files written and appended, /metrics over HTTP."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from exporter.publish.catalogue import METRICS
from tests.helpers import model_config, rows_at, scrape, value_of, write_config, write_jsonl
from tests.processes import LOOPBACK, free_port, require_binary, start_exporter, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def served(tmp_path: Path):
    config = model_config(tmp_path)
    data = {"interval": "1s", "state_dir": str(tmp_path / "state"),
            "models": [json.loads(config.model_dump_json())]}
    data["models"][0]["windows"] = ["5m", "1h"]
    path = write_config(tmp_path / "monitor.yaml", data)
    port = free_port()
    process = start_exporter(path, port, tmp_path / "exporter.log")
    yield tmp_path, path, port, process
    process.stop()


def test_serve_picks_up_new_and_appended_files(served) -> None:
    tmp, _config, port, _process = served
    now = time.time()
    write_jsonl(tmp / "logs" / "a.jsonl", rows_at(now, 40, seed=1))
    wait_for(lambda: value_of(scrape(port), "model_window_rows", model="m", window="5m") == 40, 20, "40 rows")
    write_jsonl(tmp / "logs" / "a.jsonl", rows_at(time.time(), 25, seed=2))
    write_jsonl(tmp / "logs" / "b.jsonl", rows_at(time.time(), 5, seed=3, shift=30.0))
    samples = wait_for(lambda: (s := scrape(port)) and
                       value_of(s, "model_window_rows", model="m", window="5m") == 70 and s, 20, "70 rows")
    assert value_of(samples, "model_predictions_total", model="m") == 70
    score = value_of(samples, "model_feature_drift_score", model="m", window="5m", feature="age", method="ks")
    assert score is not None and 0 <= score <= 1
    assert value_of(samples, "model_feature_drift_threshold", model="m", feature="age", method="ks") == 0.1
    assert value_of(samples, "model_monitor_last_success_timestamp_seconds", model="m") > now - 60


def test_report_pages_follow_the_latest_snapshot(served) -> None:
    tmp, _config, port, _process = served
    base = f"http://{LOOPBACK}:{port}"
    write_jsonl(tmp / "logs" / "a.jsonl", rows_at(time.time(), 60, seed=5, shift=25.0))
    wait_for(lambda: value_of(scrape(port), "model_window_rows", model="m", window="5m") == 60, 20, "60 rows")
    index = requests.get(f"{base}/report", timeout=5)
    assert index.status_code == 200 and 'href="/report?model=m&amp;window=5m"' in index.text
    page = requests.get(f"{base}/report?model=m&window=5m", timeout=5)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert all(f'data-feature="{name}"' in page.text for name in ("age", "income", "country"))
    assert "m 5m: age drifted" in page.text  # the shifted feature is among the failed checks
    # Without window=: the shortest window with a failed check of the highest severity, linking the others.
    default = requests.get(f"{base}/report?model=m", timeout=5).text
    assert "Window <strong>5m</strong>" in default and 'window=1h">1h</a>' in default
    missing = requests.get(f"{base}/report?model=nope", timeout=5)
    assert missing.status_code == 404 and "models: m" in missing.text
    assert requests.get(f"{base}/report?model=m&window=2h", timeout=5).status_code == 404


def test_exposition_passes_promtool_and_every_family_is_documented(served) -> None:
    tmp, _config, port, _process = served
    write_jsonl(tmp / "logs" / "a.jsonl", rows_at(time.time(), 60, seed=1))
    wait_for(lambda: value_of(scrape(port), "model_window_rows", model="m", window="5m") == 60, 20, "rows")
    text = requests.get(f"http://{LOOPBACK}:{port}/metrics", timeout=5).text
    promtool = require_binary("promtool")
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""
    served_names = {f.name for f in text_string_to_metric_families(text)}
    model_families = {n for n in served_names if n.startswith("model_")}
    documented = {name.removesuffix("_total") for name in METRICS}
    assert model_families <= documented
    reference = (Path(__file__).parents[2] / "docs" / "reference" / "metrics.md").read_text()
    for name in METRICS:
        assert f"`{name}`" in reference, f"{name} is not in the metrics reference"


def test_restart_keeps_the_windows(served) -> None:
    tmp, config, port, process = served
    write_jsonl(tmp / "logs" / "a.jsonl", rows_at(time.time(), 33, seed=1))
    wait_for(lambda: value_of(scrape(port), "model_window_rows", model="m", window="1h") == 33, 20, "rows")
    process.stop()
    restarted = start_exporter(config, port, tmp / "exporter2.log")
    try:
        wait_for(lambda: value_of(scrape(port), "model_monitor_last_run_success", model="m") == 1, 20, "an update")
        samples = scrape(port)
        assert value_of(samples, "model_window_rows", model="m", window="1h") == 33
        assert value_of(samples, "model_predictions_total", model="m") == 33
    finally:
        restarted.stop()
