"""``model-monitor baseline``: a model's baseline computed from its reference once, into a file."""

from __future__ import annotations

from pathlib import Path

from exporter.commands.common import choose_model, load_config_file
from exporter.config import ConfigError


def cmd_baseline(config_path: Path, model_name: str | None, out: Path, fmt: str = "model-monitor") -> int:
    from exporter.baseline.files import write_baseline
    from exporter.monitor.building import baseline_of_reference
    from exporter.monitor.layout import baseline_fingerprint

    config = load_config_file(config_path)
    model = choose_model(config, config_path, model_name, required=True)
    assert model is not None
    if model.reference is None:
        raise ConfigError(f"models[{model.name}] names a baseline, not a reference: nothing to compute")
    base = baseline_of_reference(model, str(config_path))
    target = out / "baseline.json" if fmt == "sagemaker" else out
    try:
        write_baseline(target, model, base, baseline_fingerprint(model, base))
        written = [target]
        if fmt == "sagemaker":
            from exporter.baseline.sagemaker import apply_constraints, read_constraints, write_files
            from exporter.components.quality import FeatureQuality

            enforced, reference = model, base.reference
            if model.constraints is not None:
                enforced, reference = apply_constraints(model, reference,
                                                        read_constraints(model.constraints, model, str(config_path)))
            thresholds = FeatureQuality(reference, enforced.quality).thresholds
            written += write_files(out, enforced, reference, thresholds)
    except OSError as error:
        raise ConfigError(f"cannot write into {out}: {error.strerror or error}") from None
    print(f"model-monitor: wrote the baseline of model {model.name} to {', '.join(map(str, written))}", flush=True)
    return 0
