"""Crash-safe persistence of a model's cursors, counters and window rings.

One file per model holds everything that must agree (the cursors and the
summaries of the rows before them), written atomically: a temporary file in
the same folder, fsync, rename, fsync of the folder. A crash leaves either the
old or the new file, never a mix, so a restart neither loses nor double-counts
rows. A file that cannot be read is reported as :class:`StateError` and the
caller starts afresh, re-reading the logs from the beginning.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
_META = "__meta__"


class StateError(Exception):
    """A state file exists but cannot be used (corrupt, truncated or from another layout)."""


def state_path(state_dir: Path, model: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", model)
    return state_dir / f"{safe}.state.npz"


def save(path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Write ``meta`` (JSON-able) and ``arrays`` to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    payload = {**arrays, _META: np.frombuffer(json.dumps({"version": FORMAT_VERSION, **meta}).encode(), np.uint8)}
    np.savez(buffer, **payload)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(buffer.getvalue())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def load(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """``(meta, arrays)`` from ``path``; None if there is no state; StateError if it is unusable.

    Temporary files left by a save that was killed midway are removed first.
    """
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        leftover.unlink(missing_ok=True)
    if not path.exists():
        return None
    try:
        with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        meta = json.loads(arrays.pop(_META).tobytes().decode())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, UnicodeDecodeError) as error:
        raise StateError(f"{path}: unreadable state file ({error})") from None
    if not isinstance(meta, dict) or meta.get("version") != FORMAT_VERSION:
        raise StateError(f"{path}: state file of another format version")
    return meta, arrays
