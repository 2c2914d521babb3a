"""The reference pages are generated from the code (the config schema, the metric catalogue, the argument
parser, the alert rules), and a page that differs from what the code generates now fails."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.stack import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import generate_reference


def test_the_committed_reference_is_what_the_code_generates() -> None:
    assert generate_reference.main(["--check"]) == 0


def test_a_page_that_drifted_from_the_code_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "docs" / "reference", tmp_path / "reference")
    monkeypatch.setattr(generate_reference, "REFERENCE", tmp_path / "reference")
    monkeypatch.setattr(generate_reference, "ROOT", tmp_path)
    assert generate_reference.main(["--check"]) == 0
    page = tmp_path / "reference" / "configuration.md"
    page.write_text(page.read_text().replace("`interval` | duration | `5s`", "`interval` | duration | `10s`"))
    assert generate_reference.main(["--check"]) == 1
    assert generate_reference.main([]) == 0  # regenerated
    assert generate_reference.main(["--check"]) == 0


def test_every_configuration_key_metric_option_and_alert_is_in_its_reference() -> None:
    from exporter import cli
    from exporter import config as schema
    from exporter.mixin.rules import alerting_rules
    from exporter.publish.catalogue import METRICS

    reference = ROOT / "docs" / "reference"
    configuration = (reference / "configuration.md").read_text()
    for model in (schema.Config, schema.ModelConfig, schema.DriftConfig, schema.LabelsConfig, schema.SqlConfig):
        for name in model.model_fields:
            assert f"| `{name}` |" in configuration, f"{model.__name__}.{name}"
    metrics = (reference / "metrics.md").read_text()
    assert all(f"`{name}`" in metrics for name in METRICS)
    commands = (reference / "cli.md").read_text()
    for command in ("serve", "check", "baseline", "report", "backtest", "demo", "webhook"):
        assert f"\n## {command}\n" in commands
    assert "`--fail-on-alert`" in commands and "`--openmetrics`" in commands
    assert cli._parser().prog == "model-monitor"
    alerts = (reference / "alerts.md").read_text()
    assert all(f"\n## {rule['alert']}\n" in alerts for rule in alerting_rules())
