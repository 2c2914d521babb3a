"""The layers of exporter/ are a contract import-linter checks: an upward import or a cycle fails it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(root)})


@pytest.fixture()
def copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "exporter", tmp_path / "exporter", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _add_import(module: Path, statement: str) -> None:
    text = module.read_text()
    marker = "from __future__ import annotations\n"
    module.write_text(text.replace(marker, marker + statement + "\n", 1))


def test_the_package_keeps_its_layers_and_has_no_cycle() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers(copy: Path) -> None:
    _add_import(copy / "exporter" / "stats" / "binning.py", "import exporter.monitor.model  # noqa")
    result = _lint(copy)
    assert result.returncode != 0
    assert "exporter.stats is not allowed to import exporter.monitor" in result.stdout


def test_a_cycle_inside_a_package_is_found(copy: Path) -> None:
    # values.keys is imported by values.text: the reverse import closes a cycle within one layer.
    _add_import(copy / "exporter" / "values" / "keys.py", "import exporter.values.text  # noqa")
    result = _lint(copy)
    assert result.returncode != 0
    assert "No cycles are allowed in exporter.values" in result.stdout


def test_every_module_belongs_to_a_layer(copy: Path) -> None:
    (copy / "exporter" / "extras").mkdir()
    (copy / "exporter" / "extras" / "__init__.py").write_text('"""A package no layer names."""\n')
    result = _lint(copy)
    assert result.returncode != 0
    assert "exporter.extras" in result.stdout


def test_no_module_is_longer_than_about_400_lines() -> None:
    lengths = {str(path.relative_to(ROOT)): len(path.read_text().splitlines())
               for path in (ROOT / "exporter").rglob("*.py")}
    assert {path: n for path, n in lengths.items() if n > 400} == {}
