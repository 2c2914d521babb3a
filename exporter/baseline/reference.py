"""The reference (baseline): which columns are features, and each feature's bins and drift rule built from it.

The reference is read once at start (a Parquet reference a column at a time), its feature columns are
chosen (:func:`feature_columns`: those configured, else every column without a role), and each feature
is built (:mod:`exporter.baseline.features`) with its drift method and calibrated threshold
(:mod:`exporter.baseline.methods`). Everything a drift statistic needs from the reference is kept as
counts, so the raw reference can be dropped afterwards.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa

from exporter.baseline.features import (
    CategoricalFeature,
    NumericFeature,
    build_categorical,
    build_numeric,
    text_among_numbers,
)
from exporter.baseline.methods import UNSET, with_drift_rule
from exporter.baseline.multivariate import Reconstruction
from exporter.config import (
    ConfigError,
    ModelConfig,
    missing_values,
    never_features,
    role_columns,
    text_columns,
)
from exporter.memory import release_arrow_cache
from exporter.sources.tables import format_of, normalized, read_table
from exporter.values.missing import tokens

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Reference:
    numeric: tuple[NumericFeature, ...]
    categorical: tuple[CategoricalFeature, ...]
    rows: int
    #: The PCA reconstruction of the features (multivariate drift); None when off, with fewer than two features,
    #: or in a baseline file built before it.
    multivariate: Reconstruction | None = None

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.numeric] + [f.name for f in self.categorical]

    @property
    def num_bins(self) -> int:
        """Width of the numeric features' count arrays: the most bins of any numeric feature."""
        return max((f.n_bins for f in self.numeric), default=1)

    @property
    def cat_bins(self) -> int:
        """Width of the categorical features' count arrays: the most slots of any categorical feature."""
        return max((c.n_bins for c in self.categorical), default=1)

    def fingerprint(self) -> str:
        """Identifies the bin layout; persisted state from another layout is not reused."""
        digest = hashlib.sha256()
        for f in self.numeric:
            digest.update(f"n:{f.name}:".encode())
            digest.update(np.ascontiguousarray(f.edges, dtype=np.float64).tobytes())
        for c in self.categorical:
            digest.update(json.dumps(["c", c.name, list(c.categories)]).encode())
        return digest.hexdigest()[:16]


def build_reference(model: ModelConfig, frame: pd.DataFrame, where: str = "config") -> Reference:
    """Decide the features of ``model`` and fix their bins from the reference ``frame``."""
    frame = normalized(frame)
    return build_reference_columns(model, frame.iloc[:0], len(frame), lambda name: frame[name], where)


def build_reference_columns(model: ModelConfig, schema: pd.DataFrame, rows: int,
                            column: Callable[[str], pd.Series], where: str = "config") -> Reference:
    """:func:`build_reference` from the reference's columns, read one at a time by ``column``: ``schema`` has
    the reference's columns and types (no rows are needed), ``rows`` its size."""
    prefix = f"{where}: models[{model.name}]"
    if not rows:
        raise ConfigError(f"{prefix}.reference: {model.reference} has no rows")
    numeric, categorical = feature_columns(model, schema, where)

    def build(name: str) -> NumericFeature | CategoricalFeature:
        feature = build_one(name)
        # The column is garbage now; Arrow's pool would keep it in this thread's heap, and the next
        # column's buffers would not all fit there: 20-25 MiB less at the build's peak (1M rows).
        release_arrow_cache()
        return feature

    def build_one(name: str) -> NumericFeature | CategoricalFeature:
        missing = missing_values(model, name)
        values = tokens(missing).apply(column(name))
        feature: NumericFeature | CategoricalFeature
        if name in numeric_set:
            example = text_among_numbers(values)
            if example is not None:
                raise ConfigError(f"{prefix}.features.numeric: reference column {name!r} holds no number (e.g. "
                                  f"{example[:40]!r}): list it under features.categorical, or name the token "
                                  "in missing_values")
            feature = replace(build_numeric(name, values, UNSET, 0.0), missing_values=missing)
            return with_drift_rule(model, feature, "numeric", rows, f"{prefix}.drift", values)
        feature = replace(build_categorical(name, values, UNSET, 0.0, model.max_categories), missing_values=missing)
        return with_drift_rule(model, feature, "categorical", rows, f"{prefix}.drift", values)

    numeric_set = set(numeric)
    # Features are built two at a time: sorting, counting and reading columns release the GIL.
    with ThreadPoolExecutor(max_workers=BUILD_THREADS) as pool:
        features = list(pool.map(build, numeric + categorical))
    return Reference(tuple(features[: len(numeric)]), tuple(features[len(numeric):]), rows)  # type: ignore[arg-type]


#: Features of a reference built at once.
BUILD_THREADS = 2


