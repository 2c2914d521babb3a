"""The configuration's schema and defaults, written with pydantic (``extra="forbid"`` rejects unknown keys): the
file, the server, each model, and how its drift and data quality are judged. Where its logs are:
:mod:`exporter.config.logs`; the building blocks: :mod:`exporter.config.types`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from exporter.config.logs import InputLimitsConfig, LabelsConfig, PredictionsConfig
from exporter.config.types import (
    DriftMethod,
    MissingToken,
    NamedDriftMethod,
    Seconds,
    Strict,
    Task,
    Window,
    WindowSpec,
    window,
)
from exporter.stats.methods import all_methods, canonical, get


class ServerConfig(Strict):
    """Where ``serve`` listens for Prometheus's scrapes."""

    #: The address to listen on (``0.0.0.0`` for every interface).
    host: str = "127.0.0.1"
    #: The port of ``/metrics``, ``/report`` and the health endpoints (``--port`` overrides it).
    port: int = Field(default=9108, ge=0, le=65535)
    #: Prometheus web configuration file (TLS, basic auth), as ``--web.config.file``.
    web_config_file: Path | None = None
    #: Open connections the HTTP server holds at most; more are closed at once (and counted).
    max_connections: int = Field(default=1024, ge=1, le=100_000)


class FeaturesConfig(Strict):
    """The features to monitor; by default every reference column without a role, typed by its dtype."""

    #: Numeric features (binned on the reference's quantiles).
    numeric: list[str] = Field(default_factory=list)
    #: Categorical features (one slot per reference category, up to ``max_categories``).
    categorical: list[str] = Field(default_factory=list)


#: Drift counts only when the score is at least this large, whatever the window's size: half the
#: fixed thresholds of release 2 (Evidently's defaults), so a shift half as large as what used to
#: count as drift still counts once a window is large enough to tell it from noise, and a smaller
#: one never pages, however many rows (chi2: the JS distance of the same counts).
DEFAULT_MIN_EFFECT = {m.name: m.default_min_effect for m in all_methods()}
#: Default share of feature-windows falsely flagged on stable data (calibrated thresholds): a fifth
#: of the 1% target, a margin for the asymptotic laws at small sizes (Wasserstein), the estimation
#: error of simulated quantiles, and logs whose windows are not independent draws; the rates
#: measured on real and generated data are in the README (benchmarks/false_flags.py).
DEFAULT_ALPHA = 0.002


class FeatureDriftConfig(Strict):
    """One feature's drift rule, replacing the model-wide one."""

    #: The feature's drift method (default: the model's, by the feature's kind).
    method: DriftMethod | None = None
    #: A fixed threshold (no calibration to the window's size).
    threshold: float | None = None
    #: The feature's share of falsely flagged windows (calibrated threshold; default: the model's).
    alpha: float | None = Field(default=None, gt=0.0, lt=0.5)
    #: The feature's smallest score that counts as drift (calibrated threshold; default: the method's).
    min_effect: float | None = Field(default=None, ge=0.0)


