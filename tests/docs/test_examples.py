"""Every configuration shown in the docs is one the exporter accepts: each YAML block is loaded by the real
config loader (a fragment of a model, as the how-to guides show them, inside a minimal model)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from exporter.config import Config, ModelConfig, parse_config
from tests.docs.conftest import Block, blocks, pages
from tests.stack import ROOT

#: YAML blocks that are another program's files, named by their title.
OTHER_FILES = {"prometheus.yml", "alertmanager.yml", "web.yml", "docker-compose.yml"}
#: What a model fragment is completed with, where it does not say it itself.
MINIMAL_MODEL = {"name": "m", "task": "binary_classification", "reference": "reference.parquet",
                 "predictions": {"path": "logs/*.jsonl", "id_column": "request_id"}}


def _configs() -> list[Block]:
    found = [b for page in pages() for b in blocks(page) if b.lang == "yaml" and b.title not in OTHER_FILES]
    return [*found, *(b for b in blocks(ROOT / "README.md") if b.lang == "yaml")]


def _as_config(data: dict) -> dict:
    """A whole configuration from a block: as it is, or a model's keys inside a minimal model."""
    if set(data) <= set(Config.model_fields) and "models" in data:
        return data
    assert set(data) <= set(ModelConfig.model_fields), f"neither a configuration nor a model: {sorted(data)}"
    model = {**MINIMAL_MODEL, **data}
    if "baseline" in data:
        model.pop("reference")
    return {"models": [model]}


def test_the_docs_show_configurations() -> None:
    assert len(_configs()) >= 7
    assert any(b.page.name == "tutorial.md" for b in _configs())


def _with_its_files(config: dict, folder: Path) -> dict:
    """``config`` with the files it names (reference, baseline, constraints, secrets) made in ``folder``: the
    loader checks that they exist, and the docs name files of the reader's own."""
    for model in config["models"]:
        for key in ("reference", "baseline", "constraints"):
            if model.get(key):
                (folder / model[key]).parent.mkdir(parents=True, exist_ok=True)
                (folder / model[key]).touch()
    return config


@pytest.mark.parametrize("block", _configs(), ids=lambda b: f"{b.page.relative_to(ROOT)}:{b.title or b.body[:30]}")
def test_every_yaml_configuration_in_the_docs_loads(block: Block, tmp_path: Path) -> None:
    data = yaml.safe_load(textwrap.dedent(block.body))
    assert isinstance(data, dict), "a YAML block of the docs holds a mapping"
    parse_config(_with_its_files(_as_config(data), tmp_path), source=str(block.page), base=tmp_path)


def test_a_wrong_key_in_a_shown_configuration_would_fail(tmp_path: Path) -> None:
    from exporter.config import ConfigError

    config = _with_its_files({"models": [{**MINIMAL_MODEL, "label_colum": "label"}]}, tmp_path)
    with pytest.raises(ConfigError, match="label_colum"):
        parse_config(config, source="a docs page", base=tmp_path)
