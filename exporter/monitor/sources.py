"""The readers of a model's logs: files, or a database table or query."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from exporter.baseline.reference import Reference
from exporter.config import ModelConfig, role_columns, text_columns
from exporter.sources.files import FileSource
from exporter.sources.tables import InputLimits

if TYPE_CHECKING:
    from exporter.sources.sql import SqlSource

    Source = FileSource | SqlSource


def open_source(config: ModelConfig, kind: str, reference: Reference,
                pushdown: Callable[[SqlSource], Callable[[Any, Any, Any], Any]] | None = None) -> Source:
    """The reader of ``config``'s ``predictions`` or ``labels`` log: files, or a database table or query.

    A database is asked once for the query's columns (and, under ``sql.pushdown``, for the aggregation
    ``pushdown`` sets up), so bad SQL is a ConfigError at start (an unreachable database is not: it is
    retried every update).
    """
    section = config.predictions if kind == "predictions" else config.labels
    assert section is not None
    if section.sql is not None:
        from exporter.sources.sql import SqlSource

        key = config.predictions.id_column if kind == "predictions" else config.labels.id_column  # type: ignore[union-attr]
        source = SqlSource(section.sql, section.sql.timestamp_column or config.predictions.timestamp_column,
                           key or "", config.predictions.timestamp_unit, where=f"model {config.name}: {kind}.sql")
        source.validate(pushdown(source) if pushdown is not None and section.sql.pushdown else None)
        return source
    categorical = {c.name for c in reference.categorical}
    text = text_columns(config) | categorical
    limits = InputLimits(**config.input_limits.model_dump())
    # Categorical features with no other role are read from Parquet as dictionaries: rows.feature_codes
    # codes each batch's distinct values once instead of every row's text.
    dictionary = frozenset(categorical - set(role_columns(config))) if kind == "predictions" else frozenset()
    assert section.path is not None
    return FileSource(section.path, section.format, text_columns=text, limits=limits, dictionary_columns=dictionary)
