"""The tutorial runs as written: its files are taken from the page, its commands run in order, a real exporter
is scraped by a real Prometheus loaded with the shipped rules, and the alerts the page promises come."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.docs.conftest import DOCS, blocks
from tests.processes import LOOPBACK, free_port, start_exporter, start_prometheus, wait_for
from tests.stack import ROOT

PAGE = DOCS / "tutorial.md"
CLI = [sys.executable, "-m", "exporter.cli", "--log-level", "WARNING"]


def _files() -> dict[str, str]:
    return {b.title: b.body for b in blocks(PAGE) if b.title}


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def _alerts(port: int) -> set[tuple[str, str]]:
    body = requests.get(f"http://{LOOPBACK}:{port}/api/v1/alerts", timeout=5).json()
    return {(a["labels"]["alertname"], a["labels"].get("feature", "")) for a in body["data"]["alerts"]
            if a["state"] in ("pending", "firing")}


def test_the_page_holds_every_file_and_command_the_test_runs() -> None:
    assert set(_files()) == {"train.py", "monitor.yaml", "prometheus.yml", "drift.py"}
    shell = "\n".join(b.body for b in blocks(PAGE) if b.lang == "sh")
    for command in ("python train.py", "model-monitor check --config monitor.yaml --fail-on-alert",
                    "model-monitor serve --config monitor.yaml", "cp -r ../prometheus/rules rules",
                    "prometheus --config.file=prometheus.yml", "python drift.py"):
        assert command in shell, command


@pytest.mark.integration
def test_the_tutorial_runs_end_to_end(tmp_path: Path) -> None:
    files = _files()
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    done = _run([sys.executable, "train.py"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "logged 171 predictions" in done.stdout

    healthy = _run([*CLI, "check", "--config", "monitor.yaml", "--fail-on-alert"], tmp_path)
    assert healthy.returncode == 0, healthy.stderr  # as the page says: a healthy model, exit 0

    shutil.copytree(ROOT / "prometheus" / "rules", tmp_path / "rules")
    exporter_port, prometheus_port = free_port(), free_port()
    prometheus_yml = tmp_path / "prometheus.yml"
    assert '"127.0.0.1:9108"' in files["prometheus.yml"]
    prometheus_yml.write_text(files["prometheus.yml"].replace("127.0.0.1:9108", f"{LOOPBACK}:{exporter_port}"))
    exporter = start_exporter(tmp_path / "monitor.yaml", exporter_port, tmp_path / "exporter.log")
    try:
        prometheus = start_prometheus(prometheus_yml, tmp_path / "data", prometheus_port, tmp_path / "prom.log")
        try:
            wait_for(lambda: requests.get(f"http://{LOOPBACK}:{prometheus_port}/api/v1/query",
                                          params={"query": 'up{job="model-monitor"} == 1'}, timeout=5)
                     .json()["data"]["result"], 60, "Prometheus scraping the exporter")
            assert _alerts(prometheus_port) == set()  # nothing pending on the healthy model
            drifted = _run([sys.executable, "drift.py"], tmp_path)
            assert drifted.returncode == 0, drifted.stderr
            # The alerts the page names: the missing values page, the size measurements drift.
            expected = {("ModelMissingValuesSpike", "mean_texture"), ("ModelFeatureDrift", "mean_radius")}
            wait_for(lambda: expected <= _alerts(prometheus_port), 90, f"the alerts {expected}")
            report = requests.get(f"http://{LOOPBACK}:{exporter_port}/report?model=cancer", timeout=10)
            assert report.ok and "mean_texture" in report.text
        finally:
            prometheus.stop()
    finally:
        exporter.stop()
    failing = _run([*CLI, "check", "--config", "monitor.yaml", "--fail-on-alert"], tmp_path)
    assert failing.returncode == 1
    assert "cancer 5m: mean_texture completeness check failed" in failing.stderr
