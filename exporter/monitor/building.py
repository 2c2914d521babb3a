"""Building a model's monitor: its baseline (from a baseline file or computed from its reference, with the
reference's own performance and sampling noise), its SageMaker constraints, and the monitor itself."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from exporter.baseline import multivariate, nanny, outputs, targets
from exporter.baseline.files import Baseline, read_baseline
from exporter.baseline.multivariate import Reconstruction
from exporter.baseline.nanny import NannyModels
from exporter.baseline.outputs import auc_index
from exporter.baseline.reference import Reference, load_reference, reference_rows
from exporter.baseline.target_spec import build_targets
from exporter.components import MeasuresPerformance, PerformanceBaseline, build_components
from exporter.config import Config, ConfigError, ModelConfig
from exporter.memory import release_free_memory
from exporter.monitor.layout import performance_baseline
from exporter.monitor.model import ModelMonitor
from exporter.prepare.preparer import LabelledRows
from exporter.prepare.rows import Rejections, bin_features
from exporter.prepare.segments import segment_values
from exporter.sources.tables import normalized
from exporter.stats import performance, sampling_error
from exporter.stats.sampling_error import SamplingError
from exporter.summary.sketch import ONE_GROUP

log = logging.getLogger(__name__)


def build_monitor(config: ModelConfig, state_dir: Path | None, where: str = "config") -> ModelMonitor:
    """Build ``config``'s monitor from its baseline file or its reference; ConfigError on any problem."""
    if config.baseline is not None:
        base = read_baseline(config.baseline, config, where)
    else:
        base = baseline_of_reference(config, where)
        release_free_memory()  # the reference's columns, before the windows' arrays are made
    multivariate, dle = row_models(config)
    reference = base.reference if multivariate else replace(base.reference, multivariate=None)
    spec = base.spec if dle else replace(base.spec, nanny=None)
    if config.constraints is not None:
        from exporter.baseline.sagemaker import apply_constraints, read_constraints

        config, reference = apply_constraints(config, reference, read_constraints(config.constraints, config, where),
                                              where)
    return ModelMonitor(config, reference, state_dir, spec, base.segments, performance_baseline(config, base))


def row_models(config: ModelConfig) -> tuple[bool, bool]:
    """Whether the model gets multivariate drift and DLE (their models fitted, or kept from a baseline file).

    Both need each row's features: under ``sql.pushdown`` the database aggregates them (and only the batches it
    cannot aggregate come as rows), so both are left out there rather than computed on a part of the rows. Else
    the config's switches (``multivariate_drift``, ``dle``) decide, whatever a baseline file was built with."""
    rows = not (config.predictions.sql is not None and config.predictions.sql.pushdown)
    return rows and config.multivariate_drift, rows and config.dle and config.task == "regression"


def build_monitors(config: Config, source: str = "config", persist: bool = True) -> list[ModelMonitor]:
    """A monitor per configured model, its reference read and checked; ConfigError on any problem."""
    monitors = []
    state_dir: Path | None = config.state_dir if persist else None
    if state_dir is not None:
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"{source}: state_dir: cannot create {state_dir}: {error.strerror}") from None
    for model in config.models:
        monitors.append(build_monitor(model, state_dir, source))
    return monitors


def baseline_of_reference(config: ModelConfig, where: str = "config") -> Baseline:
    """Read ``config``'s reference once and compute what the monitor needs from it; ConfigError on any problem."""
    reference, frame = load_reference(config, where)
    frame = normalized(frame)
    if len(reference.feature_names) > config.max_features:
        raise ConfigError(f"{where}: models[{config.name}]: {len(reference.feature_names)} features, more than "
                          f"max_features ({config.max_features}); list the features to monitor under features:")
    for key in ("latency_column", "error_column"):
        column = getattr(config, key)
        if column and column not in frame.columns:
            log.info("model %s: %s %r is not in the reference (fine: it is only read from the logs)",
                     config.name, key, column)
    spec = build_targets(config, frame)
    multivariate, dle = row_models(config)
    if dle:
        spec = replace(spec, nanny=fitted_nanny(config, reference, spec, frame))
    if multivariate:
        reference = replace(reference, multivariate=fitted_reconstruction(config, reference, frame))
    segments = segment_values(config, frame, where)
    return Baseline(reference, spec, segments, realized_performance(config, reference, spec, frame),
                    performance_noise(config, reference, spec, frame), sampling_errors(config, spec, frame))


def fitted_nanny(config: ModelConfig, reference: Reference, spec: targets.TargetSpec,
                 frame: pd.DataFrame) -> NannyModels | None:
    """The nanny models of a regression model, fitted on its reference's labelled rows, prepared as logged rows are
    (the same features, binned the same way), so that what they learn applies to the logs as they come."""
    t = outputs.prepare(spec, config, frame)
    rows = nanny.fit_rows(t.label, t.pred_value)
    if rows is None:
        return None
    taken = reference_rows(config, reference, frame, rows)
    inputs = bin_features(taken, reference, Rejections()).inputs(t.pred_value[rows])
    models = nanny.fit(inputs, t.label[rows], t.pred_value[rows])
    if models is not None:
        log.info("model %s: DLE nanny models fitted on %d reference rows (%d and %d trees)", config.name, rows.size,
                 models.absolute_error.roots.size, models.squared_error.roots.size)
    return models


