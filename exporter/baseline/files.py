"""Baselines as files: everything the exporter needs from the reference, computed once.

``model-monitor baseline --config F --out FILE`` reads a model's reference and writes one
versioned JSON document: the features and their bins (edges, category sets with their counts, the
set of every reference value, ranges, moments), the output bins, classes and score calibration,
the segment values, the reference's realized performance and the layout fingerprint. A model may
then name ``baseline: FILE`` instead of ``reference: FILE``: production needs no copy of the
training data, starts without reading or binning it, and computes exactly the same metrics
(tested: every metric equal, not close). Arrays are stored as their raw bytes (base64), so every
number comes back bit for bit.

A baseline of another format version, or one whose features, methods or thresholds differ from
what the model's config asks for, is refused with a message that says what differs.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from exporter.baseline.features import CategoricalFeature, NumericFeature
from exporter.baseline.known_values import KnownValues
from exporter.baseline.methods import resolve_method
from exporter.baseline.multivariate import Reconstruction
from exporter.baseline.nanny import NannyModels
from exporter.baseline.reference import Reference
from exporter.baseline.target_spec import low_confidence
from exporter.baseline.targets import TargetSpec
from exporter.config import ConfigError, ModelConfig, missing_values
from exporter.state.files import write_atomically
from exporter.stats.calibration import CalibrationResult, Calibrator
from exporter.stats.drift_null import DriftCalibration
from exporter.stats.sampling_error import SamplingError
from exporter.stats.trees import TreeEnsemble
from exporter.values.keys import canonical_class

#: The format of the document; a baseline of another version is refused (build it again).
BASELINE_VERSION = 1
_TYPES: dict[str, type] = {t.__name__: t for t in (NumericFeature, CategoricalFeature, Reference, TargetSpec,
                                                    CalibrationResult, Calibrator, DriftCalibration, NannyModels,
                                                    TreeEnsemble, Reconstruction, SamplingError)}


@dataclasses.dataclass(frozen=True)
class Baseline:
    """What a model's monitor is built from, whether read from the reference or from a baseline file."""

    reference: Reference
    spec: TargetSpec
    segments: dict[str, tuple[str, ...]]
    performance: dict[str, float]
    #: Each metric's sampling noise on the reference (see exporter.monitor.building.performance_noise).
    performance_noise: dict[str, float] = dataclasses.field(default_factory=dict)
    #: Each metric's sampling error terms, as NannyML measures them (exporter.stats.sampling_error).
    sampling_errors: dict[str, SamplingError] = dataclasses.field(default_factory=dict)


