"""serve's allocator settings apply on this platform (glibc), and a trim gives freed memory back."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> list[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()


def test_lean_allocators_apply_in_a_fresh_process() -> None:
    out = _run("import pyarrow as pa; from exporter.memory import lean_allocators; applied = lean_allocators(); "
               "print(','.join(applied), pa.default_memory_pool().backend_name)")
    assert out[0].split(",") == ["glibc", "arrow-system"]
    assert out[1] == "system"


# A thread (its own malloc arena) fills 128 MiB in blocks below the mmap threshold and frees all but
# the last: glibc keeps the freed pages (only a heap's top is trimmed by itself). Prints RSS in MiB
# after the free, then after release_free_memory (or after nothing, with "keep"). No allocator
# settings first: check and serve both release memory, with their own settings.
_FRAGMENTED = """
import sys, threading
from exporter.memory import release_free_memory
def rss():
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS')) // 1024
held = []
def fill():
    blocks = [bytearray(b'x' * (64 << 10)) for _ in range(2048)]
    held.append(blocks[-1])
    del blocks
t = threading.Thread(target=fill); t.start(); t.join()
before = rss()
if sys.argv[1] == 'trim':
    release_free_memory()
print(before, rss())
"""


@pytest.mark.parametrize("action", ["trim", "keep"])
def test_release_free_memory_returns_freed_arena_pages(action: str) -> None:
    before, after = map(int, subprocess.run([sys.executable, "-c", _FRAGMENTED, action], capture_output=True,
                                            text=True, check=True).stdout.split())
    if action == "trim":
        assert before - after >= 100  # of the 128 MiB freed
    else:  # the control: without the trim the pages stay resident, so the case above tests the trim
        assert before - after < 20


# Three 20 MiB arrays made and freed six times; prints the page faults of each round.
_REUSE = """
import resource, sys
import numpy as np
from exporter.memory import fast_allocators
if sys.argv[1] == 'fast':
    fast_allocators()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(6):
    before = faults()
    arrays = [np.ones(20 << 17) for _ in range(3)]
    del arrays
    print(faults() - before)
"""


@pytest.mark.parametrize("mode", ["fast", "default"])
def test_fast_allocators_reuse_freed_memory(mode: str) -> None:
    rounds = [int(v) for v in subprocess.run([sys.executable, "-c", _REUSE, mode], capture_output=True, text=True,
                                             check=True).stdout.split()]
    later = sum(rounds[1:])  # the first round faults its pages in, in both modes
    if mode == "fast":
        assert later < 100
    else:  # the control: glibc's defaults give the pages back and fault them in again
        assert later > 1000


# In a thread (its own malloc arena, as the reference build's threads), an 8 MiB array (a column of a
# million values) is made and freed five times; prints the resident MiB after the last free.
_COLUMNS = """
import sys, threading
import numpy as np
from exporter.memory import build_allocators
if sys.argv[1] == 'build':
    build_allocators()
def rss():
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS')) // 1024
def columns():
    for _ in range(5):
        column = np.ones(1 << 20)
        del column
start = rss()
t = threading.Thread(target=columns); t.start(); t.join()
print(rss() - start)
"""


@pytest.mark.parametrize("mode", ["build", "default"])
def test_build_allocators_give_each_column_back(mode: str) -> None:
    kept = int(subprocess.run([sys.executable, "-c", _COLUMNS, mode], capture_output=True, text=True,
                              check=True).stdout)
    if mode == "build":
        assert kept < 4
    else:  # the control: glibc raises its mmap threshold at the first free and keeps the next columns
        assert kept >= 7


# Objects made inside collector_paused (a cycle among them, as modules and classes make) are moved out of
# the collector's sight; the collector is on again after the block unless it was off before, even when the
# block raises. Prints: the collector on inside the block, on after it, objects frozen, and whether the
# cycle made in the block survives a full collection (frozen objects are never collected); then, after a
# block that raised with the collector off before it, whether the collector is on.
_PAUSED = """
import gc, weakref
from exporter.memory import collector_paused
class Node:
    pass
def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)
gc.enable()
before = gc.get_freeze_count()
with collector_paused():
    enabled_inside = gc.isenabled()
    ref = cycle()
gc.collect()
print(enabled_inside, gc.isenabled(), gc.get_freeze_count() > before, ref() is not None)
gc.disable()
try:
    with collector_paused():
        raise ValueError
except ValueError:
    pass
print(gc.isenabled())
"""


def test_collector_paused_freezes_what_the_block_made() -> None:
    out = _run(_PAUSED)
    assert out == ["False", "True", "True", "True", "False"]


# The thresholds through overlapping whole-column reads (as two models' updates in threads make), in
# serve's settings and in a one-shot command's.
_READS = """
from exporter import memory
seen = []
memory.lean_allocators()
seen.append(memory._settings)
with memory.columns_read():
    seen.append(memory._settings)
    with memory.columns_read():
        seen.append(memory._settings)
    seen.append(memory._settings)
seen.append(memory._settings)
memory.fast_allocators()
with memory.columns_read():
    seen.append(memory._settings)
print(*(f"{m}/{t}" for m, t in seen))
"""


def test_whole_column_reads_map_smaller_blocks_in_serve_only() -> None:
    lean, read, fast = f"{1 << 20}/{8 << 20}", f"{256 << 10}/{8 << 20}", f"{32 << 20}/{512 << 20}"
    assert _run(_READS) == [lean, read, read, read, lean, fast]
