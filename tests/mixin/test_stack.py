"""The monitoring stack checked with the real programs: promtool, amtool, Alertmanager, Prometheus, compose."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import yaml

from exporter.commands.webhook import make_server
from exporter.mixin.dashboards import dashboards
from exporter.mixin.rules import alerting_rules
from tests.processes import (
    LOOPBACK,
    Process,
    free_port,
    query,
    require_binary,
    start_alertmanager,
    start_prometheus,
    wait_for,
)
from tests.stack import ROOT, WebhookReceiver, alertmanager_config, prometheus_config

ALERTS = [rule["alert"] for rule in alerting_rules()]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_generated_rules_and_dashboards_are_up_to_date() -> None:
    result = _run(sys.executable, "-m", "exporter.mixin", "--check")
    assert result.returncode == 0, result.stderr


def test_rules_and_dashboards_name_only_metrics_of_the_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter.mixin import __main__ as mixin_main

    assert mixin_main.unknown_metrics() == set()
    # A rule that names a metric the exporter does not serve makes the mixin fail.
    broken = mixin_main.rule_files()
    broken["model-monitor.alerts.yml"]["groups"][0]["rules"][0]["expr"] = "model_feature_drift_scor > 1"
    monkeypatch.setattr(mixin_main, "rule_files", lambda: broken)
    assert mixin_main.unknown_metrics() == {"model_feature_drift_scor"}
    assert mixin_main.main(["--check"]) == 1


def test_promtool_checks_config_and_rules() -> None:
    promtool = require_binary("promtool")
    for config in ("prometheus/prometheus.yml", "prometheus/sharded.example.yml"):
        result = _run(promtool, "check", "config", config)
        assert result.returncode == 0, result.stdout + result.stderr
    result = _run(promtool, "check", "rules", *map(str, sorted((ROOT / "prometheus" / "rules").glob("*.yml"))))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests_pass_and_cover_every_alert() -> None:
    result = _run(require_binary("promtool"), "test", "rules", "prometheus/tests/alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    tests = yaml.safe_load((ROOT / "prometheus" / "tests" / "alerts_test.yml").read_text())["tests"]
    fires, silent = set(), set()
    for group in tests:
        for case in group.get("alert_rule_test", []):
            (fires if case["exp_alerts"] else silent).add(case["alertname"])
    assert set(ALERTS) <= fires, f"alerts never tested firing: {set(ALERTS) - fires}"
    assert set(ALERTS) <= silent, f"alerts never tested silent: {set(ALERTS) - silent}"


def test_every_alert_has_severity_annotations_and_an_existing_runbook_section() -> None:
    runbooks = (ROOT / "docs" / "runbooks.md").read_text()
    anchors = {heading.strip().lower() for heading in re.findall(r"^## (.+)$", runbooks, flags=re.MULTILINE)}
    for rule in alerting_rules():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["labels"]["category"] in {"data", "performance", "service", "monitor"}
        annotations = rule["annotations"]
        assert "{{ $labels.model }}" in annotations["summary"] + annotations["description"] or \
            rule["alert"] == "ModelExporterDown"
        assert "$value" in annotations["description"] or rule["alert"] in {"ModelExporterDown",
                                                                           "ModelPredictionVolumeZero"}
        anchor = annotations["runbook_url"].rsplit("#", 1)[1]
        assert anchor in anchors, f"docs/runbooks.md has no section for {rule['alert']}"


def test_amtool_checks_config_and_routes_each_severity() -> None:
    amtool = require_binary("amtool")
    config = "alertmanager/alertmanager.yml"
    result = _run(amtool, "check-config", config)
    assert result.returncode == 0, result.stdout + result.stderr
    for labels, receiver in (
        (["severity=critical", "model=fraud", "alertname=ModelPerformanceDrop"], "pager"),
        (["severity=warning", "model=fraud", "alertname=ModelFeatureDrift"], "chat"),
        (["severity=info", "model=fraud"], "default"),
        (["model=fraud"], "default"),
    ):
        result = _run(amtool, "config", "routes", "test", f"--config.file={config}",
                      f"--verify.receivers={receiver}", *labels)
        assert result.returncode == 0, f"{labels} -> {result.stdout}{result.stderr}"
    # And a wrong expectation is caught: the check is not vacuous.
    result = _run(amtool, "config", "routes", "test", f"--config.file={config}", "--verify.receivers=chat",
                  "severity=critical")
    assert result.returncode != 0


@pytest.mark.integration
def test_alertmanager_inhibits_drift_during_performance_alerts_and_data_alerts_while_stale(tmp_path: Path) -> None:
    port = free_port()
    am = start_alertmanager(alertmanager_config(tmp_path, free_port()), tmp_path / "am", port, tmp_path / "am.log")
    try:
        now = datetime.now(UTC)
        ends = (now + timedelta(hours=1)).isoformat()

        def alert(name: str, **labels: str) -> dict:
            return {"labels": {"alertname": name, "job": "model-monitor", "instance": "e:9108", **labels},
                    "startsAt": now.isoformat(), "endsAt": ends}

        alerts = [
            alert("ModelPerformanceDrop", model="fraud", severity="critical", category="performance"),
            alert("ModelFeatureDrift", model="fraud", feature="age", severity="warning", category="data"),
            alert("ModelFeatureDrift", model="churn", feature="age", severity="warning", category="data"),
            alert("ModelDataStale", model="churn", severity="critical", category="monitor"),
            alert("ModelMissingValuesSpike", model="churn", feature="x", severity="warning", category="data"),
            alert("ModelMissingValuesSpike", model="fraud", feature="x", severity="warning", category="data"),
        ]
        requests.post(f"http://{LOOPBACK}:{port}/api/v2/alerts", json=alerts, timeout=5).raise_for_status()

        def states() -> dict[tuple[str, str], str] | None:
            got = requests.get(f"http://{LOOPBACK}:{port}/api/v2/alerts", timeout=5).json()
            if len(got) < len(alerts):
                return None
            return {(a["labels"]["alertname"], a["labels"]["model"]): a["status"]["state"] for a in got}

        result = wait_for(lambda: (s := states()) and s[("ModelFeatureDrift", "fraud")] == "suppressed" and s,
                          15, "inhibition")
        assert result[("ModelFeatureDrift", "fraud")] == "suppressed"  # performance alert on the same model
        assert result[("ModelFeatureDrift", "churn")] == "suppressed"  # churn's data is stale
        assert result[("ModelMissingValuesSpike", "churn")] == "suppressed"
        assert result[("ModelMissingValuesSpike", "fraud")] == "active"
        assert result[("ModelPerformanceDrop", "fraud")] == "active"
        assert result[("ModelDataStale", "churn")] == "active"
    finally:
        am.stop()


@pytest.mark.integration
def test_one_incident_of_a_model_is_one_notification_with_times_and_names(tmp_path: Path) -> None:
    """Alertmanager groups by model: the alerts of one model's incident reach a receiver as one notification;
    ``model-monitor webhook`` prints it with its time, status, alert names and each alert's start and end;
    the chat template's title lists the alert names once (rendered by Alertmanager for a Slack receiver)."""
    printed = io.StringIO()
    webhook = make_server(LOOPBACK, 0, printed)
    threading.Thread(target=webhook.serve_forever, daemon=True).start()
    slack = WebhookReceiver()

    def edit(config: dict) -> None:
        config["route"]["group_wait"] = "1s"
        chat = next(r for r in config["receivers"] if r["name"] == "chat")
        chat["slack_configs"] = [{"api_url": f"http://{LOOPBACK}:{slack.port}/slack", "channel": "#ml",
                                  "title": '{{ template "model-monitor.title" . }}',
                                  "text": '{{ template "model-monitor.text" . }}'}]

    port = free_port()
    am = start_alertmanager(alertmanager_config(tmp_path, webhook.server_address[1], edit), tmp_path / "am", port,
                            tmp_path / "am.log")
    try:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)

        def alert(name: str, model: str, ends: datetime, **labels: str) -> dict:
            return {"labels": {"alertname": name, "model": model, "severity": "warning", "category": "data",
                               **labels}, "annotations": {"summary": f"{name} on {model}"},
                    "startsAt": start.isoformat(), "endsAt": ends.isoformat()}

        later = datetime.now(UTC) + timedelta(hours=1)
        incident = [alert("ModelFeatureDrift", "fraud", later, feature="age"),
                    alert("ModelFeatureDrift", "fraud", later, feature="income"),
                    alert("ModelMissingValuesSpike", "fraud", later, feature="amount")]
        other = [alert("ModelFeatureDrift", "churn", later, feature="age")]
        requests.post(f"http://{LOOPBACK}:{port}/api/v2/alerts", json=incident + other, timeout=5).raise_for_status()

        def lines() -> list[dict]:
            return [json.loads(line) for line in printed.getvalue().splitlines()]

        wait_for(lambda: len(lines()) >= 2, 20, "the notifications of both models")
        time.sleep(2)  # no third one follows
        firing = {n["group"]["model"]: n for n in lines()}
        assert len(lines()) == 2 and set(firing) == {"fraud", "churn"}
        fraud = firing["fraud"]
        assert fraud["path"] == "/chat" and fraud["status"] == "firing"
        assert fraud["alertnames"] == ["ModelFeatureDrift", "ModelMissingValuesSpike"]
        assert len(fraud["alerts"]) == 3
        for printed_alert in fraud["alerts"]:
            assert datetime.fromisoformat(printed_alert["startsAt"]) == start and printed_alert["endsAt"] is None
        assert abs(datetime.fromisoformat(fraud["time"]) - datetime.now(UTC)) < timedelta(seconds=30)
        titles = {n["attachments"][0]["title"] for n in slack.notifications if n["path"] == "/slack"}
        assert "[FIRING:3] fraud: ModelFeatureDrift, ModelMissingValuesSpike" in titles, titles

        ended = datetime.now(UTC).replace(microsecond=0)
        resolved = [dict(a, endsAt=ended.isoformat()) for a in incident]
        requests.post(f"http://{LOOPBACK}:{port}/api/v2/alerts", json=resolved, timeout=5).raise_for_status()
        done = wait_for(lambda: [n for n in lines() if n["status"] == "resolved"], 20, "the resolved notification")
        assert len(done) == 1 and done[0]["group"] == {"model": "fraud"}
        assert {datetime.fromisoformat(a["endsAt"]) for a in done[0]["alerts"]} == {ended}
    finally:
        am.stop()
        webhook.shutdown()
        webhook.server_close()
        slack.close()


