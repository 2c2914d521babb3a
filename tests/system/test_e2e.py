"""End to end: a drifting feature travels from the log to a webhook notification, and back to resolved.

Real processes on loopback: the exporter (`model-monitor serve`), Prometheus and Alertmanager from
the repository's own configs (ports rewritten, intervals shortened, the drift alert's `for:` set to
0s through the mixin's one place for it) and a real HTTP webhook receiver.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from exporter.mixin import MixinConfig
from tests.helpers import model_config, write_config, write_jsonl
from tests.processes import (
    LOOPBACK,
    free_port,
    query,
    start_alertmanager,
    start_exporter,
    start_prometheus,
    wait_for,
)
from tests.stack import WebhookReceiver, alertmanager_config, prometheus_config

pytestmark = pytest.mark.integration


class Traffic:
    """Writes 40 rows a second; ``shift`` moves feature age away from the reference."""

    def __init__(self, path: Path):
        self.path = path
        self.shift = 0.0
        self.stop = threading.Event()
        self.rng = np.random.default_rng(0)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.count = 0

    def _run(self) -> None:
        while not self.stop.wait(0.25):
            now = time.time()
            rows = [{"ts": now, "id": f"t{self.count + i}", "age": float(self.rng.normal(40 + self.shift, 10)),
                     "income": float(self.rng.lognormal(10, 0.5)), "country": str(self.rng.choice(["US", "DE", "FR"])),
                     "score": float(self.rng.random()), "prediction": int(self.rng.integers(0, 2))}
                    for i in range(10)]
            self.count += len(rows)
            write_jsonl(self.path, rows)


def test_drift_alert_reaches_the_webhook_and_resolves(tmp_path: Path) -> None:
    config = model_config(tmp_path)
    data = {"interval": "1s", "state_dir": str(tmp_path / "state"), "models": [json.loads(config.model_dump_json())]}
    data["models"][0].update({"windows": ["10s", "1m"], "min_window_rows": 20,
                              "drift": {"method": "ks", "threshold": 0.3}})
    exporter_config = write_config(tmp_path / "monitor.yaml", data)
    traffic = Traffic(tmp_path / "logs" / "predictions.jsonl")
    receiver = WebhookReceiver()
    exporter_port, prometheus_port, alertmanager_port = free_port(), free_port(), free_port()
    processes = []
    try:
        traffic.shift = 25.0  # drifted from the start
        traffic.thread.start()
        processes.append(start_exporter(exporter_config, exporter_port, tmp_path / "exporter.log"))
        processes.append(start_alertmanager(alertmanager_config(tmp_path, receiver.port), tmp_path / "am",
                                            alertmanager_port, tmp_path / "alertmanager.log"))
        mixin = MixinConfig(drift_for="0s")
        processes.append(start_prometheus(prometheus_config(tmp_path, exporter_port, alertmanager_port, mixin),
                                          tmp_path / "tsdb", prometheus_port, tmp_path / "prometheus.log"))
        wait_for(lambda: query(prometheus_port, 'up{job="model-monitor"} == 1'), 60, "the first scrape")

        firing = wait_for(lambda: receiver.find("firing", "ModelFeatureDrift"), 60, "the firing notification")
        path, alert = firing[0]
        assert path == "/chat"  # warning severity routes to the chat receiver
        labels, annotations = alert["labels"], alert["annotations"]
        assert labels["model"] == "m" and labels["feature"] == "age" and labels["window"] == "10s"
        assert labels["severity"] == "warning" and labels["method"] == "ks"
        assert annotations["summary"] == "Feature age of model m drifted"
        assert "feature age of model m" in annotations["description"]
        assert re.search(r"is 0\.\d+ over the 10s window", annotations["description"])
        assert annotations["runbook_url"].endswith("/runbooks/#modelfeaturedrift")
        assert re.search(r"Impact \d+\.\d\d \(how much it matters", annotations["description"])
        # The alert links the exporter's report of the model and window, and the link works.
        assert annotations["report_url"] == f"http://{LOOPBACK}:{exporter_port}/report?model=m&window=10s"
        page = requests.get(annotations["report_url"], timeout=10)
        assert page.status_code == 200 and 'data-feature="age"' in page.text

        traffic.shift = 0.0  # the data returns to normal; the 10s window forgets the drifted rows
        resolved = wait_for(lambda: receiver.find("resolved", "ModelFeatureDrift"), 90, "the resolved notification")
        assert resolved[0][1]["labels"]["model"] == "m"
    finally:
        traffic.stop.set()
        traffic.thread.join(timeout=5)
        for process in reversed(processes):
            process.stop()
        receiver.close()

