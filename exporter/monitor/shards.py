"""Scaling out without coordination: replicas that share one config split its models by a stable hash.

``--shard i/N`` (or ``shard: i/N`` in the config) makes a replica own the models whose name hashes
to ``i`` modulo ``N`` (``0 <= i < N``). The hash is BLAKE2b of the model's name, the same in every
process, Python version and machine, so N replicas started with ``0/N`` ... ``N-1/N`` own every
model exactly once, without talking to each other; a model keeps its replica as long as N does not
change. Prometheus scrapes every replica (see ``prometheus/sharded.example.yml``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from exporter.config import Config, ConfigError

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def owns(self, model: str) -> bool:
        return shard_of(model, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(model: str, count: int) -> int:
    """The shard (0 to ``count - 1``) that owns ``model``."""
    digest = hashlib.blake2b(model.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def parse_shard(text: str, where: str = "--shard") -> Shard:
    match = _SPEC.match(text)
    if not match:
        raise ConfigError(f"{where}: {text!r} is not a shard; write i/N, e.g. 0/3 (i from 0 to N-1)")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"{where}: {text!r}: the index must be from 0 to {count - 1} and N at least 1")
    return Shard(index, count)


def owned(config: Config, shard: Shard | None) -> Config:
    """``config`` with only the models ``shard`` owns (all of them without a shard)."""
    if shard is None or shard.count == 1:
        return config
    return config.model_copy(update={"models": [m for m in config.models if shard.owns(m.name)]})
