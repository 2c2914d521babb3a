"""The files of the state folder: atomic and checked writes (every byte written and fsynced, or a
:class:`StateWriteError` naming the path and the free space), obstacles moved aside, each model's state
file name, and the lock that keeps a second exporter off the folder."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import shutil
import stat
import time
import uuid
from pathlib import Path

log = logging.getLogger(__name__)


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

        move_aside_obstacle(self.path)  # a directory (or other non-file) where the lock file belongs
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(fd)
            os.close(fd)
            raise StateDirLockedError(f"state_dir {self.path.parent} is in use by another exporter ({holder}); "
                                      "give each exporter its own state_dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _lock_holder(fd: int, wait: float = 1.0) -> str:
    """"pid N" of the lock's holder, read from the lock file. The holder writes its pid just after it takes the
    lock: a file still empty after ``wait`` seconds belongs to an exporter that is starting."""
    deadline = time.monotonic() + wait
    while True:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
        if holder:
            return f"pid {holder}"
        if time.monotonic() >= deadline:
            return "an exporter that is starting: its pid is not written yet"
        time.sleep(0.02)


def move_aside_obstacle(path: Path) -> Path | None:
    """Rename whatever stands at ``path`` where a regular file must be written (a directory, a socket, a
    fifo) to ``<path>.moved-aside-<time>``, with a warning naming both; returns the new name, or None when
    nothing was in the way. A symlink to a regular file is no obstacle. OSError when it cannot be moved."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError:  # a dangling or looping symlink: the link itself is in the way
        mode = 0
    if stat.S_ISREG(mode):
        return None
    aside = path.with_name(f"{path.name}.moved-aside-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}")
    os.rename(path, aside)
    log.warning("state: %s was not a regular file; moved it aside to %s", path, aside)
    return aside


def free_space(folder: Path) -> str:
    try:
        return f"{shutil.disk_usage(folder).free:,} bytes free"
    except OSError as error:
        return f"free space unknown: {error.strerror or error}"


class StateWriteError(OSError):
    """A save that did not complete: nothing it wrote counts, and the last successful save stays whole."""

    def __str__(self) -> str:
        return str(self.strerror)


def write_failed(path: Path, error: OSError) -> StateWriteError:
    return StateWriteError(error.errno, f"cannot write {path}: {error.strerror or error} ({free_space(path.parent)})",
                           str(path))


def write_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    """``pwrite`` until every byte of ``data`` is written at ``offset``: a short write (a nearly full disk, a
    file size limit) is continued, and a write that makes no progress fails with ENOSPC."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]
        offset += written


def fsync_folder(folder: Path) -> None:
    """Make a file's creation, rename or removal in ``folder`` durable."""
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _safe_name(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", model)


def state_path(state_dir: Path, model: str) -> Path:
    """The state file of ``model``: its name where the name is safe in a file name, else the name with
    unsafe characters as ``_`` and a hash of the whole name, so that ``a/b`` and ``a_b`` are two files."""
    safe = _safe_name(model)
    if safe != model:
        safe += "-" + hashlib.blake2b(model.encode(), digest_size=4).hexdigest()
    return state_dir / f"{safe}.state.npz"


def adopt_legacy_state_file(state_dir: Path, model: str) -> Path:
    """:func:`state_path`, after moving there (with its journal) a state file that an earlier release named
    without the hash, if there is one and nothing is at the new name yet. Two models whose names the old
    scheme made one shared that file; the first to start takes it, the other rebuilds from the logs."""
    path = state_path(state_dir, model)
    legacy = state_dir / f"{_safe_name(model)}.state.npz"
    if legacy != path and legacy.is_file() and not path.exists():
        journal = legacy.with_name(legacy.name + ".journal")
        if journal.is_file():
            os.replace(journal, path.with_name(path.name + ".journal"))
        os.replace(legacy, path)
    return path


def write_atomically(path: Path, data: bytes, move_obstacle: bool = False) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one, never half of it:
    a temporary file beside it, fsync, rename, fsync of the folder. A failure leaves the old file and no
    temporary file behind, and raises :class:`StateWriteError` naming the path and the free space. With
    ``move_obstacle`` (the exporter's own state files, never a path a user named), a directory or other
    non-file standing at ``path`` or at the temporary file's name is moved aside first."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if move_obstacle:
            move_aside_obstacle(path)
            move_aside_obstacle(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write_all(fd, data, 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_folder(path.parent)
    except OSError as error:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise write_failed(path, error) from error
