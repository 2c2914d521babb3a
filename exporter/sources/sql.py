"""Incremental reader of a database table or query, through SQLAlchemy: the SQL twin of :mod:`exporter.sources.files`.

Rows are read in order of ``(timestamp, id)``, one bounded batch per query
(keyset pagination: ``ts >= :t AND (ts > :t OR id > :i) ORDER BY ts, id LIMIT n``, which an index on
``(ts, id)`` serves as a range scan in order),
so rows sharing a timestamp are each read exactly once and a restart continues
where the saved watermark stopped.

A row may be committed after rows with later timestamps were read: its
transaction was slow, or the application stamps a row before it inserts it.
Such a row lies behind the watermark. Every read therefore also looks back over
the grace period (``sql.grace``): it counts the rows stamped within it up to the
watermark and, when the database holds more than were read there, fetches
those and keeps the ones not read yet (the keys read within the grace period
are remembered as hashes, saved with the watermark). A row committed later than
``grace`` after the watermark passed its timestamp is not read (logged and
counted nowhere, as a file line written into the past would be: choose
``grace`` above the longest transaction). Rows without a timestamp cannot be
ordered: their number is counted as ``missing_timestamp`` when it grows.

The text the SQL is built from goes through SQLAlchemy's expression language,
so names are quoted by the dialect, and the conditions are plain comparisons
and OR (no row-value comparison), which PostgreSQL, SQLite, Trino, Spark SQL and
ClickHouse all accept. The password is taken from an environment variable or a
file, and the URL is only ever shown with the password hidden.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from exporter.config import ConfigError, SqlConfig
from exporter.sources.cursors import Chunk, SourceError
from exporter.sources.sql_engine import create_engine, error_message, redacted
from exporter.sources.sql_watermark import Watermark, key_hashes
from exporter.values.timestamps import EPOCH_UNITS, epoch_seconds, parse_timestamps
from exporter.values.vocabulary import RejectReason

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


class SqlSource:
    """New rows of a table or query, in (timestamp, id) order, each read once (see the module's docstring)."""

    def __init__(self, sql: SqlConfig, timestamp_column: str, key_column: str, timestamp_unit: str = "auto",
                 columns: list[str] | None = None, where: str = "sql"):
        import sqlalchemy as sa

        self.sql = sql
        self.ts_name = timestamp_column
        self.key_name = key_column
        self.unit = timestamp_unit
        self.where = where
        #: What log lines and errors call this source (the URL without its password).
        self.pattern = f"{redacted(sql.url)} ({sql.table or 'query'})"
        try:
            self.engine = create_engine(sql)
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None
        self.watermark = Watermark()
        #: Hashes and epoch seconds of the rows read within the grace period before the watermark.
        self.seen_hash = np.zeros(0, dtype=np.uint64)
        self.seen_ts = np.zeros(0)
        #: Rows without a timestamp counted so far (rejected as missing_timestamp when the count grows).
        self.null_rows = 0
        #: The file sources' loss counters: a database loses nothing by rotation.
        self.lost_bytes = 0
        self.lost_files = 0
        if sql.table is not None:
            schema, _, name = sql.table.rpartition(".")
            source: Any = sa.table(name, schema=schema or None)
        else:
            source = sa.text(sql.query or "").columns().subquery("model_monitor_source")
        self._from = source
        self.ts = sa.column(self.ts_name)
        self.key = sa.column(self.key_name)
        self._columns = [sa.column(c) for c in columns] if columns else [sa.literal_column("*")]
        #: With ``sql.pushdown``: the columns new rows are read with (the features are aggregated instead),
        #: those of ``narrow_names`` the table or query has (known once the database answered).
        self.narrow_names: list[str] | None = None
        self.narrow: list[Any] | None = None

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    # -- what the model saves ---------------------------------------------------------------

    def saved(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The state saved with the model's other cursors: JSON-able metadata and arrays."""
        return ({"watermark": self.watermark.to_json(), "null_rows": self.null_rows},
                {"seen_hash": self.seen_hash, "seen_ts": self.seen_ts})

    def restore(self, saved: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> None:
        """Continue from :meth:`saved`'s state (an empty mapping: from the first row)."""
        arrays = arrays or {}
        self.watermark = Watermark.from_json(saved.get("watermark") or {})
        self.null_rows = int(saved.get("null_rows", 0))
        self.seen_hash = arrays.get("seen_hash", np.zeros(0)).astype(np.uint64)
        self.seen_ts = arrays.get("seen_ts", np.zeros(0)).astype(np.float64)
        if self.seen_hash.shape != self.seen_ts.shape:
            raise ValueError("the saved keys of the grace period do not match their timestamps")

    # -- queries ------------------------------------------------------------------------------

    def validate(self, aggregation: Callable[[Any, Any, Any], Any] | None = None) -> None:
        """Run the query (and the pushdown ``aggregation``) once with no row: bad SQL or a missing column is a
        ConfigError naming the database's message; an unreachable database is only logged (the exporter
        starts, and retries each update)."""
        import sqlalchemy as sa

        try:
            connection = self.engine.connect()
        except sa.exc.SQLAlchemyError as error:
            log.warning("%s: cannot connect to %s yet (%s); reading will be retried every update", self.where,
                        self.pattern, error_message(error))
            return
        with connection:
            what = "query" if self.sql.query else f"table {self.sql.table!r}"
            try:
                names = self._names(connection)
            except sa.exc.SQLAlchemyError as error:
                raise ConfigError(f"{self.where}: the database refused the {what}: {error_message(error)}") from None
            statement = aggregation(self._from, sa.false(), self.ts) if aggregation is not None else None
            if statement is not None:
                try:
                    connection.execute(statement)
                except sa.exc.SQLAlchemyError as error:
                    raise ConfigError(f"{self.where}: the database refused the pushdown aggregation over the {what} "
                                      f"(numeric features must be numeric columns): {error_message(error)}") from None
        missing = [c for c in (self.ts_name, self.key_name) if c not in names]
        if missing and "*" not in names:
            raise ConfigError(f"{self.where}: the {'query' if self.sql.query else 'table'} has no column "
                              f"{', '.join(map(repr, missing))} (it has {sorted(names)})")

    def _names(self, connection: Any) -> set[str]:
        """The columns of the table or query (and, under pushdown, which narrow columns to read)."""
        import sqlalchemy as sa

        result = connection.execute(sa.select(*self._columns).select_from(self._from).where(sa.false()))
        names = set(result.keys())
        if self.narrow_names is not None:
            self.narrow = [sa.column(c) for c in self.narrow_names if c in names or "*" in names]
        return names

    def _after(self) -> Any:
        import sqlalchemy as sa

        mark = self.watermark
        if mark.ts is None:
            return self.ts.is_not(None)
        # (ts, id) > (t, i), written so that an index on (ts, id) serves it as a range scan in order.
        return sa.and_(self.ts >= mark.ts, sa.or_(self.ts > mark.ts, self.key > mark.key))

    def _back_to(self) -> Any:
        """Rows within the grace period up to the watermark (None before the first read)."""
        import sqlalchemy as sa

        mark = self.watermark
        if mark.ts is None:
            return None
        low = self._minus_grace(mark.ts)
        return sa.and_(self.ts >= low, self.ts <= mark.ts, sa.or_(self.ts < mark.ts, self.key <= mark.key))

    def _minus_grace(self, ts: Any) -> Any:
        if isinstance(ts, datetime):
            return ts - timedelta(seconds=self.sql.grace)
        number = float(ts)
        unit_seconds = EPOCH_UNITS[self.unit] if self.unit != "auto" else \
            float(epoch_seconds(np.array([number]))[0] / number) if number else 1.0
        return number - self.sql.grace / unit_seconds

    def _epoch(self, ts: Any) -> float:
        if isinstance(ts, datetime):
            return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp()
        return float(epoch_seconds(np.array([float(ts)]), self.unit)[0])

    def _frame(self, result: Any) -> pd.DataFrame:
        frame = result_frame(result)
        column = frame.get(self.ts_name)
        if column is not None and column.dtype == object and len(column) and \
                isinstance(column.dropna().iloc[0] if column.notna().any() else None, datetime):
            frame[self.ts_name] = pd.to_datetime(column, utc=True)  # mixed offsets or naive+aware
        return frame

    def _late(self, connection: Any) -> tuple[pd.DataFrame, int]:
        """Rows committed behind the watermark within the grace period and not read yet; new rows without time."""
        import sqlalchemy as sa

        back = self._back_to()
        null_count = connection.execute(sa.select(sa.func.count()).select_from(self._from)
                                        .where(self.ts.is_(None))).scalar_one()
        new_nulls = max(0, int(null_count) - self.null_rows)
        self.null_rows = int(null_count)
        if back is None:
            return pd.DataFrame(), new_nulls
        count = connection.execute(sa.select(sa.func.count()).select_from(self._from).where(back)).scalar_one()
        low = self._epoch(self._minus_grace(self.watermark.ts))
        if int(count) <= int((self.seen_ts >= low).sum()):
            return pd.DataFrame(), new_nulls
        frame = self._frame(connection.execute(
            sa.select(*self._columns).select_from(self._from).where(back).order_by(self.ts, self.key)))
        if frame.empty:
            return frame, new_nulls
        unseen = ~np.isin(key_hashes(frame[self.ts_name], frame[self.key_name]), self.seen_hash)
        frame = frame.loc[unseen].reset_index(drop=True)
        if len(frame):
            log.info("%s: %d rows committed late (within sql.grace) read now", self.where, len(frame))
        return frame, new_nulls

    def _next(self, connection: Any) -> pd.DataFrame:
        """The next batch of new rows; SourceError (before anything is consumed) when the timestamps cannot
        carry a watermark."""
        import sqlalchemy as sa

        statement = (sa.select(*(self.narrow or self._columns)).select_from(self._from).where(self._after())
                     .order_by(self.ts, self.key).limit(self.sql.rows_per_query))
        frame = self._frame(connection.execute(statement))
        if len(frame):
            ts = frame[self.ts_name].iloc[-1]
            if isinstance(ts, str) or not isinstance(ts, (pd.Timestamp, datetime, int, float, Decimal, np.number)):
                raise SourceError(f"the timestamp column {self.ts_name!r} holds {type(ts).__name__} values: it must "
                                  "be a SQL timestamp (with or without time zone) or an epoch number")
        return frame

    def _remember(self, frame: pd.DataFrame) -> None:
        """Move the watermark past ``frame``'s rows and remember their keys for the grace period."""
        if frame.empty:
            return
        last = frame.iloc[-1]
        ts = last[self.ts_name]
        self.watermark = Watermark(ts.to_pydatetime() if isinstance(ts, pd.Timestamp) else _plain(ts),
                                   _plain(last[self.key_name]))
        seconds = parse_timestamps(frame[self.ts_name], self.unit)
        low = self._epoch(self._minus_grace(self.watermark.ts))
        keep = self.seen_ts >= low
        fresh = np.flatnonzero(seconds >= low)  # in a backlog, only the last rows of the batch
        hashes = key_hashes(frame[self.ts_name].iloc[fresh], frame[self.key_name].iloc[fresh])
        self.seen_hash = np.concatenate([self.seen_hash[keep], hashes])
        self.seen_ts = np.concatenate([self.seen_ts[keep], seconds[fresh]])

    # -- the source interface ---------------------------------------------------------------

    def drain(self, consume: Callable[[Chunk], None], budget: int | None) -> list[str]:
        """Hand late rows, then new rows, to ``consume``: one batch of ``sql.batch_rows`` when ``budget`` is
        set, else everything. Raises :class:`SourceError` when the database cannot be reached or refuses a
        query; the watermark then stays where the last consumed batch left it (nothing lost, nothing doubled)."""
        import sqlalchemy as sa

        try:
            with self.engine.connect() as connection:
                if self.narrow_names is not None and self.postgres:
                    # The narrow rows and the aggregation of a batch must see the same rows.
                    connection = connection.execution_options(isolation_level="REPEATABLE READ")
                with connection.begin():
                    if self.narrow_names is not None and self.narrow is None:
                        self._names(connection)
                    late, nulls = self._late(connection)
                if nulls:
                    consume(Chunk(self.pattern, pd.DataFrame(), None, Counter({RejectReason.MISSING_TIMESTAMP: nulls})))
                if len(late):
                    consume(Chunk(self.pattern, late, None, nbytes=len(late)))
                    self._remember_late(late)
                while True:
                    with connection.begin():
                        frame = self._next(connection)
                        if len(frame):
                            batch = SqlBatch(self, connection, frame) if self.narrow is not None else None
                            consume(Chunk(self.pattern, frame, None, nbytes=len(frame), batch=batch))
                    if len(frame):
                        self._remember(frame)
                    if len(frame) < self.sql.rows_per_query or budget is not None:
                        break
        except sa.exc.SQLAlchemyError as error:
            self.engine.dispose()  # a restarted database: start from fresh connections
            raise SourceError(error_message(error)) from None
        return []

    def _remember_late(self, frame: pd.DataFrame) -> None:
        self.seen_hash = np.concatenate([self.seen_hash, key_hashes(frame[self.ts_name], frame[self.key_name])])
        self.seen_ts = np.concatenate([self.seen_ts, parse_timestamps(frame[self.ts_name], self.unit)])

    def close(self) -> None:
        self.engine.dispose()


class SqlBatch:
    """One batch of new rows under pushdown, with its transaction still open: the aggregation of the same
    range of rows, or the full rows when the batch has to be read as rows after all."""

    def __init__(self, source: SqlSource, connection: Any, frame: pd.DataFrame):
        import sqlalchemy as sa

        self.source = source
        self.connection = connection
        self.frame = frame
        last = frame.iloc[-1]
        ts, key = self.native(len(frame) - 1), _plain(last[source.key_name])
        #: The rows of this batch: after the watermark, up to and including its last row.
        self.range = sa.and_(source._after(), source.ts <= ts, sa.or_(source.ts < ts, source.key <= key))

    def native(self, position: int) -> Any:
        """The timestamp of the row at ``position`` as the database returned it (to bind it back)."""
        value = self.frame[self.source.ts_name].iloc[position]
        return value.to_pydatetime() if isinstance(value, pd.Timestamp) else _plain(value)

    def full_rows(self) -> pd.DataFrame:
        import sqlalchemy as sa

        s = self.source
        return s._frame(self.connection.execute(sa.select(*s._columns).select_from(s._from).where(self.range)
                                                .order_by(s.ts, s.key)))

    def aggregate(self, build: Callable[[Any, Any, Any], Any], first: int, last: int) -> pd.DataFrame:
        """Run the statement ``build(source, where, ts)`` over the rows from position ``first`` to ``last``."""
        import sqlalchemy as sa

        s = self.source
        where = sa.and_(self.range, s.ts >= self.native(first), s.ts <= self.native(last))
        statement = build(s._from, where, s.ts)
        if statement is None:
            return pd.DataFrame()
        return result_frame(self.connection.execute(statement))


def result_frame(result: Any) -> pd.DataFrame:
    """The rows of an SQLAlchemy result as a frame, from the driver's own tuples (SQLAlchemy's Row objects
    would cost a Python call per value; the lightweight tables here declare no types to convert anyway)."""
    columns = list(result.keys())
    cursor = getattr(result, "cursor", None)
    rows = cursor.fetchall() if cursor is not None else [tuple(row) for row in result]
    result.close()
    return pd.DataFrame.from_records(rows, columns=columns) if rows else pd.DataFrame(columns=columns)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value the driver binds."""
    return value.item() if isinstance(value, np.generic) else value


