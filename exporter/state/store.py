"""Crash-safe persistence of a model's state: named parts, each written by the unit that owns it.

Each model's state is everything that must agree (the cursors and the summaries of the rows before
them). :class:`StateStore` keeps it as a *base* file, written atomically (a temporary file in the
same folder, fsync, rename, fsync of the folder), and a *journal* beside it: an update appends one
record holding only the blocks of arrays that changed since the last write (a slot of a window ring,
a stretch of 64 KiB of a long array), with the complete JSON metadata, and fsyncs it. A record is
applied whole or not at all (length, checksum and the base's generation are checked on load; a torn
last record is dropped, and with it that update's cursors), so a crash leaves the state of one update
or of the one before, never a mix: a restart neither loses nor double-counts rows. When the journal
has grown as large as the base, the next write is a new base (a new generation) and the journal
starts afresh.

The file is a NumPy ``.npz`` archive: each part's arrays under ``part/name``,
one JSON document (``__meta__``) with the format version, the layout
fingerprint and each part's JSON metadata under ``parts``, and a BLAKE2b
checksum of all of it (``__checksum__``), so any corruption is detected. The units that own
state (window store, label join, components, counters, cursors) produce and
read their own parts; this module only namespaces them. A file that cannot
be read, for whatever reason, is reported as :class:`StateError` and the
caller starts afresh, re-reading the logs from the beginning. Files of format
1 (the first release) are returned as they are, for
:mod:`exporter.monitor.migrate_v1` to migrate.

Every write is checked: a short write is continued until every byte is written or the write fails; a
save counts only once its bytes are fsynced; a save that fails raises :class:`StateWriteError` (naming
the path and the free space), leaves no temporary file, and leaves on disk exactly the last successful
save (a record written in part is cut off again). A directory or other non-file where a state file or
the lock file must be written is moved aside (:func:`exporter.state.files.move_aside_obstacle`) with a
warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from exporter.state.files import (
    fsync_folder,
    move_aside_obstacle,
    write_all,
    write_atomically,
    write_failed,
)

log = logging.getLogger(__name__)

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


def load(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """``(meta, arrays)`` from ``path``; None if there is no state; StateError if it is unusable.

    Temporary files left by a save that was killed midway are removed first.
    """
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if move_aside_obstacle(leftover) is None:
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


#: Bytes of a one-dimensional array compared (and rewritten when changed) as one block.
BLOCK_BYTES = 64 * 1024
_LENGTH = 8  # bytes of the length before each journal record


def _blocks(array: np.ndarray) -> list[Any]:
    """The blocks an array is compared by: each slice along the first axis (a ring slot), or stretches of
    ``BLOCK_BYTES`` of a one-dimensional array, or the whole of a scalar."""
    if array.ndim == 0:
        return [()]
    if array.ndim == 1:
        step = max(1, BLOCK_BYTES // max(1, array.itemsize))
        return [slice(start, start + step) for start in range(0, max(1, array.shape[0]), step)]
    return list(range(array.shape[0]))


def _digest(block: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(block).tobytes(), digest_size=16).digest()


def _digests(array: np.ndarray) -> list[bytes]:
    return [_digest(array[block]) for block in _blocks(array)]


def _archive(document: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """``arrays`` and the JSON ``document`` as one .npz archive with the checksum of both (a base file or a
    journal record)."""
    members = {**arrays, _META: np.frombuffer(json.dumps(document).encode(), np.uint8)}
    buffer = io.BytesIO()
    np.savez(buffer, **members, **{_CHECKSUM: _checksum(members)})
    return buffer.getvalue()


class StateStore:
    """One model's state as a base file and a journal of changed blocks (see the module's docstring).

    A save that fails (a full disk, a short write, a failed fsync, an obstacle that cannot be moved aside)
    raises :class:`StateWriteError` and leaves on disk exactly the last successful save: a journal record
    that was written in part is cut off again, and where even that fails the next save writes a new base,
    whose new generation makes every record before it stale.
    """

    def __init__(self, path: Path):
        self.path = path
        self.journal = path.with_name(path.name + ".journal")
        #: What is on disk now, array by array: (dtype, shape, digest of each block). None: write a base next.
        self._on_disk: dict[str, tuple[str, tuple[int, ...], list[bytes]]] | None = None
        self._generation: str | None = None
        self._base_bytes = 0
        #: Where the journal's last whole record ends (a torn tail beyond it is cut before appending).
        self._journal_end = 0
        #: Bytes the last :meth:`save` wrote (a base file or a journal record), for the benchmarks.
        self.last_write_bytes = 0
        #: Why the last :meth:`load` stopped replaying the journal before its end (damage worth reporting).
        self.journal_damage: str | None = None

    def reset(self) -> None:
        """Forget what is on disk: the next save writes a new base (after saved state could not be used)."""
        self._on_disk = None

    def load(self) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
        """``(meta, arrays)`` of the base with the journal's whole records applied; None without state;
        StateError when the base is unusable. A damaged journal is not an error: its records up to the damage
        are applied (each leaves a whole, consistent state) and :attr:`journal_damage` says what was dropped."""
        self.journal_damage = None
        loaded = load(self.path)
        if loaded is None:
            self.reset()
            with contextlib.suppress(OSError):
                if self.journal.stat().st_size:
                    self.journal_damage = f"{self.journal}: its base file {self.path.name} is missing; it is dropped"
            return None
        meta, arrays = loaded
        if meta.get("version") != FORMAT_VERSION or not meta.get("generation"):
            self.reset()  # format 1, or a base written before the journal: rewritten whole next time
            return meta, arrays
        meta, arrays = self._replay(meta, arrays)
        self._generation = meta["generation"]
        self._base_bytes = self.path.stat().st_size
        self._on_disk = {name: (a.dtype.str, a.shape, _digests(a)) for name, a in arrays.items()}
        return meta, arrays

    def _replay(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[dict[str, Any],
                                                                                   dict[str, np.ndarray]]:
        self._journal_end = 0
        try:
            data = self.journal.read_bytes()
        except FileNotFoundError:
            return meta, arrays
        except OSError as error:  # a directory, no permission: the base alone (the next save starts a new
            # journal, the obstacle moved aside)
            self.journal_damage = f"{self.journal}: unreadable ({error.strerror or error}); its updates are dropped"
            return meta, arrays
        position = 0
        while position + _LENGTH <= len(data):
            size = int.from_bytes(data[position:position + _LENGTH], "little")
            end = position + _LENGTH + size
            if end > len(data):
                self.journal_damage = (f"{self.journal}: the record at byte {position} is cut short "
                                       f"({len(data) - position} of {_LENGTH + size} bytes); it is dropped")
                break  # torn: the update it held is read again from the logs
            try:
                with np.load(io.BytesIO(data[position + _LENGTH:end]), allow_pickle=False) as record:
                    changed = {name: record[name] for name in record.files}
                stored = changed.pop(_CHECKSUM)
                if not np.array_equal(stored, _checksum(changed)):
                    raise StateError("checksum mismatch")
                document = json.loads(changed.pop(_META).tobytes().decode())
                if not isinstance(document, dict):
                    raise StateError("metadata is not a JSON object")
            except Exception as error:  # noqa: BLE001 - an unreadable record ends the journal, like a torn one
                self.journal_damage = (f"{self.journal}: the record at byte {position} is damaged "
                                       f"({type(error).__name__}: {error}); it and the {len(data) - end} bytes after "
                                       "it are dropped")
                break
            if document.get("generation") != meta["generation"]:
                break  # written before the base was (a crash between the two): the base already holds it
            for key, value in changed.items():
                name, _, block = key.rpartition("@")
                if block == "*":
                    arrays[name] = value
                else:
                    arrays[name] = arrays[name].copy() if not arrays[name].flags.writeable else arrays[name]
                    arrays[name][_blocks(arrays[name])[int(block)]] = value
            for name in document.pop("removed", []):
                arrays.pop(name, None)
            meta = document
            position = end
        else:
            if position < len(data):
                self.journal_damage = (f"{self.journal}: the record at byte {position} is cut short "
                                       f"({len(data) - position} bytes, not even its length); it is dropped")
        self._journal_end = position
        return meta, arrays

    def save(self, meta: dict[str, Any], parts: dict[str, Part],
             changed_blocks: dict[str, set[int]] | None = None) -> None:
        """Persist ``meta`` and every part: a journal record of the changed blocks, or a new base.

        ``changed_blocks`` may name, for some arrays (``part/name``), the only blocks that can have changed since
        the last save (a ring's dirty slots): the others are not even compared. The save counts once its bytes
        are fsynced; :class:`StateWriteError` when it could not be completed (nothing of it then counts).
        """
        arrays = {f"{part}/{name}": array for part, (_, named) in parts.items() for name, array in named.items()}
        document = {"version": FORMAT_VERSION, **meta,
                    "parts": {part: part_meta for part, (part_meta, _) in parts.items()}}
        journal_bytes = self._journal_end
        if self._on_disk is None or self._generation is None or journal_bytes >= self._base_bytes:
            self._save_base(document, arrays)
            return
        changed: dict[str, np.ndarray] = {}
        on_disk: dict[str, tuple[str, tuple[int, ...], list[bytes]]] = {}
        hints = changed_blocks or {}
        for name, array in arrays.items():
            before = self._on_disk.get(name)
            if before is None or before[:2] != (array.dtype.str, array.shape):
                changed[f"{name}@*"] = array
                on_disk[name] = (array.dtype.str, array.shape, _digests(array))
                continue
            blocks = _blocks(array)
            digests = list(before[2])
            # A hint names first-axis indexes: blocks of an array of two or more dimensions.
            for index in sorted(hints[name]) if name in hints and array.ndim >= 2 else range(len(blocks)):
                digest = _digest(array[blocks[index]])
                if digest != digests[index]:
                    digests[index] = digest
                    changed[f"{name}@{index}"] = array[blocks[index]]
            on_disk[name] = (array.dtype.str, array.shape, digests)
        document["generation"] = self._generation
        document["removed"] = sorted(set(self._on_disk) - set(arrays))
        record = _archive(document, changed)
        self._append(len(record).to_bytes(_LENGTH, "little") + record)
        self._journal_end += _LENGTH + len(record)
        self._on_disk = on_disk
        self.last_write_bytes = _LENGTH + len(record)

    def _append(self, data: bytes) -> None:
        """Write one record at the journal's last good end and fsync it; on failure, cut the journal back there
        (or, where that fails too, have the next save write a new base) and raise StateWriteError."""
        try:
            move_aside_obstacle(self.journal)
            created = not self.journal.exists()
            fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT, 0o644)
        except OSError as error:
            raise write_failed(self.journal, error) from error
        try:
            written = False
            try:
                os.ftruncate(fd, self._journal_end)  # a torn record left by a crash would hide what follows it
                write_all(fd, data, self._journal_end)
                written = True
                os.fsync(fd)
                if created:
                    fsync_folder(self.journal.parent)
            except OSError as error:
                try:
                    os.ftruncate(fd, self._journal_end)
                    os.fsync(fd)
                except OSError:
                    self.reset()
                if written:
                    self.reset()  # after a failed fsync what reached the disk is unknown: start a new generation
                raise write_failed(self.journal, error) from error
        finally:
            os.close(fd)

    def _save_base(self, document: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document["generation"] = uuid.uuid4().hex
        data = _archive(document, arrays)
        try:
            write_atomically(self.path, data, move_obstacle=True)
        except OSError:
            # The rename may have happened before the failure: whatever is at the path, the next save must
            # not append records of the old generation to it. Another new base is always safe.
            self.reset()
            raise
        # The new generation makes any old record stale; removing the journal only saves reading it.
        with contextlib.suppress(OSError):
            self.journal.unlink(missing_ok=True)
        self._generation = document["generation"]
        self._base_bytes = len(data)
        self._journal_end = 0
        self._on_disk = {name: (a.dtype.str, a.shape, _digests(a)) for name, a in arrays.items()}
        self.last_write_bytes = len(data)
