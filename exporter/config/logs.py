"""Where a model's logs are: the prediction log and the labels log, as files or a database table or query,
and what one logged line may hold."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from exporter.config.types import Seconds, Strict


class SqlConfig(Strict):
    """A table or query of a database, read through SQLAlchemy (see :mod:`exporter.sources.sql`)."""

    #: An SQLAlchemy URL (``sqlite:///preds.db``, ``postgresql+psycopg://user@host:5432/db``). A relative
    #: SQLite path is relative to the config file. Give the password with ``password_env`` or
    #: ``password_file`` rather than in the URL; it is never logged either way.
    url: str
    #: The table (``schema.table`` allowed) ...
    table: str | None = None
    #: ... or a SELECT whose rows are the log (read as a subquery). Exactly one of the two.
    query: str | None = None
    #: The environment variable holding the database password ...
    password_env: str | None = None
    #: ... or the file holding it (its first line). At most one of the two.
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


class PredictionsConfig(Strict):
    """The prediction log: one row per prediction, with its time, features and outputs."""

    #: A glob of log files (JSON Lines, CSV or Parquet, followed through rotation) ...
    path: str | None = None
    #: ... or a database table or query. Exactly one of the two.
    sql: SqlConfig | None = None
    #: The column holding each prediction's time (ISO-8601, a datetime, or epoch numbers).
    timestamp_column: str = "ts"
    #: The column holding each prediction's id: late labels join on it, and a row logged twice is rejected.
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


class LabelsConfig(Strict):
    """A labels log of its own: the outcomes, arriving after their predictions and joined to them by id."""

    #: A glob of label files ...
    path: str | None = None
    #: ... or a database table or query. Exactly one of the two.
    sql: SqlConfig | None = None
    #: The column holding the id of the prediction a label belongs to.
    id_column: str
    #: The column holding the label (a class, or the true value of a regression).
    label_column: str
    #: The label's own time (when its outcome was known or logged): label delay is this time minus the
    #: prediction's. Default: a column named like ``predictions.timestamp_column``, when the labels log has
    #: one; without either, the time the exporter read the label.
    timestamp_column: str | None = None
    #: Unit of numeric label timestamps (default: ``predictions.timestamp_unit``).
    timestamp_unit: Literal["auto", "s", "ms", "us", "ns"] | None = None
    #: jsonl, csv or parquet; by default taken from each file's extension.
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


class InputLimitsConfig(Strict):
    """What one logged line may hold (see :class:`exporter.sources.tables.InputLimits`)."""

    #: Bytes of one line at most: a longer line is skipped to its end and counted as malformed.
    max_line_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    #: Nesting of one JSON line at most (``too_complex`` beyond).
    max_depth: int = Field(default=64, ge=1, le=10_000)
    #: Keys of one JSON line at most, at every depth together (``too_complex`` beyond).
    max_keys: int = Field(default=10_000, ge=1)
