"""SageMaker Model Monitor's files: statistics and constraints out, constraints in, violations out.

Teams leaving SageMaker Model Monitor bring its baseline files; teams staying in its vocabulary
read violations in it. The formats are those of SageMaker's documentation ("Schema for
Statistics", "Schema for Constraints", "Schema for Violations"), version 0:

- :func:`statistics` writes ``statistics.json`` from a model's reference bins: the dataset's row
  count; per numeric feature (``Fractional``, or ``Integral`` when every value is a whole number)
  present and missing counts, mean, sum, standard deviation, min and max, the ``kll`` buckets
  (the reference's decile bins with their exact counts; one bucket per value for a discrete
  feature) and a ``sketch`` whose one level holds 201 reference quantiles of equal weight (a KLL
  sketch before its first compaction has exactly this form, so its CDF is the reference's within
  1/200); per categorical feature (``String``) present and missing counts, the number of distinct
  values and the tracked categories with their counts.
- :func:`constraints` writes ``constraints.json`` holding the limits the exporter enforces:
  ``completeness`` is one minus the feature's missing-ratio limit, ``datatype_check_threshold`` and
  ``domain_content_threshold`` the share of values that must have the feature's type and lie in
  its domain (one minus the type-violation and new-category limits), ``string_constraints.domains``
  the categories of a feature whose every reference value is tracked, ``is_non_negative`` whether
  the reference minimum is at least 0. A feature whose own limit differs from the model's writes it
  in ``monitoringConfigOverrides`` under the same names.
- :func:`read_constraints` and :func:`apply_constraints` read such a file (SageMaker's own, or one
  written here) into a model's data-quality limits: the same mapping backwards, and a domain's
  values become known values of the feature (not new categories). Limits set for a feature under
  ``quality.features`` in the config win over the file.
- :func:`violations` writes ``constraint_violations.json`` for one window of a snapshot, with
  SageMaker's check names.

Drift is not imported from a constraints file: SageMaker's ``comparison_threshold`` is an
L-infinity distance between CDFs, which is this exporter's ``ks`` method; set ``drift.method: ks``
and its threshold in the config to match it (:func:`constraints` writes the ks threshold there when
every numeric feature uses ks, SageMaker's default 0.1 otherwise).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from exporter.baseline.drift import is_test
from exporter.baseline.features import CategoricalFeature, NumericFeature
from exporter.baseline.reference import Reference
from exporter.config import ConfigError, FeatureQualityConfig, ModelConfig
from exporter.state.files import write_atomically
from exporter.summary.results import ModelSnapshot, QualityThreshold
from exporter.values.vocabulary import CheckName, SchemaCheck

log = logging.getLogger(__name__)

#: The version of SageMaker's formats written and read.
FORMAT_VERSION = 0
#: SageMaker's default KLL parameters; the sketch written holds fewer items than ``k``, uncompacted.
KLL_PARAMETERS = {"c": 0.64, "k": 2048.0}
#: Quantiles in the written sketch: the reference's fine bins (exporter.baseline.reference.FINE_BINS) + 1.
SKETCH_POINTS = 201
#: SageMaker's default distance threshold of ``baseline_drift_check``.
DEFAULT_COMPARISON_THRESHOLD = 0.1

#: The exporter's checks, by the name SageMaker gives them in constraint_violations.json.
VIOLATION_TYPES: dict[str, str] = {
    CheckName.COMPLETENESS: "completeness_check",
    CheckName.CATEGORICAL_VALUES: "categorical_values_check",
    CheckName.DATA_TYPE: "data_type_check",
    CheckName.FEATURE_DRIFT: "baseline_drift_check",
    SchemaCheck.MISSING_COLUMN: "missing_column_check",
    SchemaCheck.EXTRA_COLUMN: "extra_column_check",
}


def _is_discrete(feature: NumericFeature) -> bool:
    """A feature binned with a bin per value and per gap (see exporter.stats.reference_bins.discrete_bins)."""
    edges = feature.edges
    return edges.size % 2 == 0 and bool(np.array_equal(edges[1::2], np.nextafter(edges[::2], np.inf)))


def _value_range(feature: NumericFeature) -> tuple[float, float]:
    """The reference's min and max (a discrete feature's last edge closes the bin of its max)."""
    return float(feature.edges[0]), float(feature.edges[-2] if _is_discrete(feature) else feature.edges[-1])


def _inferred_type(feature: NumericFeature) -> str:
    """Integral when every reference value is a whole number (bin sums and the range are), else Fractional."""
    whole = bool(np.all(feature.reference_sums == np.round(feature.reference_sums)))
    low, high = _value_range(feature)
    return "Integral" if whole and low.is_integer() and high.is_integer() else "Fractional"


def _kll(feature: NumericFeature) -> dict[str, Any]:
    edges, counts = feature.edges, feature.reference_counts
    if _is_discrete(feature):
        values, value_counts = edges[::2], counts[1:-1][::2]
        buckets = [{"lower_bound": float(v), "upper_bound": float(v), "count": int(c)}
                   for v, c in zip(values, value_counts, strict=True)]
        cumulative = np.cumsum(value_counts) / max(1, int(value_counts.sum()))
        at = np.minimum(np.searchsorted(cumulative, np.linspace(0, 1, SKETCH_POINTS), side="left"), values.size - 1)
        points = values[at]
    else:
        coarse = feature.coarse(counts)
        starts = [*feature.coarse_starts.tolist(), counts.size]
        buckets = []
        for start, end, count in zip(starts[:-1], starts[1:], coarse.tolist(), strict=True):
            if start == 0 or start == counts.size - 1:  # the under- and overflow bins: empty in the reference
                continue
            buckets.append({"lower_bound": float(edges[start - 1]), "upper_bound": float(edges[end - 1]),
                            "count": int(count)})
        points = edges
    return {"buckets": buckets, "sketch": {"parameters": dict(KLL_PARAMETERS), "data": [points.tolist()]}}


def _common(present: int, missing_ratio: float, rows: int) -> dict[str, int]:
    return {"num_present": present, "num_missing": round(missing_ratio * rows)}


def _numeric_statistics(feature: NumericFeature, rows: int) -> dict[str, Any]:
    present = int(feature.reference_counts.sum())
    stats: dict[str, Any] = {"common": _common(present, feature.missing_ratio, rows)}
    if feature.usable and present:
        with np.errstate(over="ignore", invalid="ignore"):
            total = float(feature.reference_sums.sum())
            # Beyond float64 (values near 1e308), the total is left out and the mean taken bin by bin.
            mean = total / present if math.isfinite(total) else float(np.sum(feature.reference_sums / present))
        stats.update({key: value for key, value in (("mean", mean), ("sum", total)) if math.isfinite(value)})
        stats.update({"std_dev": feature.reference_std, "min": _value_range(feature)[0],
                      "max": _value_range(feature)[1], "distribution": {"kll": _kll(feature)}})
    return {"name": feature.name, "inferred_type": _inferred_type(feature), "numerical_statistics": stats}


def _string_statistics(feature: CategoricalFeature, rows: int) -> dict[str, Any]:
    present = int(feature.reference_counts.sum())
    buckets = [{"value": c, "count": int(n)} for c, n in zip(feature.categories, feature.reference_counts.tolist(),
                                                             strict=False)]
    return {"name": feature.name, "inferred_type": "String", "string_statistics": {
        "common": _common(present, feature.missing_ratio, rows),
        "distinct_count": feature.known.size if feature.known is not None else len(feature.categories),
        "distribution": {"categorical": {"buckets": buckets}},
    }}


def statistics(reference: Reference) -> dict[str, Any]:
    """statistics.json of ``reference``, in SageMaker Model Monitor's format."""
    return {
        "version": FORMAT_VERSION,
        "dataset": {"item_count": reference.rows},
        "features": [*(_numeric_statistics(f, reference.rows) for f in reference.numeric),
                     *(_string_statistics(c, reference.rows) for c in reference.categorical)],
    }


