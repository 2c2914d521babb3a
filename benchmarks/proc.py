"""Memory figures of this process from /proc (no other import, so a benchmark can read them before any)."""

from __future__ import annotations

from pathlib import Path


def status_mib(field: str = "VmRSS") -> float:
    """A memory field of /proc/self/status (VmRSS: resident now, VmHWM: its peak) in MiB; NaN if absent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")
