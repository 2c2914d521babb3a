"""``model-monitor check``: one pass over every model's logs, its metrics printed, its failed checks listed."""

from __future__ import annotations

import json
from pathlib import Path

from exporter.commands import EXIT_ALERT
from exporter.commands.common import choose_model, emit, load_config_file, log, one_shot_monitors, sharded
from exporter.components.checks import failed_checks
from exporter.config import ConfigError
from exporter.publish.exposition import SnapshotStore, build_families, families_as_json


def cmd_check(config_path: Path, fmt: str, fail_on_alert: bool, now: float | None, model_name: str | None = None,
              window: str | None = None, out: Path | None = None, shard: str | None = None) -> int:
    config = sharded(load_config_file(config_path), shard)
    chosen = choose_model(config, config_path, model_name, required=fmt == "sagemaker-violations")
    if chosen is not None:
        config = config.model_copy(update={"models": [chosen]})
    if window is not None and fmt != "sagemaker-violations":
        raise ConfigError("--window chooses the window of --format sagemaker-violations")
    if chosen is not None and window is not None and window not in [w.label for w in chosen.windows]:
        raise ConfigError(f"model {chosen.name} has no window {window!r} "
                          f"(windows: {', '.join(w.label for w in chosen.windows)})")
    monitors = one_shot_monitors(config, str(config_path))
    snapshots = [m.update(now=now, persist=False, budget=None, once=True) for m in monitors]
    failed = [line for s in snapshots for line in failed_checks(s)]
    if fmt == "json":
        families = build_families(snapshots)
        emit(json.dumps({"metrics": families_as_json(families), "failed_checks": failed}, indent=1) + "\n", out)
    elif fmt == "sagemaker-violations":
        from exporter.baseline.sagemaker import violations

        assert chosen is not None
        longest = max(chosen.windows, key=lambda w: w.seconds).label
        emit(json.dumps(violations(snapshots[0], window or longest), indent=2) + "\n", out)
    else:
        store = SnapshotStore()
        for snapshot in snapshots:
            store.publish(snapshot)
        emit(store.exposition_text(), out)
    for line in failed:
        log.warning("check failed: %s", line)
    return EXIT_ALERT if fail_on_alert and failed else 0
