"""``model-monitor report``: one model's window as a self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

from exporter.commands.common import choose_model, emit, load_config_file, one_shot_monitors
from exporter.config import ConfigError


def cmd_report(config_path: Path, model_name: str | None, window: str | None, now: float | None, out: Path) -> int:
    from exporter.publish.report import default_window, render_report

    config = load_config_file(config_path)
    model = choose_model(config, config_path, model_name, required=True)
    assert model is not None
    labels = [w.label for w in model.windows]
    if window is not None and window not in labels:
        raise ConfigError(f"model {model.name} has no window {window!r} (windows: {', '.join(labels)})")
    [monitor] = one_shot_monitors(config.model_copy(update={"models": [model]}), str(config_path))
    snapshot = monitor.update(now=now, persist=False, budget=None, once=True, keep_buckets=True)
    window = window or default_window(snapshot)
    emit(render_report(snapshot, window, now), out)
    print(f"model-monitor: wrote the report of model {model.name}, window {window}, to {out}", flush=True)
    return 0