def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        return {"__ndarray__": array.dtype.str, "shape": list(array.shape),
                "data": base64.b64encode(array.tobytes()).decode()}
    if isinstance(value, KnownValues):
        return {"__known__": _encode(value.sorted if value.exact else value.bits), "exact": value.exact,
                "size": value.size, "n_bits": getattr(value, "n_bits", 0), "k": getattr(value, "k", 0)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__type__": type(value).__name__,
                **{f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__ndarray__" in value:
        data = base64.b64decode(value["data"])
        return np.frombuffer(data, dtype=np.dtype(value["__ndarray__"])).reshape(value["shape"]).copy()
    if "__known__" in value:
        known = KnownValues.__new__(KnownValues)
        known.size, known.exact = int(value["size"]), bool(value["exact"])
        if known.exact:
            known.sorted = _decode(value["__known__"])
        else:
            known.bits, known.n_bits, known.k = _decode(value["__known__"]), int(value["n_bits"]), int(value["k"])
        return known
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__type__" in value:
        cls = _TYPES[value["__type__"]]
        return cls(**{k: _decode(v) for k, v in value.items() if k != "__type__"})
    return {k: _decode(v) for k, v in value.items()}


def _expected_features(config: ModelConfig, reference: Reference) -> list[str]:
    """What differs between the features a baseline holds and those the config asks for."""
    problems = []
    if config.features is not None and (config.features.numeric or config.features.categorical):
        for kind, wanted, held in (("numeric", config.features.numeric, [f.name for f in reference.numeric]),
                                   ("categorical", config.features.categorical,
                                    [f.name for f in reference.categorical])):
            if list(wanted) != held:
                problems.append(f"{kind} features: the config lists {list(wanted)}, the baseline holds {held}")
    for kind, features in (("numeric", reference.numeric), ("categorical", reference.categorical)):
        for feature in features:
            setting = resolve_method(config, feature.name, kind, reference.rows, "drift", feature.distinct_values)
            asked = _rule(setting.method, setting.threshold, setting.alpha if setting.calibrated else None)
            rule = feature.calibration
            built = _rule(feature.method, feature.threshold, rule.alpha if rule is not None else None)
            if asked != built:
                problems.append(f"feature {feature.name!r}: the config asks for {asked}, the baseline was built "
                                f"with {built}")
            tokens = missing_values(config, feature.name)
            if tokens != feature.missing_values:
                problems.append(f"feature {feature.name!r}: the config's missing_values are {list(tokens)}, the "
                                f"baseline was built with {list(feature.missing_values)}")
    return problems


def _rule(method: str, threshold: float, alpha: float | None) -> str:
    """A drift rule as the refusal message names it (two rules are the same when their texts are)."""
    if alpha is None:
        return f"{method} at {threshold!r}"
    return f"{method} calibrated at alpha {alpha!r} (minimum effect {threshold!r})"


def _expected_targets(config: ModelConfig, spec: TargetSpec) -> list[str]:
    problems = []
    if spec.task == "binary_classification":
        if canonical_class(config.positive_label) != spec.positive_label:
            problems.append(f"positive_label: the config says {config.positive_label!r}, the baseline "
                            f"{spec.positive_label!r}")
        if config.negative_label is not None and canonical_class(config.negative_label) != spec.negative_label:
            problems.append(f"negative_label: the config says {config.negative_label!r}, the baseline "
                            f"{spec.negative_label!r}")
    if config.decision_threshold != spec.decision_threshold:
        problems.append(f"decision_threshold: the config says {config.decision_threshold}, the baseline "
                        f"{spec.decision_threshold}")
    if spec.output is not None:
        method = config.drift.prediction_method
        if spec.output.method != method:
            problems.append(f"drift.prediction_method: the config says {method}, the baseline {spec.output.method}")
        fixed = config.drift.prediction_threshold
        held = spec.output.threshold if spec.output.calibration is None else None
        if held != (float(fixed) if fixed is not None else None) or (
                spec.output.calibration is not None and spec.output.calibration.alpha != config.drift.alpha):
            wanted = f"a fixed {fixed!r}" if fixed is not None else "a calibrated threshold"
            built = f"a fixed {held!r}" if held is not None else "a calibrated one"
            problems.append(f"drift.prediction_threshold: the config asks for {wanted}, the baseline was built "
                            f"with {built} (or another alpha)")
    return problems


def write_baseline(path: Path, config: ModelConfig, baseline: Baseline, fingerprint: str) -> None:
    """Write ``baseline`` as one JSON document, atomically (temporary file, fsync, rename)."""
    document = {
        "kind": "model-monitor-baseline",
        "version": BASELINE_VERSION,
        "model": config.name,
        "task": config.task,
        "fingerprint": fingerprint,
        "reference": _encode(baseline.reference),
        "targets": _encode(baseline.spec),
        "segments": _encode(baseline.segments),
        "performance": baseline.performance,
        "performance_noise": baseline.performance_noise,
        "sampling_errors": _encode(baseline.sampling_errors),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(document).encode("utf-8"))


def read_baseline(path: Path, config: ModelConfig, where: str = "config") -> Baseline:
    """The baseline in ``path`` for ``config``; ConfigError saying what differs when it does not fit."""
    prefix = f"{where}: models[{config.name}].baseline: {path}"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"{prefix}: cannot read it ({error})") from None
    if not isinstance(document, dict) or document.get("kind") != "model-monitor-baseline":
        raise ConfigError(f"{prefix}: not a baseline written by model-monitor baseline")
    if document.get("version") != BASELINE_VERSION:
        raise ConfigError(f"{prefix}: baseline format {document.get('version')}, this release reads "
                          f"{BASELINE_VERSION}: build it again with model-monitor baseline")
    if document.get("task") != config.task:
        raise ConfigError(f"{prefix}: built for task {document.get('task')}, the config says {config.task}")
    try:
        baseline = Baseline(_decode(document["reference"]), _decode(document["targets"]),
                            {str(k): tuple(v) for k, v in _decode(document["segments"]).items()},
                            {str(k): float(v) for k, v in document["performance"].items()},
                            {str(k): float(v) for k, v in document.get("performance_noise", {}).items()},
                            {str(k): v for k, v in _decode(document.get("sampling_errors", {})).items()})
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError(f"{prefix}: damaged ({type(error).__name__}: {error})") from None
    problems = _expected_features(config, baseline.reference) + _expected_targets(config, baseline.spec)
    if list(baseline.segments) != list(config.segments):
        problems.append(f"segments: the config lists {list(config.segments)}, the baseline {list(baseline.segments)}")
    if problems:
        raise ConfigError(f"{prefix}: built for another configuration: " + "; ".join(problems))
    # A setting of the config, not of the reference: the config's, whatever the file was built with.
    return dataclasses.replace(baseline, spec=dataclasses.replace(baseline.spec, low_confidence=low_confidence(config)))