def _limits(thresholds: tuple[QualityThreshold, ...]) -> dict[tuple[str, str], float]:
    return {(q.feature, q.check): q.value for q in thresholds}


def constraints(config: ModelConfig, reference: Reference, thresholds: tuple[QualityThreshold, ...]) -> dict[str, Any]:
    """constraints.json of the limits the exporter enforces for ``config`` (its quality ``thresholds``)."""
    limits = _limits(thresholds)
    quality = config.quality
    features = []
    for f in reference.numeric:
        entry: dict[str, Any] = {"name": f.name, "inferred_type": _inferred_type(f),
                                 "completeness": 1.0 - limits[(f.name, CheckName.COMPLETENESS)],
                                 "num_constraints": {"is_non_negative": bool(f.usable and f.edges[0] >= 0)}}
        own = limits[(f.name, CheckName.DATA_TYPE)]
        entry["monitoringConfigOverrides"] = ({"datatype_check_threshold": 1.0 - own}
                                              if own != quality.type_violation_ratio else {})
        features.append(entry)
    for c in reference.categorical:
        entry = {"name": c.name, "inferred_type": "String",
                 "completeness": 1.0 - limits[(c.name, CheckName.COMPLETENESS)]}
        if not c.reference_counts[c.other_slot]:  # every reference value is tracked: a small domain
            entry["string_constraints"] = {"domains": list(c.categories)}
        own = limits[(c.name, CheckName.CATEGORICAL_VALUES)]
        entry["monitoringConfigOverrides"] = ({"domain_content_threshold": 1.0 - own}
                                              if own != quality.new_category_ratio else {})
        features.append(entry)
    # SageMaker's comparison is a fixed L-infinity (KS) threshold: only fixed ks thresholds carry over.
    ks = {f.threshold for f in reference.numeric if f.usable and f.method == "ks" and f.calibration is None}
    every_ks = len(ks) == 1 and all(f.method == "ks" and f.calibration is None for f in reference.numeric
                                    if f.usable)
    return {
        "version": FORMAT_VERSION,
        "features": features,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": 1.0 - quality.type_violation_ratio,
            "domain_content_threshold": 1.0 - quality.new_category_ratio,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": ks.pop() if every_ks else DEFAULT_COMPARISON_THRESHOLD,
                "comparison_method": "Simple",
            },
        },
    }