def fitted_reconstruction(config: ModelConfig, reference: Reference, frame: pd.DataFrame) -> Reconstruction | None:
    """The PCA reconstruction of the features, fitted on the reference's first rows prepared as logged rows are."""
    rows = np.arange(min(len(frame), multivariate.MAX_FIT_ROWS))
    inputs = bin_features(reference_rows(config, reference, frame, rows), reference, Rejections()).inputs()
    fitted = multivariate.fit(inputs, [c.reference_counts for c in reference.categorical])
    if fitted is not None:
        log.info("model %s: multivariate drift on %d of %d principal components (%.0f%% of the variance)",
                 config.name, fitted.components, inputs.shape[1], 100 * multivariate.VARIANCE_SHARE)
    return fitted


#: Subsamples of the reference drawn to measure each metric's sampling noise, and their size.
NOISE_SUBSAMPLES, NOISE_ROWS = 40, 1000


def performance_noise(config: ModelConfig, reference: Reference, spec: targets.TargetSpec,
                      frame: pd.DataFrame) -> dict[str, float]:
    """Each metric's standard deviation over subsamples of the reference's labelled rows, times sqrt(size).

    Subsamples of ``min(NOISE_ROWS, labelled / 4)`` rows, drawn without replacement with a fixed
    seed; the metric's noise on a window of ``n`` rows is this over ``sqrt(n)`` (as NannyML sets
    its thresholds from the reference's chunk-to-chunk variability). Empty with fewer than 200
    labelled rows: the thresholds then rest on ``performance_tolerance`` alone.
    """
    labelled = np.flatnonzero(outputs.prepare(spec, config, frame).labelled())
    size = min(NOISE_ROWS, labelled.size // 4)
    if size < 50:
        return {}
    rng = np.random.default_rng(0)
    samples = [realized_performance(config, reference, spec, frame.iloc[rng.choice(labelled, size, replace=False)])
               for _ in range(NOISE_SUBSAMPLES)]
    metrics = set.intersection(*(set(s) for s in samples)) if samples else set()
    return {m: float(np.std([s[m] for s in samples], ddof=1) * np.sqrt(size)) for m in sorted(metrics)
            if all(np.isfinite(s[m]) for s in samples)}


def sampling_errors(config: ModelConfig, spec: targets.TargetSpec, frame: pd.DataFrame) -> dict[str, SamplingError]:
    """Each metric's sampling error terms on the reference's labelled rows, as NannyML measures them
    (:mod:`exporter.stats.sampling_error`): what a window's ``model_performance_sampling_error`` scales."""
    t = outputs.prepare(spec, config, frame)
    labelled = t.labelled()
    if spec.task == "regression":
        ok = labelled & np.isfinite(t.pred_value)
        return sampling_error.regression(t.label[ok].astype(np.float64), t.pred_value[ok])
    k = 2 if spec.task == "binary_classification" else spec.class_slots - 1  # multiclass: the tracked classes
    ok = labelled & (t.pred_class >= 0) & (t.pred_class < k) & (t.label < k)
    label, predicted = t.label[ok].astype(np.int64), t.pred_class[ok].astype(np.int64)
    confusion = np.bincount(label * k + predicted, minlength=k * k).reshape(k, k)
    if spec.task == "binary_classification":
        out = sampling_error.binary(confusion)
        scored = ok & np.isfinite(t.score)
        if scored.any() and 0 < t.label[scored].mean() < 1:
            labels, scores = t.label[scored].astype(np.float64), t.score[scored]
            out["roc_auc"] = sampling_error.binary_auc(labels, scores)
            # Average precision of each bootstrap sample as windows compute it, from its score histograms by label:
            # binned once, each sample is two bincounts (sklearn's sort of 50,000 rows, 50 times, took a second).
            index = auc_index(spec, scores)
            bins = spec.auc_edges.size + 1 if spec.auc_edges is not None else 0
            positive = labels == 1

            def average_precision(rows: np.ndarray) -> float | None:
                hits = positive[rows]
                return performance.average_precision_from_histograms(
                    np.bincount(index[rows][hits], minlength=bins), np.bincount(index[rows][~hits], minlength=bins))

            ap = sampling_error.bootstrap(average_precision, labels.size)
            if ap is not None:
                out["average_precision"] = ap
        return out
    out = sampling_error.multiclass(confusion)
    scores = t.class_scores if t.class_scores is not None else t.class_proba  # as logged, where known
    if scores is not None:
        proba = scores[ok][:, :k]
        if np.isfinite(proba).all() and np.unique(label).size == k:
            out["roc_auc"] = sampling_error.multiclass_auc(label, proba)
    return out


def realized_performance(config: ModelConfig, reference: Reference, spec: targets.TargetSpec,
                         frame: pd.DataFrame) -> dict[str, float]:
    """Realized performance of the labelled rows of ``frame`` (the reference's: the baseline of the thresholds)."""
    labelled = LabelledRows(np.zeros(len(frame)), outputs.prepare(spec, config, frame), {},
                            np.full(len(frame), np.nan))
    if not labelled.outputs.labelled().any():
        return {}
    for component in build_components(config, reference, spec, PerformanceBaseline(0.0)):
        if isinstance(component, MeasuresPerformance):
            summary = component.summarize_labels(labelled, ONE_GROUP)
            return component.metrics({name: value[0] for name, value in summary.items()})
    return {}