class DriftConfig(Strict):
    """How drift of the features and of the model's outputs is judged."""

    #: The drift method of every feature, by its name or a peer's (docs/concepts/drift.md lists them). ``auto``
    #: chooses as Evidently does: with a reference of at most 1,000 rows ks (numbers), chi2 (categories, and
    #: numbers of at most 5 values) or z (at most 2 values), else wasserstein (numbers) and js. With a numeric-only
    #: method categorical features take ``categorical_method``.
    method: DriftMethod = "auto"
    #: A fixed threshold for every feature; by default thresholds are calibrated to each window's
    #: row count: the score's (1 - alpha) quantile when nothing drifted, and at least min_effect.
    threshold: float | None = None
    #: Share of feature-windows allowed to be flagged on stable data (calibrated thresholds).
    alpha: float = Field(default=DEFAULT_ALPHA, gt=0.0, lt=0.5)
    #: The smallest score that counts as drift, per method (calibrated thresholds; a test's: the JS distance).
    min_effect: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_MIN_EFFECT))
    #: The method of categorical features when ``method`` is numeric only (any method defined for categories, or
    #: auto).
    categorical_method: DriftMethod = "js"
    #: A fixed threshold for the categorical features that take ``categorical_method`` (default: calibrated).
    categorical_threshold: float | None = None
    #: Method and threshold for the drift of the score (classifiers) or predicted value (regression).
    prediction_method: NamedDriftMethod = "psi"
    #: A fixed threshold of prediction drift (default: calibrated).
    prediction_threshold: float | None = None
    #: The dataset counts as drifted when at least this share of features drifted.
    dataset_share: float = Field(default=0.5, ge=0.0, le=1.0)
    #: Per-feature overrides of method and threshold.
    features: dict[str, FeatureDriftConfig] = Field(default_factory=dict)

    @field_validator("min_effect")
    @classmethod
    def _min_effect(cls, value: dict[str, float]) -> dict[str, float]:
        named = {}
        for name, effect in value.items():
            try:
                named[canonical(name)] = effect
            except ValueError:
                raise ValueError(f"unknown method {name!r}; min_effect is set per method: "
                                 f"{sorted(DEFAULT_MIN_EFFECT)}") from None
        if any(v < 0 for v in named.values()):
            raise ValueError("a minimum effect cannot be negative")
        return {**DEFAULT_MIN_EFFECT, **named}

    @field_validator("categorical_method")
    @classmethod
    def _categorical_method(cls, value: str) -> str:
        if value != "auto" and not get(value).allows("categorical"):
            usable = ", ".join(m.name for m in all_methods() if m.allows("categorical"))
            raise ValueError(f"{value} is only defined for numeric features; use one of {usable} or auto")
        return value

    @field_validator("prediction_method")
    @classmethod
    def _prediction_method(cls, value: str) -> str:
        if not get(value).allows("numeric") or get(value).binary:
            usable = ", ".join(m.name for m in all_methods() if m.allows("numeric") and not m.binary)
            raise ValueError(f"{value} is not defined for a score or a predicted value; use one of {usable}")
        return value


class FeatureQualityConfig(Strict):
    """One feature's data-quality limits: the largest share of a window's rows that may fail each check.

    Each replaces the model-wide rule for this feature; a ``constraints:`` file (SageMaker's
    constraints.json) fills them in from its ``completeness`` values.
    """

    #: Replaces the reference's missing share plus ``missing_ratio_tolerance``.
    missing_ratio: float | None = Field(default=None, ge=0.0, le=1.0)
    #: Share of values never seen in the reference (categorical features).
    new_category_ratio: float | None = Field(default=None, ge=0.0, le=1.0)
    #: Share of values outside the reference's [min, max] (numeric features).
    out_of_range_ratio: float | None = Field(default=None, ge=0.0, le=1.0)
    #: Share of values of the wrong type (numeric features).
    type_violation_ratio: float | None = Field(default=None, ge=0.0, le=1.0)
    #: The feature's tokens that count as missing, replacing the model's ``missing_values`` for it.
    missing_values: list[MissingToken] | None = None


class QualityConfig(Strict):
    """When a data-quality ratio counts as a failed check (``check --fail-on-alert``, alert rules)."""

    #: Missing ratio allowed above the feature's missing ratio in the reference.
    missing_ratio_tolerance: float = Field(default=0.05, ge=0.0, le=1.0)
    #: Share of a categorical feature's values never seen in the reference.
    new_category_ratio: float = Field(default=0.05, ge=0.0, le=1.0)
    #: Share of a numeric feature's values outside the reference's [min, max].
    out_of_range_ratio: float = Field(default=0.05, ge=0.0, le=1.0)
    #: Share of a numeric feature's values that may be of the wrong type (text where a number belongs).
    type_violation_ratio: float = Field(default=0.01, ge=0.0, le=1.0)
    #: Per-feature limits, replacing the rules above for that feature (fixed: not calibrated), and tokens.
    features: dict[str, FeatureQualityConfig] = Field(default_factory=dict)
    #: The model-wide limits grow in small windows by the sampling noise of the reference's own rate:
    #: its binomial (1 - alpha) quantile at the window's rows, when that is above rate + tolerance.
    alpha: float = Field(default=DEFAULT_ALPHA, gt=0.0, lt=0.5)