def _dashboard_files() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((ROOT / "grafana" / "dashboards").glob("*.json"))}


def test_dashboards_are_consistent_data() -> None:
    files = _dashboard_files()
    assert files == dashboards()  # what Grafana loads is what the definitions generate
    provisioning = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = provisioning["datasources"][0]["uid"]
    assert len({d["uid"] for d in files.values()}) == len(files)
    for name, dashboard in files.items():
        variables = {v["name"] for v in dashboard["templating"]["list"]}
        assert {"model"} <= variables, name
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in dashboard["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, (name, panel["title"])
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == uid
            for target in panel.get("targets", []):
                assert target["datasource"]["uid"] == uid
                used = set(re.findall(r"\$(\w+)", target["expr"])) - {"__rate_interval", "__range", "__interval"}
                assert used <= variables, (name, panel["title"], used - variables)


def test_compose_file_is_valid_pinned_and_mounts_exist() -> None:
    compose = ROOT / "docker-compose.yml"
    if shutil.which("docker-compose"):
        result = _run("docker-compose", "-f", str(compose), "config", "-q")
        assert result.returncode == 0, result.stderr
    result = _run(sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(compose))
    assert result.returncode == 0, result.stdout + result.stderr
    data = yaml.safe_load(compose.read_text())
    for name, service in data["services"].items():
        image = service.get("image", "")
        if "build" not in service and image != "model-monitor:latest":
            assert re.search(r":v?\d+\.\d+\.\d+$", image), f"{name}: image {image!r} is not pinned to a version"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: mounted path {source} does not exist"
    for secret in data.get("secrets", {}).values():
        assert (ROOT / secret["file"]).exists()
    dockerfile = (ROOT / "Dockerfile").read_text()
    for copied in re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.MULTILINE):
        for path in copied.split():
            assert (ROOT / path).exists(), f"Dockerfile copies missing {path}"


