"""The configuration's schema and defaults, written with pydantic (``extra="forbid"`` rejects unknown keys)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from exporter.values.durations import format_duration, parse_duration


class ConfigError(Exception):
    """The configuration cannot be used; the message says what to fix."""


DriftMethod = Literal["psi", "ks", "js", "wasserstein", "chi2", "auto"]
Task = Literal["binary_classification", "multiclass_classification", "regression"]

#: Methods only defined for numbers; categorical features fall back to ``categorical_method``.
NUMERIC_ONLY_METHODS = frozenset({"ks", "wasserstein"})
#: Threshold used when a method is chosen without one. chi2 is a p-value test: drift below it.
DEFAULT_THRESHOLDS = {"psi": 0.2, "ks": 0.1, "js": 0.1, "wasserstein": 0.1, "chi2": 0.05}


def _duration(value: Any) -> float:
    return parse_duration(value)


Seconds = Annotated[float, BeforeValidator(_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Window:
    """A sliding window: its label as configured (``5m``) and its length in seconds."""

    label: str
    seconds: float


def _window(value: Any) -> Window:
    if isinstance(value, Window):
        return value
    seconds = parse_duration(value)
    label = value.strip() if isinstance(value, str) else format_duration(seconds)
    return Window(label=label, seconds=seconds)


WindowSpec = Annotated[Window, BeforeValidator(_window), PlainSerializer(lambda w: w.label, return_type=str)]


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=9108, ge=0, le=65535)
    #: Prometheus web configuration file (TLS, basic auth), as ``--web.config.file``.
    web_config_file: Path | None = None
    #: Open connections the HTTP server holds at most; more are closed at once (and counted).
    max_connections: int = Field(default=1024, ge=1, le=100_000)


class SqlConfig(_Strict):
    """A table or query of a database, read through SQLAlchemy (see :mod:`exporter.sources.sql`)."""

    #: An SQLAlchemy URL (``sqlite:///preds.db``, ``postgresql+psycopg://user@host:5432/db``). A relative
    #: SQLite path is relative to the config file. Give the password with ``password_env`` or
    #: ``password_file`` rather than in the URL; it is never logged either way.
    url: str
    #: The table (``schema.table`` allowed) ...
    table: str | None = None
    #: ... or a SELECT whose rows are the log (read as a subquery). Exactly one of the two.
    query: str | None = None
    #: The environment variable, or the file (first line), holding the password.
    password_env: str | None = None
    password_file: Path | None = None
    #: The column rows are read in order of (with the id column): predictions default to
    #: ``predictions.timestamp_column``; labels need one (their own time, or the predictions').
    timestamp_column: str | None = None
    #: Rows committed up to this long after rows with later timestamps were read are still read once.
    grace: Seconds = 60.0
    #: Rows one query fetches at most; an update runs one query (a backlog is worked off over updates).
    #: Default 100,000, or 1,000,000 under pushdown (narrow rows are small, and the aggregation returns
    #: a row per time group and bin: it pays when a batch holds many rows per group).
    batch_rows: int | None = Field(default=None, ge=1, le=10_000_000)
    #: Seconds to wait for a connection before the update counts a read error.
    connect_timeout: Seconds = 10.0
    #: Ask the database for per-bucket bin counts of the features instead of fetching their values
    #: (see :mod:`exporter.monitor.pushdown`).
    pushdown: bool = False

    @property
    def rows_per_query(self) -> int:
        return self.batch_rows or (1_000_000 if self.pushdown else 100_000)

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlConfig:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of table and query")
        if self.password_env is not None and self.password_file is not None:
            raise ValueError("give at most one of password_env and password_file")
        return self


class PredictionsConfig(_Strict):
    #: A glob of log files, or ``sql``: a database table or query. Exactly one of the two.
    path: str | None = None
    sql: SqlConfig | None = None
    timestamp_column: str = "ts"
    id_column: str | None = None
    #: jsonl, csv or parquet; by default taken from each file's extension.
    format: Literal["jsonl", "csv", "parquet"] | None = None
    #: Unit of numeric (epoch) timestamps; ``auto`` tells seconds, milliseconds, microseconds and
    #: nanoseconds apart by magnitude (any epoch after 1973 is unambiguous).
    timestamp_unit: Literal["auto", "s", "ms", "us", "ns"] = "auto"

    @model_validator(mode="after")
    def _path_or_sql(self) -> PredictionsConfig:
        _one_source(self.path, self.sql)
        return self


def _one_source(path: str | None, sql: SqlConfig | None) -> None:
    if (path is None) == (sql is None):
        raise ValueError("give exactly one of path (log files) and sql (a database table or query)")


class LabelsConfig(_Strict):
    path: str | None = None
    sql: SqlConfig | None = None
    id_column: str
    label_column: str
    #: The label's own time (when its outcome was known or logged): label delay is this time minus the
    #: prediction's. Default: a column named like ``predictions.timestamp_column``, when the labels log has
    #: one; without either, the time the exporter read the label.
    timestamp_column: str | None = None
    #: Unit of numeric label timestamps (default: ``predictions.timestamp_unit``).
    timestamp_unit: Literal["auto", "s", "ms", "us", "ns"] | None = None
    format: Literal["jsonl", "csv", "parquet"] | None = None
    #: How long a prediction waits for its label (default: the model's longest window).
    max_delay: Seconds | None = None
    #: How long a label that arrived before its prediction waits for it.
    early_label_retention: Seconds = 3600.0
    #: Most predictions (and early labels) kept waiting; the oldest are dropped and counted beyond it.
    max_pending: int = Field(default=500_000, ge=1)

    @model_validator(mode="after")
    def _path_or_sql(self) -> LabelsConfig:
        _one_source(self.path, self.sql)
        if self.sql is not None and self.sql.pushdown:
            raise ValueError("sql.pushdown applies to predictions; labels are always read as rows")
        return self


class InputLimitsConfig(_Strict):
    """What one logged line may hold (see :class:`exporter.sources.tables.InputLimits`)."""

    max_line_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_depth: int = Field(default=64, ge=1, le=10_000)
    max_keys: int = Field(default=10_000, ge=1)


class FeaturesConfig(_Strict):
    numeric: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)


#: Drift counts only when the score is at least this large, whatever the window's size: half the
#: fixed thresholds of release 2 (Evidently's defaults), so a shift half as large as what used to
#: count as drift still counts once a window is large enough to tell it from noise, and a smaller
#: one never pages, however many rows (chi2: the JS distance of the same counts).
DEFAULT_MIN_EFFECT = {"ks": 0.05, "wasserstein": 0.05, "psi": 0.1, "js": 0.05, "chi2": 0.05}
#: Default share of feature-windows falsely flagged on stable data (calibrated thresholds): a fifth
#: of the 1% target, a margin for the asymptotic laws at small sizes (Wasserstein), the estimation
#: error of simulated quantiles, and logs whose windows are not independent draws; the rates
#: measured on real and generated data are in the README (benchmarks/false_flags.py).
DEFAULT_ALPHA = 0.002


class FeatureDriftConfig(_Strict):
    method: DriftMethod | None = None
    #: A fixed threshold (no calibration to the window's size).
    threshold: float | None = None
    alpha: float | None = Field(default=None, gt=0.0, lt=0.5)
    min_effect: float | None = Field(default=None, ge=0.0)


class DriftConfig(_Strict):
    method: DriftMethod = "auto"
    #: A fixed threshold for every feature; by default thresholds are calibrated to each window's
    #: row count: the score's (1 - alpha) quantile when nothing drifted, and at least min_effect.
    threshold: float | None = None
    #: Share of feature-windows allowed to be flagged on stable data (calibrated thresholds).
    alpha: float = Field(default=DEFAULT_ALPHA, gt=0.0, lt=0.5)
    #: The smallest score that counts as drift, per method (calibrated thresholds).
    min_effect: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_MIN_EFFECT))
    categorical_method: DriftMethod = "js"
    categorical_threshold: float | None = None
    #: Method and threshold for the drift of the score (classifiers) or predicted value (regression).
    prediction_method: Literal["psi", "ks", "js", "wasserstein", "chi2"] = "psi"
    prediction_threshold: float | None = None
    #: The dataset counts as drifted when at least this share of features drifted.
    dataset_share: float = Field(default=0.5, ge=0.0, le=1.0)
    #: Per-feature overrides of method and threshold.
    features: dict[str, FeatureDriftConfig] = Field(default_factory=dict)

    @field_validator("min_effect")
    @classmethod
    def _min_effect(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(DEFAULT_MIN_EFFECT))
        if unknown:
            raise ValueError(f"unknown methods {unknown}; min_effect is set per method: {sorted(DEFAULT_MIN_EFFECT)}")
        if any(v < 0 for v in value.values()):
            raise ValueError("a minimum effect cannot be negative")
        return {**DEFAULT_MIN_EFFECT, **value}

    @field_validator("categorical_method")
    @classmethod
    def _categorical_method(cls, value: str) -> str:
        if value in NUMERIC_ONLY_METHODS:
            raise ValueError(f"{value} is only defined for numeric features; use js, psi, chi2 or auto")
        return value


class FeatureQualityConfig(_Strict):
    """One feature's data-quality limits: the largest share of a window's rows that may fail each check.

    Each replaces the model-wide rule for this feature; a ``constraints:`` file (SageMaker's
    constraints.json) fills them in from its ``completeness`` values.
    """

    #: Replaces the reference's missing share plus ``missing_ratio_tolerance``.
    missing_ratio: float | None = Field(default=None, ge=0.0, le=1.0)
    new_category_ratio: float | None = Field(default=None, ge=0.0, le=1.0)
    out_of_range_ratio: float | None = Field(default=None, ge=0.0, le=1.0)
    type_violation_ratio: float | None = Field(default=None, ge=0.0, le=1.0)


class QualityConfig(_Strict):
    """When a data-quality ratio counts as a failed check (``check --fail-on-alert``, alert rules)."""

    #: Missing ratio allowed above the feature's missing ratio in the reference.
    missing_ratio_tolerance: float = Field(default=0.05, ge=0.0, le=1.0)
    new_category_ratio: float = Field(default=0.05, ge=0.0, le=1.0)
    out_of_range_ratio: float = Field(default=0.05, ge=0.0, le=1.0)
    #: Share of a numeric feature's values that may be of the wrong type (text where a number belongs).
    type_violation_ratio: float = Field(default=0.01, ge=0.0, le=1.0)
    #: Per-feature limits, replacing the rules above for that feature (fixed: not calibrated).
    features: dict[str, FeatureQualityConfig] = Field(default_factory=dict)
    #: The model-wide limits grow in small windows by the sampling noise of the reference's own rate:
    #: its binomial (1 - alpha) quantile at the window's rows, when that is above rate + tolerance.
    alpha: float = Field(default=DEFAULT_ALPHA, gt=0.0, lt=0.5)


class ModelConfig(_Strict):
    name: str = Field(min_length=1, max_length=128)
    task: Task
    #: The reference data (training or validation), or ``baseline``: what ``model-monitor baseline``
    #: computed from it, so production needs no copy of the data. Exactly one of the two.
    reference: Path | None = None
    baseline: Path | None = None
    #: A SageMaker Model Monitor constraints.json: the data-quality limits (completeness, domains,
    #: data type and domain content thresholds) are taken from it (see :mod:`exporter.baseline.sagemaker`).
    constraints: Path | None = None
    predictions: PredictionsConfig
    labels: LabelsConfig | None = None
    features: FeaturesConfig | None = None
    prediction_column: str | None = None
    score_column: str | None = None
    label_column: str | None = None
    latency_column: str | None = None
    latency_unit: Literal["s", "ms", "us"] = "ms"
    windows: list[WindowSpec] = Field(default_factory=lambda: [_window("5m"), _window("1h")], min_length=1)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    #: A window with fewer rows has no drift or performance series (absent, not 0).
    min_window_rows: int = Field(default=30, ge=1)
    #: Time buckets per window: the window's oldest edge is exact to 1/window_buckets of it.
    window_buckets: int = Field(default=60, ge=2, le=1000)
    #: Decision threshold on score_column for binary classification.
    decision_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    #: Multiclass CBPE: the column holding each class's predicted probability.
    class_score_columns: dict[str, str] = Field(default_factory=dict)
    #: The label value of the positive class (binary classification).
    positive_label: str | int | bool = 1
    #: The label value of the negative class (binary); by default the reference's other label value.
    negative_label: str | int | bool | None = None
    #: A column holding the outcome of the request; a row is an error when it holds none of ``ok_values``.
    error_column: str | None = None
    ok_values: list[str | int | bool | None] = Field(
        default_factory=lambda: [None, "", "ok", "OK", "success", 0, 200, False])
    #: Shown in model_info; trained_at (ISO-8601) also gives model_age_seconds.
    version: str | None = None
    trained_at: datetime | None = None
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
    #: Features kept per model; more is a configuration error (cardinality guard).
    max_features: int = Field(default=500, ge=1)
    #: Categories kept per categorical feature (most frequent in the reference); the rest count as unseen.
    max_categories: int = Field(default=100, ge=1, le=10000)
    #: Rows stamped further than this in the future are rejected (``future_timestamp``).
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


class Config(_Strict):
    interval: Seconds = 5.0
    server: ServerConfig = Field(default_factory=ServerConfig)
    state_dir: Path = Path("./state")
    #: "i/N": this replica owns the models whose name hashes to i modulo N (see exporter.monitor.shards);
    #: --shard on the command line overrides it.
    shard: str | None = None
    models: list[ModelConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_models(self) -> Config:
        names = [m.name for m in self.models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique, repeated: {', '.join(duplicates)}")
        return self