def _write_json(path: Path, document: dict[str, Any]) -> None:
    write_atomically(path, (json.dumps(document, indent=2) + "\n").encode("utf-8"))


def write_files(directory: Path, config: ModelConfig, reference: Reference,
                thresholds: tuple[QualityThreshold, ...]) -> list[Path]:
    """Write statistics.json and constraints.json into ``directory``, each atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / "statistics.json", directory / "constraints.json"]
    _write_json(paths[0], statistics(reference))
    _write_json(paths[1], constraints(config, reference, thresholds))
    return paths


@dataclass(frozen=True)
class Constraints:
    """What a constraints.json says about data quality, as the exporter's limits (shares that may fail)."""

    #: Per feature: its own limits (missing, new-category and type-violation ratios).
    features: dict[str, FeatureQualityConfig] = field(default_factory=dict)
    #: Per categorical feature: the values of its domain.
    domains: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Model-wide limits from monitoring_config (None where the file does not say).
    type_violation_ratio: float | None = None
    new_category_ratio: float | None = None


def _share(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"{where}: must be a number between 0 and 1, got {value!r}")
    return float(value)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be an object, got {type(value).__name__}")
    return value


def parse_constraints(document: Any, where: str) -> Constraints:
    """The data-quality limits of a constraints.json ``document``; ConfigError naming the field at fault."""
    if not isinstance(document, dict) or not isinstance(document.get("features"), list):
        raise ConfigError(f"{where}: not a SageMaker constraints file (no 'features' list)")
    if document.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise ConfigError(f"{where}: version {document.get('version')!r}, only version {FORMAT_VERSION} is read")
    config = _mapping(document.get("monitoring_config"), f"{where}: monitoring_config")
    if config.get("evaluate_constraints", "Enabled") == "Disabled":
        log.warning("%s: evaluate_constraints is Disabled: its limits are not used", where)
        return Constraints()
    features: dict[str, FeatureQualityConfig] = {}
    domains: dict[str, tuple[str, ...]] = {}
    for index, entry in enumerate(document["features"]):
        at = f"{where}: features[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ConfigError(f"{at}: a feature needs a 'name'")
        name = entry["name"]
        limits: dict[str, float] = {}
        if entry.get("completeness") is not None:
            limits["missing_ratio"] = 1.0 - _share(entry["completeness"], f"{at}.completeness")
        overrides = _mapping(entry.get("monitoringConfigOverrides"), f"{at}.monitoringConfigOverrides")
        if overrides.get("datatype_check_threshold") is not None:
            limits["type_violation_ratio"] = 1.0 - _share(overrides["datatype_check_threshold"],
                                                          f"{at}.monitoringConfigOverrides.datatype_check_threshold")
        if overrides.get("domain_content_threshold") is not None:
            limits["new_category_ratio"] = 1.0 - _share(overrides["domain_content_threshold"],
                                                        f"{at}.monitoringConfigOverrides.domain_content_threshold")
        features[name] = FeatureQualityConfig.model_validate(limits)
        strings = _mapping(entry.get("string_constraints"), f"{at}.string_constraints")
        if strings.get("domains") is not None:
            values = strings["domains"]
            if not isinstance(values, list) or not all(isinstance(v, str | int | float) for v in values):
                raise ConfigError(f"{at}.string_constraints.domains: must be a list of values")
            domains[name] = tuple(str(v) for v in values)
    wide = {}
    for key, limit in (("datatype_check_threshold", "type_violation_ratio"),
                       ("domain_content_threshold", "new_category_ratio")):
        if config.get(key) is not None:
            wide[limit] = 1.0 - _share(config[key], f"{where}: monitoring_config.{key}")
    return Constraints(features, domains, **wide)