def _substitute(expr: str, values: dict[str, str]) -> str:
    for name, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(f"${{{name}}}", value).replace(f"${name}", value)
    return expr


@pytest.mark.integration
@pytest.mark.parametrize("drift_after", ["0", "100000"], ids=["drifting", "healthy"])
def test_every_dashboard_query_has_data_on_the_demo(tmp_path: Path, drift_after: str) -> None:
    """Prometheus (repo config and rules) scrapes the exporter running the demo; every panel query returns data,
    on a drifting model and on a healthy one (where counters of what has not happened yet are at 0)."""
    exporter_port, prometheus_port = free_port(), free_port()
    demo = Process([sys.executable, "-m", "exporter.cli", "demo", "--dir", str(tmp_path / "demo"), "--port",
                    str(exporter_port), "--rate", "60", "--drift-after", drift_after, "--interval", "1s",
                    "--label-delay", "2"], tmp_path / "demo.log")
    prometheus = None
    try:
        wait_for(lambda: requests.get(f"http://{LOOPBACK}:{exporter_port}/metrics", timeout=2).ok, 30, "demo")
        config = prometheus_config(tmp_path, exporter_port, None)
        prometheus = start_prometheus(config, tmp_path / "tsdb", prometheus_port, tmp_path / "prometheus.log")
        wait_for(lambda: query(prometheus_port, 'up{job="model-monitor"} == 1'), 60, "the first scrape")
        values = {"model": "fraud-demo", "window": "1m", "feature": ".*", "metric": "accuracy",
                  "__rate_interval": "20s", "__range": "5m", "__interval": "15s"}
        queries = [(name, panel["title"], _substitute(target["expr"], values))
                   for name, dashboard in _dashboard_files().items()
                   for panel in dashboard["panels"] for target in panel.get("targets", [])]
        assert len(queries) > 40

        def missing() -> list[tuple[str, str, str]]:
            return [q for q in queries if not query(prometheus_port, q[2])]

        try:
            wait_for(lambda: not missing(), 120, "data for every panel", interval=2)
        except AssertionError:
            raise AssertionError("panels without data:\n" + "\n".join(map(str, missing()))) from None
        for name, dashboard in _dashboard_files().items():
            for variable in dashboard["templating"]["list"]:
                match = re.fullmatch(r"label_values\((?:(.+), )?(\w+)\)", variable["definition"])
                assert match, variable["definition"]
                selector, label = _substitute(match.group(1) or "", values), match.group(2)
                params = {"match[]": selector} if selector else {}
                response = requests.get(f"http://{LOOPBACK}:{prometheus_port}/api/v1/label/{label}/values",
                                        params=params, timeout=5).json()
                assert response["data"], f"{name}: variable {variable['name']} has no values"
        # Every family the demo produces (performance, segments, histograms, model_info) lints clean.
        exposition = requests.get(f"http://{LOOPBACK}:{exporter_port}/metrics", timeout=5).text
        assert 'segment="device=' in exposition and "model_label_delay_seconds_bucket" in exposition
        result = subprocess.run([require_binary("promtool"), "check", "metrics"], input=exposition,
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr
    finally:
        if prometheus is not None:
            prometheus.stop()
        demo.stop()
