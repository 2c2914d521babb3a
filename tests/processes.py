"""Real processes on loopback for integration tests, always stopped by the test that starts them."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except (requests.RequestException, OSError, ValueError, KeyError) as error:
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_error})")


class Process:
    """A child process whose output goes to a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None):
        self.args = args
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


def _started(args: list[str], log: Path, url: str, what: str) -> Process:
    """Start ``args`` and wait until ``url`` answers 2xx; on failure stop it and show its output."""
    process = Process(args, log)
    try:
        wait_for(lambda: requests.get(url, timeout=2).ok, 30, what)
    except AssertionError:
        process.stop()
        raise AssertionError(f"{what} did not start:\n{process.output()}") from None
    return process


def start_exporter(config: Path, port: int, log: Path) -> Process:
    args = [sys.executable, "-m", "exporter.cli", "serve", "--config", str(config), "--port", str(port)]
    return _started(args, log, f"http://{LOOPBACK}:{port}/metrics", "the exporter")


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise AssertionError(f"{name} is not installed: run the README's test command, which installs it")
    return path


def start_prometheus(config: Path, data: Path, port: int, log: Path) -> Process:
    args = [require_binary("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={data}",
            f"--web.listen-address={LOOPBACK}:{port}", "--storage.tsdb.retention.time=1h"]
    return _started(args, log, f"http://{LOOPBACK}:{port}/-/ready", "Prometheus")


def start_alertmanager(config: Path, data: Path, port: int, log: Path) -> Process:
    args = [require_binary("prometheus-alertmanager"), f"--config.file={config}", f"--storage.path={data}",
            f"--web.listen-address={LOOPBACK}:{port}", "--cluster.listen-address="]
    return _started(args, log, f"http://{LOOPBACK}:{port}/-/ready", "Alertmanager")


def query(port: int, expr: str) -> list[dict[str, Any]]:
    """An instant PromQL query against the Prometheus on ``port``; raises on a query error."""
    response = requests.get(f"http://{LOOPBACK}:{port}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    if body.get("status") != "success":
        raise AssertionError(f"query failed: {expr}: {body.get('error')}")
    return body["data"]["result"]


CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--hide-scrollbars")


def run_chromium(args: list[str], log: Path, timeout: float = 60.0) -> str:
    """Run headless Chromium to completion (its whole process group is killed if it hangs); its stdout."""
    out = log.with_suffix(".stdout")
    with open(out, "wb") as stdout, open(log, "wb") as stderr:
        proc = subprocess.Popen([require_binary("chromium"), *CHROMIUM_FLAGS, *args], stdout=stdout, stderr=stderr,
                                start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        finally:  # the browser's helpers (zygote, crash handler) share its process group: stop them all
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    return out.read_text(errors="replace")
