"""The repository's own Prometheus and Alertmanager configs, rewritten for loopback test ports."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from exporter.mixin import MixinConfig
from exporter.mixin.__main__ import render_yaml
from exporter.mixin.rules import rule_files
from tests.processes import LOOPBACK

ROOT = Path(__file__).resolve().parent.parent


def prometheus_config(tmp: Path, exporter_port: int, alertmanager_port: int | None,
                      mixin: MixinConfig | None = None, interval: str = "1s") -> Path:
    """prometheus/prometheus.yml with loopback targets, short intervals, and rules from ``mixin``."""
    config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = interval
    config["global"]["evaluation_interval"] = interval
    rules_dir = tmp / "rules"
    rules_dir.mkdir(exist_ok=True)
    if mixin is None:
        for path in (ROOT / "prometheus" / "rules").glob("*.yml"):
            (rules_dir / path.name).write_text(path.read_text())
    else:
        for name, content in rule_files(mixin).items():
            (rules_dir / name).write_text(render_yaml(content))
    config["rule_files"] = [str(rules_dir / "*.yml")]
    if alertmanager_port is None:
        del config["alerting"]
    else:
        config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [f"{LOOPBACK}:{alertmanager_port}"]
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "model-monitor")
    job["scrape_interval"] = interval
    job["scrape_timeout"] = interval
    job["static_configs"][0]["targets"] = [f"{LOOPBACK}:{exporter_port}"]
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def alertmanager_config(tmp: Path, webhook_port: int, edit: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """alertmanager/alertmanager.yml with the webhooks on loopback and notification waits shortened."""
    text = (ROOT / "alertmanager" / "alertmanager.yml").read_text()
    text = text.replace("http://webhook:5001/", f"http://{LOOPBACK}:{webhook_port}/")
    config = yaml.safe_load(text)
    config["route"].update({"group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h"})
    # Template paths are relative to the config file: the copy in ``tmp`` reads the repo's templates.
    config["templates"] = [str(ROOT / "alertmanager" / t) for t in config.get("templates", [])]
    if edit is not None:
        edit(config)
    path = tmp / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class WebhookReceiver:
    """A real HTTP webhook receiver on loopback that records every Alertmanager notification."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        lock = threading.Lock()
        received = self.notifications

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    received.append({"path": self.path, **json.loads(body)})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def find(self, status: str, alertname: str) -> list[tuple[str, dict[str, Any]]]:
        """(path, alert) of every received alert with that status and name."""
        return [(n["path"], a) for n in list(self.notifications) for a in n.get("alerts", [])
                if a["status"] == status and a["labels"].get("alertname") == alertname]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