def read_constraints(path: Path, config: ModelConfig, where: str = "config") -> Constraints:
    at = f"{where}: models[{config.name}].constraints: {path}"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"{at}: cannot read it ({error})") from None
    return parse_constraints(document, at)


def apply_constraints(config: ModelConfig, reference: Reference, found: Constraints,
                      where: str = "config") -> tuple[ModelConfig, Reference]:
    """``config`` with the data-quality limits of ``found``, and ``reference`` knowing its domains' values.

    Limits a feature has under ``quality.features`` in the config win over the file's.
    """
    names = set(reference.feature_names)
    ignored = sorted(set(found.features) - names)
    if ignored:
        log.info("%s: models[%s].constraints: %s are not features of the model (not monitored as features)",
                 where, config.name, ", ".join(ignored))
    own = config.quality.features
    merged = {}
    for name in names & (set(found.features) | set(own)):
        from_file = found.features.get(name, FeatureQualityConfig()).model_dump(exclude_none=True)
        merged[name] = FeatureQualityConfig(**{**from_file, **own.get(name, FeatureQualityConfig()).model_dump(
            exclude_none=True)})
    update: dict[str, Any] = {"features": merged}
    if found.type_violation_ratio is not None:
        update["type_violation_ratio"] = found.type_violation_ratio
    if found.new_category_ratio is not None:
        update["new_category_ratio"] = found.new_category_ratio
    config = config.model_copy(update={"quality": config.quality.model_copy(update=update)})
    categorical = []
    for cat in reference.categorical:
        domain = found.domains.get(cat.name)
        if domain and cat.known is not None:
            cat = replace(cat, known=cat.known.including(np.array(domain, dtype=object)))
        categorical.append(cat)
    numeric_domains = sorted(set(found.domains) & {f.name for f in reference.numeric})
    if numeric_domains:
        log.info("models[%s].constraints: domains of numeric features %s are not used", config.name,
                 ", ".join(numeric_domains))
    return config, replace(reference, categorical=tuple(categorical))


def _description(check: str, value: float, threshold: float, detail: dict[str, str]) -> str:
    if check == CheckName.COMPLETENESS:
        return (f"Data completeness requirement is not met. Expected completeness: {1 - threshold:.2%}, "
                f"observed completeness: {1 - value:.2%}")
    if check == CheckName.CATEGORICAL_VALUES:
        return (f"Data content requirement is not met. Expected at least {1 - threshold:.2%} of the values in the "
                f"baseline domain, observed {1 - value:.2%}")
    if check == CheckName.DATA_TYPE:
        return (f"Data type match requirement is not met. Expected at least {1 - threshold:.2%} of the values to "
                f"be numbers, observed {1 - value:.2%}")
    method = detail.get("method", "")
    if method and is_test(method):
        return f"Baseline drift {method} p-value {value:.4g} is below the threshold {threshold:g}"
    return f"Baseline drift distance {value:.4g} ({method}) exceeds the threshold {threshold:g}"


def violations(snapshot: ModelSnapshot, window: str) -> dict[str, Any]:
    """constraint_violations.json of ``snapshot``'s whole-model ``window``, in SageMaker's vocabulary.

    Quality and drift checks are those of the window; missing and extra columns are counted over
    every row read. The exporter's checks that SageMaker has no name for (out of range,
    performance, dataset and prediction drift) are in ``check --format json`` instead.
    """
    found = [w for w in snapshot.windows if w.window == window and not w.segment]
    if not found:
        raise ConfigError(f"model {snapshot.model} has no window {window!r} "
                          f"(windows: {', '.join(label for label, _ in snapshot.windows_seconds)})")
    out = []
    for verdict in found[0].verdicts:
        kind = VIOLATION_TYPES.get(verdict.check)
        if verdict.failed and kind is not None:
            out.append({"feature_name": dict(verdict.subject).get("feature", ""), "constraint_check_type": kind,
                        "description": _description(verdict.check, verdict.value, verdict.threshold,
                                                    dict(verdict.detail))})
    for (check, feature), count in sorted(snapshot.violations.items()):
        if count and check == SchemaCheck.MISSING_COLUMN:
            out.append({"feature_name": feature, "constraint_check_type": VIOLATION_TYPES[check],
                        "description": f"Column {feature} is missing from {count} rows read"})
        elif count and check == SchemaCheck.EXTRA_COLUMN:
            out.append({"feature_name": feature, "constraint_check_type": VIOLATION_TYPES[check],
                        "description": f"{count} values arrived in columns the model does not know (their names "
                                       "are in the exporter's log)"})
    return {"violations": out}
