"""Allocator settings for a long-running exporter: give freed memory back instead of keeping it.

An update allocates and frees tens of megabytes of arrays (a batch's columns, its bins, its
counts). glibc's malloc keeps freed heap memory for reuse and grows its threshold for serving
large blocks from the heap, so a serving process's resident memory drifts up to its largest past
update, and a little beyond, by fragmentation. Arrow's default pool (mimalloc) keeps per-thread
heaps. For ``serve`` (not for one-shot commands, where speed matters more than what is kept):

- blocks of 1 MiB and more are mapped and unmapped directly (``M_MMAP_THRESHOLD``), and the
  heap is trimmed when 8 MiB are free at its top (``M_TRIM_THRESHOLD``);
- Arrow allocates from jemalloc, told to return freed pages at once, where the wheel has it.

Measured in benchmarks/RESULTS.md (resident memory of a serving process).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

#: mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def lean_allocators() -> list[str]:
    """Apply the settings above where this platform has them; returns what was applied."""
    applied = []
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "mallopt") and libc.mallopt(M_MMAP_THRESHOLD, 1 << 20) and \
                libc.mallopt(M_TRIM_THRESHOLD, 8 << 20):
            applied.append("glibc")
    except OSError:
        pass
    try:
        import pyarrow as pa

        pa.jemalloc_set_decay_ms(0)
        pa.set_memory_pool(pa.jemalloc_memory_pool())
        applied.append("arrow-jemalloc")
    except (ImportError, NotImplementedError, AttributeError):
        pass
    log.debug("allocator settings: %s", ", ".join(applied) or "none")
    return applied