def feature_columns(model: ModelConfig, schema: pd.DataFrame, where: str = "config") -> tuple[list[str], list[str]]:
    """The numeric and the categorical features of ``model``, from its reference's columns and types."""
    prefix = f"{where}: models[{model.name}]"
    columns = set(map(str, schema.columns))
    named = {
        "prediction_column": model.prediction_column,
        "score_column": model.score_column,
    }
    for key, column in named.items():
        if column and column not in columns:
            raise ConfigError(f"{prefix}.{key}: column {column!r} is not in the reference {model.reference}")
    if model.features is not None and (model.features.numeric or model.features.categorical):
        numeric = list(model.features.numeric)
        categorical = list(model.features.categorical)
        for kind, names in (("numeric", numeric), ("categorical", categorical)):
            for name in names:
                if name not in columns:
                    raise ConfigError(
                        f"{prefix}.features.{kind}: column {name!r} is not in the reference {model.reference}"
                    )
        both = set(numeric) & set(categorical)
        if both:
            raise ConfigError(f"{prefix}.features: {sorted(both)} listed as both numeric and categorical")
    else:
        roles = never_features(model)
        numeric, categorical = [], []
        for column in map(str, schema.columns):
            if column in roles:
                continue
            dtype = schema[column].dtype
            if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
                numeric.append(column)
            else:
                categorical.append(column)
    if not numeric and not categorical:
        raise ConfigError(f"{prefix}.features: the reference {model.reference} has no feature column")
    unknown = sorted(set(model.drift.features) - set(numeric) - set(categorical))
    if unknown:
        raise ConfigError(f"{prefix}.drift.features: {unknown} are not features of this model")
    unknown = sorted(set(model.feature_importance) - set(numeric) - set(categorical))
    if unknown:
        raise ConfigError(f"{prefix}.feature_importance: {unknown} are not features of this model")
    return numeric, categorical


def load_reference(model: ModelConfig, where: str = "config") -> tuple[Reference, pd.DataFrame]:
    """Read the reference file of ``model`` and build its bins; returns the frame of its other columns too.

    A Parquet reference is read a column at a time: only one feature's values are in memory at once,
    whatever the reference's size. The frame returned holds every column but the features (those
    with another role too, such as segments and class scores, included): the outputs, labels and
    segments the rest of the baseline is computed from.
    """
    path = model.reference
    if path is None:
        raise ConfigError(f"{where}: models[{model.name}]: no reference to read")
    try:
        if format_of(path) == "parquet":
            return _load_parquet_reference(model, where)
        frame = read_table(path, text_columns=text_columns(model))
    except ConfigError:
        raise
    except Exception as error:  # noqa: BLE001 - any reader failure is a configuration problem to report
        raise ConfigError(f"{where}: models[{model.name}].reference: cannot read {path}: {error}") from None
    return build_reference(model, frame, where), frame


def reference_rows(model: ModelConfig, reference: Reference, frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """The rows ``rows`` (positions) of the reference with their features: ``frame`` (as :func:`load_reference`
    returned it) where it holds them, else read again from the Parquet file one feature at a time, keeping
    only those rows (memory: the rows taken, never the whole reference)."""
    taken = frame.iloc[rows].reset_index(drop=True)
    missing = [name for name in reference.feature_names if name not in taken.columns]
    if missing and model.reference is not None and format_of(model.reference) == "parquet":
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(model.reference, buffer_size=1 << 20, pre_buffer=False)
        head = rows.size and int(rows[-1]) == rows.size - 1  # the first rows: read only as far as them
        for name in missing:
            if head:
                batches = []
                for batch in parquet.iter_batches(batch_size=65536, columns=[name], use_threads=False):
                    batches.append(batch.column(0))
                    if sum(len(b) for b in batches) >= rows.size:
                        break
                column = pa.concat_arrays(batches).slice(0, rows.size)
            else:
                column = parquet.read(columns=[name], use_threads=False).column(0).take(rows)
            taken[name] = normalized(column.to_pandas().to_frame(name))[name].to_numpy()
    return taken


def _load_parquet_reference(model: ModelConfig, where: str) -> tuple[Reference, pd.DataFrame]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(model.reference, buffer_size=1 << 20, pre_buffer=False)
    schema = normalized(parquet.schema_arrow.empty_table().to_pandas())

    def column(name: str) -> pd.Series:
        return parquet.read(columns=[name], use_threads=False).to_pandas()[name]

    reference = build_reference_columns(model, schema, parquet.metadata.num_rows, column, where)
    used = never_features(model) | set(role_columns(model))
    features = set(reference.feature_names) - used
    rest = [name for name in map(str, schema.columns) if name not in features]
    frame = normalized(parquet.read(columns=rest).to_pandas(split_blocks=True)) if rest else \
        pd.DataFrame(index=pd.RangeIndex(parquet.metadata.num_rows))
    return reference, frame


