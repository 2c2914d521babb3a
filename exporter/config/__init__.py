"""The YAML configuration: its schema and defaults (:mod:`~exporter.config.schema`), the columns each role
names (:mod:`~exporter.config.columns`), where the logs are (:mod:`~exporter.config.logs`), and reading it
(:mod:`~exporter.config.loading`).

Everything is checked when the exporter starts, so a mistake is one clear message naming the key, path or
column, never a traceback later. A layer of its own, above ``stats/`` (whose registry names the drift methods a
configuration may give) and ``values/``: every layer above reads the configuration.
``exporter.config`` is its public interface; the names below are imported from here.
"""

from exporter.config.columns import (
    label_time,
    logged_roles,
    missing_values,
    never_features,
    role_columns,
    text_columns,
)
from exporter.config.loading import load_config, parse_config, resolve_paths
from exporter.config.logs import InputLimitsConfig, LabelsConfig, PredictionsConfig, SqlConfig
from exporter.config.schema import (
    DEFAULT_ALPHA,
    DEFAULT_MIN_EFFECT,
    Config,
    DriftConfig,
    FeatureDriftConfig,
    FeatureQualityConfig,
    FeaturesConfig,
    ModelConfig,
    QualityConfig,
    ServerConfig,
)
from exporter.config.types import (
    DEFAULT_THRESHOLDS,
    ConfigError,
    DriftMethod,
    NamedDriftMethod,
    Seconds,
    Strict,
    Task,
    Window,
    WindowSpec,
)

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_MIN_EFFECT",
    "DEFAULT_THRESHOLDS",
    "Config",
    "ConfigError",
    "DriftConfig",
    "DriftMethod",
    "FeatureDriftConfig",
    "FeatureQualityConfig",
    "FeaturesConfig",
    "InputLimitsConfig",
    "LabelsConfig",
    "ModelConfig",
    "NamedDriftMethod",
    "PredictionsConfig",
    "QualityConfig",
    "Seconds",
    "ServerConfig",
    "SqlConfig",
    "Strict",
    "Task",
    "Window",
    "WindowSpec",
    "label_time",
    "load_config",
    "logged_roles",
    "missing_values",
    "never_features",
    "parse_config",
    "resolve_paths",
    "role_columns",
    "text_columns",
]
