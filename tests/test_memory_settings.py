"""serve's allocator settings apply on this platform (glibc, pyarrow with jemalloc)."""

from __future__ import annotations

import subprocess
import sys


def test_lean_allocators_apply_in_a_fresh_process() -> None:
    code = ("import pyarrow as pa; from exporter.memory import lean_allocators; applied = lean_allocators(); "
            "print(','.join(applied), pa.default_memory_pool().backend_name)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "glibc" in out[0].split(",")
    assert "arrow-jemalloc" in out[0].split(",") and out[1] == "jemalloc"
