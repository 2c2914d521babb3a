"""A throwaway PostgreSQL cluster on a loopback port, for the SQL source's integration tests.

Debian's ``postgresql`` package (the README's test command installs it) gives ``initdb`` and
``pg_ctl``; initdb refuses to run as root, so as root the cluster belongs to the ``postgres`` user
(its folder under /tmp, since pytest's folders are private to root). The superuser ``postgres``
has a password (scram-sha-256, also over loopback TCP) so the tests exercise ``password_env`` and
``password_file``. :meth:`Cluster.stop` stops the server by its PID; :meth:`Cluster.remove` also
deletes the folder.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.processes import LOOPBACK, free_port

PASSWORD = "s3cret-Pa55"


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise AssertionError(f"PostgreSQL's {name} is not installed: run the README's test command, which "
                             "installs Debian's postgresql package")
    return found[-1]


class Cluster:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mm-pg-", dir="/tmp"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.as_root:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run([pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "scram-sha-256",
                   f"--pwfile={pwfile}", "--no-sync", "-E", "UTF8", "--locale=C"])
        self.pid: int | None = None

    def _run(self, args: list[str]) -> str:
        if self.as_root:
            args = ["runuser", "-u", "postgres", "--", *args]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise AssertionError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses={LOOPBACK} -c fsync=off"
        self._run([pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w",
                   "-t", "60", "start"])
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are cut, as in an outage), by its PID."""
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self.pid = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, with_password: bool = False, database: str = "postgres") -> str:
        secret = f":{PASSWORD}" if with_password else ""
        return f"postgresql+psycopg://postgres{secret}@{LOOPBACK}:{self.port}/{database}"
