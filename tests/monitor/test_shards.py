"""Sharding: replicas sharing one config split its models by a stable hash, each model owned once."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from exporter.cli import main
from exporter.config import ConfigError
from exporter.monitor.shards import parse_shard, shard_of
from tests.helpers import model_config, write_config


def test_every_model_is_owned_by_exactly_one_shard_and_the_hash_is_stable() -> None:
    names = [f"model-{i}" for i in range(3000)]
    for count in (1, 2, 3, 7):
        owners = [[parse_shard(f"{i}/{count}").owns(n) for i in range(count)] for n in names]
        assert all(sum(row) == 1 for row in owners)
        sizes = [sum(row[i] for row in owners) for i in range(count)]
        assert min(sizes) > len(names) / count * 0.85  # roughly even
    # BLAKE2b of the name, not Python's hash(): the same owner in every process, version and machine.
    assert shard_of("fraud", 1000) == int.from_bytes(hashlib.blake2b(b"fraud", digest_size=8).digest(), "big") % 1000


@pytest.mark.parametrize("text", ["3/3", "1", "a/b", "-1/2", "0/0"])
def test_a_bad_shard_is_a_configuration_error(text: str) -> None:
    with pytest.raises(ConfigError, match="shard"):
        parse_shard(text)


def test_check_with_a_shard_reports_only_its_models(tmp_path: Path, capsys) -> None:
    model = json.loads(model_config(tmp_path).model_dump_json())
    names = [f"m{i}" for i in range(6)]
    config = write_config(tmp_path / "monitor.yaml", {"state_dir": str(tmp_path / "state"),
                                                      "models": [{**model, "name": n} for n in names]})
    seen = []
    for i in range(3):
        capsys.readouterr()
        assert main(["--log-level", "ERROR", "check", "--config", str(config), "--shard", f"{i}/3"]) == 0
        samples = json.loads(capsys.readouterr().out)["metrics"]
        models = {s["labels"]["model"] for s in samples if "model" in s["labels"]}
        assert models == {n for n in names if shard_of(n, 3) == i}
        seen.extend(models)
    assert sorted(seen) == names
    assert main(["check", "--config", str(config), "--shard", "3/3"]) == 2
    assert "the index must be from 0 to 2" in capsys.readouterr().err