class ModelConfig(Strict):
    """One monitored model: its reference, its logs, the roles of their columns and how it is judged."""

    #: The model's name: the ``model`` label of its series, unique in the config.
    name: str = Field(min_length=1, max_length=128)
    #: binary_classification, multiclass_classification or regression.
    task: Task
    #: The reference data (training or validation), or ``baseline``: what ``model-monitor baseline``
    #: computed from it, so production needs no copy of the data. Exactly one of the two.
    reference: Path | None = None
    #: A baseline file written by ``model-monitor baseline`` (instead of ``reference``).
    baseline: Path | None = None
    #: A SageMaker Model Monitor constraints.json: the data-quality limits (completeness, domains,
    #: data type and domain content thresholds) are taken from it (see :mod:`exporter.baseline.sagemaker`).
    constraints: Path | None = None
    #: The prediction log.
    predictions: PredictionsConfig
    #: A labels log of its own, when labels arrive apart from their predictions.
    labels: LabelsConfig | None = None
    #: The features to monitor (default: every reference column without a role).
    features: FeaturesConfig | None = None
    #: The column of the model's decision (the predicted class) or predicted value (regression).
    prediction_column: str | None = None
    #: The column of a binary classifier's score (the positive class's probability): ROC AUC, CBPE.
    score_column: str | None = None
    #: The column of the label when it is logged with the prediction (and in the reference).
    label_column: str | None = None
    #: The column of each prediction's latency: ``model_prediction_latency_seconds``.
    latency_column: str | None = None
    #: The unit of ``latency_column``.
    latency_unit: Literal["s", "ms", "us"] = "ms"
    #: The sliding windows every metric is computed over (durations: ``30m``, ``1h``, ``7d``).
    windows: list[WindowSpec] = Field(default_factory=lambda: [window("5m"), window("1h")], min_length=1)
    #: How drift is judged.
    drift: DriftConfig = Field(default_factory=DriftConfig)
    #: When a data-quality ratio fails its check.
    quality: QualityConfig = Field(default_factory=QualityConfig)
    #: A window with fewer rows (or fewer non-missing values of a feature) has no drift or performance series
    #: (absent, not 0).
    min_window_rows: int = Field(default=30, ge=1)
    #: Time buckets per window: the window's oldest edge is exact to 1/window_buckets of it.
    window_buckets: int = Field(default=60, ge=2, le=1000)
    #: The score threshold of a binary classifier that logs no ``prediction_column`` (a logged prediction is
    #: the model's decision and always wins).
    decision_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    #: Multiclass CBPE: the column holding each class's predicted probability.
    class_score_columns: dict[str, str] = Field(default_factory=dict)
    #: Watch how the features move together (PCA reconstruction error, as NannyML's multivariate drift), fitted on
    #: the reference's first rows when it is read.
    multivariate_drift: bool = True
    #: Regression: estimate MAE, MSE and RMSE before the labels arrive (direct loss estimation, as NannyML's
    #: DLE), with nanny models fitted on the reference's labelled rows when it is read.
    dle: bool = True
    #: A classifier's confidence below which a prediction counts as unsure (``model_low_confidence_ratio``):
    #: the score's distance from ``decision_threshold`` (binary, with a score), or the top class's probability
    #: (multiclass, with ``class_score_columns``). Default 0.1 for binary, 0.5 for multiclass.
    low_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    #: The label value of the positive class (binary classification).
    positive_label: str | int | bool = 1
    #: The label value of the negative class (binary); by default the reference's other label value. Needed
    #: when the reference has no labels and the classes are not 1 and 0.
    negative_label: str | int | bool | None = None
    #: A column holding the outcome of the request; a row is an error when it holds none of ``ok_values``.
    error_column: str | None = None
    #: The values of ``error_column`` that mean success.
    ok_values: list[str | int | bool | None] = Field(
        default_factory=lambda: [None, "", "ok", "OK", "success", 0, 200, False])
    #: Shown in model_info; trained_at (ISO-8601) also gives model_age_seconds.
    version: str | None = None
    #: When the model was trained (ISO-8601, UTC when no zone is given).
    trained_at: datetime | None = None
    #: The age after which the model is due for retraining (with ``trained_at``): ModelTooOld (a warning)
    #: fires once ``model_age_seconds`` passes it.
    max_model_age: Seconds | None = Field(default=None, gt=0)
    #: Columns whose values split drift and performance into segments (label ``segment``).
    segments: list[str] = Field(default_factory=list)
    #: Values kept per segment column (the most frequent in the reference); the rest are ``__other__``.
    max_segment_values: int = Field(default=10, ge=1, le=1000)
    #: Relative weight of each feature in the impact of its drift (default 1; e.g. the model's importances).
    feature_importance: dict[str, Annotated[float, Field(ge=0.0)]] = Field(default_factory=dict)
    #: Performance alerts fire when a metric falls this far below its value on the reference.
    performance_tolerance: float = Field(default=0.05, ge=0.0, le=1.0)
    #: ... or further in small windows: by z(1 - performance_alpha) times the metric's sampling noise.
    performance_alpha: float = Field(default=DEFAULT_ALPHA, gt=0.0, lt=0.5)
    #: Values of every feature that count as missing, in every format, besides null, NaN, an empty CSV cell and
    #: blank text (``[NA, n/a, -999]``: text as logged, numbers by value; ``quality.features.NAME.missing_values``
    #: per feature). By default none: ``NA`` is a category, as Namibia is.
    missing_values: list[MissingToken] = Field(default_factory=list)
    #: Features kept per model; more is a configuration error (cardinality guard).
    max_features: int = Field(default=500, ge=1)
    #: Categories drift tracks one by one per categorical feature (the most frequent in the reference); the
    #: reference's other values share one bin and are never "new".
    max_categories: int = Field(default=100, ge=1, le=10000)
    #: Rows stamped further than this in the future are rejected (``future_timestamp``); rows stamped ahead
    #: within it count from now (in the newest bucket of each window).
    max_clock_skew: Seconds = 300.0
    #: Limits on one logged line; lines beyond them are skipped and counted (``too_complex``, ``malformed_*``).
    input_limits: InputLimitsConfig = Field(default_factory=InputLimitsConfig)
    #: Prediction ids remembered to reject rows logged twice (``duplicate_id``); 0 turns it off.
    max_recent_ids: int = Field(default=100_000, ge=0, le=10_000_000)

    @model_validator(mode="after")
    def _reference_or_baseline(self) -> ModelConfig:
        if (self.reference is None) == (self.baseline is None):
            raise ValueError("give exactly one of reference (the data) and baseline (a file written by "
                             "model-monitor baseline)")
        return self

    @model_validator(mode="after")
    def _sql_keys(self) -> ModelConfig:
        if self.predictions.sql is not None and not self.predictions.id_column:
            raise ValueError("predictions.sql needs predictions.id_column: rows are read in order of "
                             "(timestamp, id), so that rows sharing a timestamp are each read once")
        return self

    @field_validator("windows")
    @classmethod
    def _distinct_windows(cls, value: list[Window]) -> list[Window]:
        labels = [w.label for w in value]
        if len(set(labels)) != len(labels):
            raise ValueError(f"windows must be distinct, got {labels}")
        return value


class Config(Strict):
    """The configuration file: how often models are updated, where the exporter listens and keeps its state,
    and the models."""

    #: How often every model reads its new rows and recomputes its windows.
    interval: Seconds = 5.0
    #: Where ``serve`` listens.
    server: ServerConfig = Field(default_factory=ServerConfig)
    #: Where each model's state is saved, so a restart neither loses nor doubles a row.
    state_dir: Path = Path("./state")
    #: "i/N": this replica owns the models whose name hashes to i modulo N (see exporter.monitor.shards);
    #: --shard on the command line overrides it.
    shard: str | None = None
    #: The monitored models.
    models: list[ModelConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_models(self) -> Config:
        names = [m.name for m in self.models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique, repeated: {', '.join(duplicates)}")
        return self


