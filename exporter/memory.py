"""Allocator settings: a long-running exporter gives freed memory back, a one-shot command keeps it.

An update allocates and frees tens of megabytes of arrays (a batch's columns, its bins, its
counts, the Parquet reader's pages). glibc's malloc keeps freed heap memory for reuse and grows
its threshold for serving large blocks from the heap, so a serving process's resident memory drifts
up to its largest past update, and a little beyond, by fragmentation. Arrow's default pool
(mimalloc) keeps per-thread heaps, and its jemalloc pool was measured keeping ~60 MiB of a
50-feature model's update even told to decay at once. For ``serve`` (not for one-shot commands,
where speed matters more than what is kept):

- blocks of 1 MiB and more are mapped and unmapped directly (``M_MMAP_THRESHOLD``), and the
  heap is trimmed when 8 MiB are free at its top (``M_TRIM_THRESHOLD``); while a Parquet file is read
  a whole column at a time, blocks of 256 KiB and more (:func:`columns_read`);
- Arrow allocates from the system allocator (glibc), so that what an update freed is one heap;
- after each update, :func:`release_free_memory` returns the free pages of every glibc arena to
  the system (``malloc_trim``), not only those at the top of the main heap: the Parquet reader's
  threads allocate from arenas of their own, whose free pages glibc never trims by itself.

Measured in benchmarks/RESULTS.md (resident memory of a serving process): a 50-feature model
settles ~60 MiB lower than with jemalloc, and the ingest is no slower; a trim costs ~5 ms after an
update of a million rows.

The ingest of a one-shot command (``check``, ``report``) wants the opposite: :func:`fast_allocators`
keeps what the process frees for its next arrays, so each page is faulted in once: blocks up to
32 MiB (glibc's largest threshold) from the heap, and the heap trimmed only beyond 512 MiB free.
On the large check's ingest (benchmarks/RESULTS.md) that is 66,000-93,000 page faults down to
23,000 and ~0.15 s of 1.7 s, for 5 MiB more at the peak. Set after the reference is built: its
sorts of whole columns, kept in the heap, would cost 140 MiB more at the peak. While the reference
is built, :func:`build_allocators` maps blocks of 4 MiB and more directly instead of letting glibc
raise its threshold to the size of the first column freed (its default): the columns' copies are
not left in the build threads' arenas, and the large check starts its ingest 15-30 MiB lower (peak
295-310 -> 285-292 MiB from a reference file, 2-5% slower: each column's pages are faulted in afresh).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
import logging
import sys
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

#: mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3

@functools.cache
def _glibc_library() -> ctypes.CDLL | None:
    """The C library when it is glibc (it has ``mallopt`` and ``malloc_trim``), else None."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


#: serve's thresholds (mmap, trim): see :func:`lean_allocators`.
LEAN = (1 << 20, 8 << 20)
#: serve's mmap threshold while a Parquet file is read a whole column at a time: see :func:`columns_read`.
COLUMN_READ_MMAP = 256 << 10
#: The (mmap, trim) thresholds glibc took last; None before any.
_settings: tuple[int, int] | None = None
_reads = 0
_reads_lock = threading.Lock()


def _tuned_glibc(mmap_threshold: int, trim_threshold: int) -> bool:
    """Whether glibc is the C library and took these mmap and trim thresholds."""
    global _settings
    libc = _glibc_library()
    took = libc is not None and bool(libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and \
        bool(libc.mallopt(M_TRIM_THRESHOLD, trim_threshold))
    if took:
        _settings = (mmap_threshold, trim_threshold)
    return took


@contextlib.contextmanager
def columns_read() -> Iterator[None]:
    """While a Parquet file is read a whole column at a time (:mod:`exporter.sources.files`), under serve's settings:
    blocks of 256 KiB and more are mapped directly, not only those of 1 MiB.

    Arrow's reader makes each column (0.8 MB for 100,000 numbers) amid its pages' and buffers' blocks;
    from the heap, the freed ones between the columns stay resident until the update's trim: a file of
    100,000 rows and 54 columns (44 MiB of values) took 73 MiB to read, 62 MiB this way, and an update's
    peak in ``bench_memory`` fell from 236-243 to 222-224 MiB, 1-3% slower. Outside the read (the batches'
    arrays), 1 MiB stays the threshold: below it, arrays reuse the heap's pages. Reads in several threads
    (models updating at once) share the setting until the last one ends. One-shot commands keep theirs.
    """
    global _reads
    with _reads_lock:
        _reads += 1
        if _reads == 1 and _settings == LEAN:
            _tuned_glibc(COLUMN_READ_MMAP, LEAN[1])
    try:
        yield
    finally:
        with _reads_lock:
            _reads -= 1
            if _reads == 0 and _settings == (COLUMN_READ_MMAP, LEAN[1]):
                _tuned_glibc(*LEAN)


def build_allocators() -> list[str]:
    """For a one-shot command's reference build: blocks of 4 MiB and more (a column's values, its sorted
    copy) are mapped and unmapped directly, so each column's garbage goes back to the system before
    the next is read; returns what was applied."""
    return ["glibc"] if _tuned_glibc(4 << 20, 128 << 10) else []


def fast_allocators() -> list[str]:
    """For a one-shot command: glibc keeps freed memory for reuse (see above); returns what was applied."""
    return ["glibc"] if _tuned_glibc(32 << 20, 512 << 20) else []


def lean_allocators() -> list[str]:
    """Apply serve's settings above where this platform has them; returns what was applied."""
    applied = []
    if _tuned_glibc(*LEAN):  # Arrow's buffers on glibc's heap only where it can be trimmed
        applied.append("glibc")
        try:
            import pyarrow as pa

            pa.set_memory_pool(pa.system_memory_pool())
            applied.append("arrow-system")
        except (ImportError, AttributeError):
            pass
    log.debug("allocator settings: %s", ", ".join(applied) or "none")
    return applied


def release_free_memory() -> None:
    """Give back to the system what the allocators keep of freed memory: Arrow's pool's cache (unless the
    pool is glibc's own) and the free pages of every glibc arena. After each update in ``serve``, and once a
    reference is built (its columns, sorted copies and calibration draws are garbage by then)."""
    release_arrow_cache()
    libc = _glibc_library()
    if libc is not None:
        libc.malloc_trim(0)


def release_arrow_cache() -> None:
    """Give back what Arrow's pool keeps of freed buffers (mimalloc keeps them per thread: call it in the
    thread that freed them); nothing when the pool is glibc's own, or before pyarrow is imported."""
    pa = sys.modules.get("pyarrow")
    if pa is not None:
        pool = pa.default_memory_pool()
        if pool.backend_name != "system":
            pool.release_unused()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for the block, and what the process holds at its end
    moved out of the collector's sight (``gc.freeze``).

    For the command's imports: pandas, pyarrow, pydantic and the exporter's own modules make some 80,000
    long-lived objects. The collector, which starts a pass every 700 new objects, made about 200 passes
    over them while they were made, and each of its later full passes would walk them all again;
    importing leaves no cyclic garbage to collect. About 30 ms of the large check's one second
    (benchmarks/RESULTS.md).
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if collecting:
            gc.enable()
