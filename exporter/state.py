"""Crash-safe persistence of a model's state: named parts, each written by the unit that owns it.

One file per model holds everything that must agree (the cursors and the
summaries of the rows before them), written atomically: a temporary file in
the same folder, fsync, rename, fsync of the folder. A crash leaves either the
old or the new file, never a mix, so a restart neither loses nor double-counts
rows.

The file is a NumPy ``.npz`` archive: each part's arrays under ``part/name``,
one JSON document (``__meta__``) with the format version, the layout
fingerprint and each part's JSON metadata under ``parts``, and a BLAKE2b
checksum of all of it (``__checksum__``), so any corruption is detected. The units that own
state (window store, label join, components, counters, cursors) produce and
read their own parts; this module only namespaces them. A file that cannot
be read, for whatever reason, is reported as :class:`StateError` and the
caller starts afresh, re-reading the logs from the beginning. Files of format
1 (the first release) are returned as they are, for
:mod:`exporter.state_v1` to migrate.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 2
_META = "__meta__"
_CHECKSUM = "__checksum__"


def _checksum(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """BLAKE2b over every member's name, dtype, shape and bytes: any flipped or missing byte shows."""
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        digest.update(array.tobytes())
    return np.frombuffer(digest.digest(), dtype=np.uint8)

#: A unit's saved state: JSON-able metadata and named arrays.
Part = tuple[dict[str, Any], dict[str, np.ndarray]]


class StateError(Exception):
    """A state file exists but cannot be used (corrupt, truncated or from another layout)."""


LOCK_FILE = ".model-monitor.lock"


class StateDirLockedError(Exception):
    """Another exporter holds the state folder."""


class StateDirLock:
    """An exclusive lock on a state folder, held for the life of the exporter.

    Two exporters writing one state folder would overwrite each other's state and double every
    row on restart, so the second one refuses to start. The lock is ``flock`` on a file in the
    folder: the kernel releases it when the process ends, however it ends, so a crash leaves no
    stale lock behind. The file holds the holder's pid, for the message.
    """

    def __init__(self, state_dir: Path):
        self.path = state_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise StateDirLockedError(f"state_dir {self.path.parent} is in use by another exporter (pid {holder}); "
                                 "give each exporter its own state_dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def state_path(state_dir: Path, model: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", model)
    return state_dir / f"{safe}.state.npz"


def save(path: Path, meta: dict[str, Any], parts: dict[str, Part]) -> None:
    """Write ``meta`` (JSON-able) and every part to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"{part}/{name}": array for part, (_, named) in parts.items() for name, array in named.items()}
    document = {"version": FORMAT_VERSION, **meta, "parts": {part: part_meta for part, (part_meta, _) in parts.items()}}
    arrays[_META] = np.frombuffer(json.dumps(document).encode(), np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, **{_CHECKSUM: _checksum(arrays)})
    write_atomically(path, buffer.getvalue())


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one, never half of it:
    a temporary file beside it, fsync, rename, fsync of the folder."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
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
        stored = arrays.pop(_CHECKSUM, None)
        if stored is not None and not np.array_equal(stored, _checksum(arrays)):
            raise StateError(f"{path}: checksum mismatch: the state file is corrupt")
        meta = json.loads(arrays.pop(_META).tobytes().decode())
    except StateError:
        raise
    except Exception as error:  # noqa: BLE001 - a corrupt archive raises many kinds; all mean "unusable"
        raise StateError(f"{path}: unreadable state file ({type(error).__name__}: {error})") from None
    if not isinstance(meta, dict) or meta.get("version") not in (1, FORMAT_VERSION):
        raise StateError(f"{path}: state file of an unknown format version")
    if meta["version"] == FORMAT_VERSION and stored is None:
        raise StateError(f"{path}: no checksum: the state file is corrupt")
    return meta, arrays


def parts_of(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Part]:
    """The parts of a format-2 file, as :func:`save` was given them."""
    out: dict[str, Part] = {part: (dict(part_meta), {}) for part, part_meta in meta["parts"].items()}
    for name, array in arrays.items():
        part, _, rest = name.partition("/")
        if part not in out:
            raise StateError(f"arrays of unknown part {part!r}")
        out[part][1][rest] = array
    return out
