"""What the commands share: reading the config, choosing models and shards, writing output, the exit codes."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from exporter.config import Config, ConfigError, ModelConfig, load_config
from exporter.memory import build_allocators, fast_allocators
from exporter.monitor.building import build_monitors
from exporter.monitor.model import ModelMonitor
from exporter.state.files import StateDirLock, StateDirLockedError, write_atomically

log = logging.getLogger("model_monitor")


def load_config_file(path: Path) -> Config:
    """The configuration in ``path``; ConfigError on any problem."""
    return load_config(path)


def sharded(config: Config, shard_text: str | None) -> Config:
    """The models this replica owns (``--shard``, else ``shard:``), each shard with its own state folder."""
    from exporter.monitor.shards import owned, parse_shard

    text = shard_text if shard_text is not None else config.shard
    if text is None:
        return config
    shard = parse_shard(text, "--shard" if shard_text is not None else "shard")
    mine = owned(config, shard)
    log.info("shard %s owns %d of %d model(s): %s", shard, len(mine.models), len(config.models),
             ", ".join(m.name for m in mine.models) or "none")
    if shard.count == 1:
        return mine
    # Replicas on one host share the config: each locks and keeps its own state folder.
    return mine.model_copy(update={"state_dir": config.state_dir / f"shard-{shard.index}-of-{shard.count}"})


def lock_state_dir(state_dir: Path) -> StateDirLock:
    """Hold the state folder for this exporter; a second exporter on it is a configuration error."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        lock = StateDirLock(state_dir)
        lock.acquire()
    except StateDirLockedError as error:
        raise ConfigError(str(error)) from None
    except OSError as error:
        raise ConfigError(f"state_dir: cannot use {state_dir}: {error.strerror or error}") from None
    return lock


def choose_model(config: Config, config_path: Path, model_name: str | None, required: bool) -> ModelConfig | None:
    """The model named ``model_name``; with none named, the only model (``required``) or every model (None)."""
    names = [m.name for m in config.models]
    if model_name is None:
        if not required:
            return None
        if len(names) > 1:
            raise ConfigError(f"the config has {len(names)} models ({', '.join(names)}): choose one with --model")
    model = next((m for m in config.models if model_name in (None, m.name)), None)
    if model is None:
        raise ConfigError(f"no model {model_name!r} in {config_path} (models: {', '.join(names)})")
    return model


def emit(text: str, out: Path | None) -> None:
    """``text`` on stdout, or into ``out`` atomically (see :func:`exporter.state.store.write_atomically`)."""
    if out is None:
        sys.stdout.write(text)
        return
    try:
        write_atomically(out, text.encode("utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot write {out}: {error.strerror or error}") from None


def one_shot_monitors(config: Config, source: str) -> list[ModelMonitor]:
    """The monitors of ``check`` and ``report``, which read their logs once and keep no state; glibc's
    allocator set for each phase (exporter.memory): the reference build gives each column back, the
    ingest keeps what it frees for its next batch."""
    build_allocators()
    monitors = build_monitors(config, source, persist=False)
    fast_allocators()
    return monitors
