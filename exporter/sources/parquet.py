"""Parquet files read batch by batch: the next batch decoded in a thread while the current one is ingested,
a small file read a whole column at a time, text columns of categorical features read as dictionaries.

:class:`ParquetReading` is the part of :class:`~exporter.sources.files.FileSource` that decodes Parquet; the
source itself finds the files and keeps their cursors. The cursor of a Parquet file counts the rows read.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from exporter.memory import columns_read
from exporter.sources.cursors import FINGERPRINT_BYTES, Chunk, Cursor, TrackedFile, fingerprint_of, rows_at_once
from exporter.values.vocabulary import RejectReason

log = logging.getLogger(__name__)

#: Rows of a Parquet file read at once (a record batch) at most: memory stays bounded whatever its row
#: groups. Wide files are read in fewer rows: about PARQUET_BATCH_VALUES values per batch. A batch's
#: fixed costs (a few ms) favour large batches, memory small ones: 1M values (37,000 rows of 27 columns)
#: peaks about 35 MiB lower than 1.5M in the large check, 5% slower (benchmarks/RESULTS.md).
PARQUET_BATCH_ROWS = 65_536


PARQUET_BATCH_VALUES = 1_000_000


#: Bytes read from a Parquet file at once for each column.
PARQUET_READ_BUFFER = 1 << 16


#: Parquet files of at most this many rows are read a whole column at a time, one column after the
#: other, then served batch by batch: a reader streaming batches keeps, for every column at once, its
#: buffers, a page and the dictionary page (pandas writes floats dictionary-encoded up to 1 MiB), about
#: 1.6 MiB a column, more than a whole column of 131,072 numbers (1 MiB). Their batches are of about
#: PARQUET_WHOLE_BATCH_VALUES values: the columns are in memory already, so smaller batches cost nothing
#: in reading and halve the working arrays of a batch.
PARQUET_WHOLE_COLUMN_ROWS = 131_072


PARQUET_WHOLE_BATCH_VALUES = 500_000


#: The thread that decodes the next Parquet batch while the current one is summarised.
_DECODER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet")


@dataclass
class OpenParquet:
    """A Parquet file being read batch by batch: which version of it, the batches, and the rows read.

    The next batch is decoded (and made a DataFrame) in a thread of its own while the caller
    summarises the current one: Arrow releases the GIL while it decodes.
    """

    identity: tuple[str, int, int, int]
    total: int
    batches: Iterator[pa.RecordBatch]
    position: int
    ahead: Future[pd.DataFrame | None] | None = None

    def next_frame(self) -> pd.DataFrame | None:
        """The next batch's rows (None at the end), the one after it started decoding; read errors are raised
        here."""
        frame = self.ahead.result() if self.ahead is not None else self._decode()
        self.ahead = _DECODER.submit(self._decode) if frame is not None else None
        return frame

    def _decode(self) -> pd.DataFrame | None:
        batch = next(self.batches, None)
        return None if batch is None else batch.to_pandas(split_blocks=True)


def _skip_rows(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """``batches`` without their first ``rows`` rows."""
    for batch in batches:
        if rows >= batch.num_rows:
            rows -= batch.num_rows
            continue
        yield batch.slice(rows) if rows else batch
        rows = 0


class ParquetReading:
    """Reading Parquet files (a base of :class:`~exporter.sources.files.FileSource`)."""

    dictionary_columns: frozenset[str]
    _failed: dict[str, tuple[int, int, int]]
    _parquet: dict[str, OpenParquet]

    def _read_parquet(self, f: TrackedFile, cursor: Cursor | None, key: str) -> Chunk | None:
        """The next batch of rows of a Parquet file (:data:`PARQUET_BATCH_ROWS`), ``more`` until its last.

        The cursor counts the rows read, so an update that stops between batches (the byte budget,
        a restart) goes on from the next row. A file whose size or time changes is read again from
        its first row, as new rows (Parquet files are written whole, not appended to).
        """
        stat = f.stat
        if cursor is not None and cursor.size == stat.st_size and cursor.rows < 0:
            return None  # the same content (renamed, or untouched), read to its end
        failed = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if self._failed.get(f.real) == failed:
            return None
        start = 0
        if cursor is not None:
            if cursor.rows >= 0 and (cursor.size, cursor.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                start = cursor.rows
            else:
                log.warning("%s changed after it was read; reading the new version as new rows", f.path)
        fp_len = min(FINGERPRINT_BYTES, stat.st_size)
        new_cursor = Cursor(stat.st_ino, stat.st_size, stat.st_size, stat.st_mtime_ns, path=f.real,
                            device=stat.st_dev, fp=fingerprint_of(f.prefix(fp_len)), fp_len=fp_len, kind="parquet")
        try:
            reader = self._parquet_at(f, start)
            frame = reader.next_frame()
        except (pa.ArrowException, OSError, ValueError) as error:
            # Maybe still being written: retried when the file changes.
            self._parquet.pop(f.real, None)
            self._failed[f.real] = failed
            log.warning("%s: cannot read Parquet file (%s); retrying when it changes", f.path, error)
            return Chunk(f.path, pd.DataFrame(), new_cursor, Counter({RejectReason.UNREADABLE_FILE: 1}), key=key)
        self._failed.pop(f.real, None)
        rows = 0 if frame is None else len(frame)
        reader.position += rows
        more = frame is not None and reader.position < reader.total
        if not more:
            self._parquet.pop(f.real, None)
        frame = frame if frame is not None else pd.DataFrame()
        new_cursor.rows = reader.position if more else -1
        nbytes = max(1, stat.st_size * rows // max(reader.total, 1)) if rows else 0
        return Chunk(f.path, frame, new_cursor, nbytes=nbytes, key=key, more=more)

    def _parquet_at(self, f: TrackedFile, start: int) -> OpenParquet:
        """The batches of ``f`` from row ``start`` on: the reader left open by the last batch when it is
        there, else the file opened again: a small one read whole a column at a time, a large one streamed
        from the row group holding ``start``."""
        identity = (f.real, f.stat.st_ino, f.stat.st_size, f.stat.st_mtime_ns)
        reader = self._parquet.get(f.real)
        if reader is not None and reader.identity == identity and reader.position == start:
            return reader
        import pyarrow.parquet as pq

        # A small read buffer and no pre-buffering: a batch holds its rows, not its whole row group. Every
        # column being read keeps its own buffer: 64 KiB, not 1 MiB, is 40 MiB less for 55 columns.
        parquet = pq.ParquetFile(f.real, buffer_size=PARQUET_READ_BUFFER, pre_buffer=False)
        meta = parquet.metadata
        schema = parquet.schema_arrow
        dictionary = [field.name for field in schema if field.name in self.dictionary_columns
                      and (pa.types.is_string(field.type) or pa.types.is_large_string(field.type))
                      and schema.names.count(field.name) == 1]
        if dictionary:
            parquet = pq.ParquetFile(f.real, metadata=meta, buffer_size=PARQUET_READ_BUFFER, pre_buffer=False,
                                     read_dictionary=dictionary)
            schema = parquet.schema_arrow
        first, skipped = 0, 0
        if meta.num_rows <= PARQUET_WHOLE_COLUMN_ROWS and len(set(schema.names)) == len(schema.names):
            # Each column read whole, one after the other: one column's reader state at a time.
            with columns_read():
                table = pa.Table.from_arrays([parquet.read(columns=[name], use_threads=False).column(0)
                                              for name in schema.names], schema=schema)
            rows = rows_at_once(PARQUET_BATCH_ROWS, PARQUET_WHOLE_BATCH_VALUES, meta.num_columns)
            batches: Iterator[pa.RecordBatch] = iter(table.to_batches(max_chunksize=rows))
        else:
            while first < meta.num_row_groups and skipped + meta.row_group(first).num_rows <= start:
                skipped += meta.row_group(first).num_rows
                first += 1
            rows = rows_at_once(PARQUET_BATCH_ROWS, PARQUET_BATCH_VALUES, meta.num_columns)
            batches = parquet.iter_batches(rows, row_groups=range(first, meta.num_row_groups), use_threads=False)
        reader = OpenParquet(identity, meta.num_rows, _skip_rows(batches, start - skipped), start)
        self._parquet[f.real] = reader
        return reader
