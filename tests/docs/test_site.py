"""The documentation site builds with MkDocs (strict: no broken link or anchor), and every alert's runbook link
points at a page and a section of that site."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from exporter.mixin import DEFAULT, DOCS_SITE
from exporter.mixin.__main__ import main as mixin_main
from exporter.mixin.rules import alerting_rules
from tests.stack import ROOT


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def _page(site: Path, url: str) -> tuple[Path, str]:
    """The built file and the fragment a link of the published site points to."""
    assert url.startswith(DOCS_SITE), url
    path, _, fragment = url[len(DOCS_SITE):].partition("#")
    file = site / path / "index.html" if path == "" or path.endswith("/") else site / path
    return file, fragment


def test_mkdocs_publishes_the_site_where_the_alerts_link() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["site_url"] == DOCS_SITE
    assert DEFAULT.runbook_base.startswith(DOCS_SITE)


def test_every_runbook_link_resolves_to_a_section_of_the_built_site(site: Path) -> None:
    rules = alerting_rules()
    assert rules
    for rule in rules:
        file, fragment = _page(site, rule["annotations"]["runbook_url"])
        assert file.is_file(), f"{rule['alert']}: {file} was not built"
        ids = set(re.findall(r'\bid="([^"]+)"', file.read_text()))
        assert fragment in ids, f"{rule['alert']}: the runbooks page has no section #{fragment}"
    # The check is not vacuous: an alert without a section is caught.
    file, _ = _page(site, DEFAULT.runbook_base)
    assert "modelnosuchalert" not in set(re.findall(r'\bid="([^"]+)"', file.read_text()))


def test_runbook_base_can_point_the_alerts_at_another_copy(tmp_path: Path) -> None:
    assert mixin_main(["--root", str(tmp_path), "--runbook-base", "https://wiki.example/ml/runbooks"]) == 0
    alerts = yaml.safe_load((tmp_path / "prometheus" / "rules" / "model-monitor.alerts.yml").read_text())
    urls = [rule["annotations"]["runbook_url"] for group in alerts["groups"] for rule in group["rules"]]
    assert urls and all(url.startswith("https://wiki.example/ml/runbooks#model") for url in urls)


def test_the_readme_is_a_front_page_whose_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if not t.startswith(("http://", "https://"))]
    assert len(local) >= 20
    missing = [t for t in local if not (ROOT / t).exists()]
    assert missing == [], f"the README links files that do not exist: {missing}"
    for section in ("## Set up", "## One model", "## Commands", "## How it compares", "## Where next"):
        assert section in readme
