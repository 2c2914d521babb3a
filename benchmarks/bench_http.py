"""Scrape latency of a 20-model ``serve`` under parallel scrapers and 1,000 idle connections, before and after.

    python -m benchmarks.bench_http [--base COMMIT] [--seconds 8] [--models 20]

Each version (the working tree and ``--base``) is installed as a user installs it
(:mod:`benchmarks.installed`: ``pip install``, the versions pip resolves today) and started as
``model-monitor serve`` on the same 20 models (25 features each, three windows, 2,000 logged rows),
over plain HTTP and over TLS. Against each: 1, 10 and 50 scrapers, each a keep-alive session
scraping ``/metrics`` back to back (gzip, as Prometheus asks) for ``--seconds``; then the same with
1,000 idle TCP connections held open (each reopened when the server closes it, as a scanner or a
misbehaving load balancer would). Latency of every scrape: p50, p99 and the worst; a scrape that
takes over 10 s (Prometheus's default scrape timeout) is counted as failed. The two versions run one
after the other on the same files in one invocation: compare them side by side, not across runs.
"""

from __future__ import annotations

import argparse
import contextlib
import select
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests
import urllib3
import yaml

from benchmarks.bench_exporter import workload
from benchmarks.installed import checkout, describe, install, versions

LOOPBACK = "127.0.0.1"
TIMEOUT = 10.0
IDLE = 1000


@dataclass(frozen=True)
class Result:
    version: str
    scheme: str
    scrapers: int
    idle: int
    held: int
    scrapes: int
    failed: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def _models(folder: Path, models: int) -> Path:
    rng = np.random.default_rng(3)
    now = time.time()
    entries = []
    for k in range(models):
        name = f"model-{k:02d}"
        reference = workload(rng, 5_000, 20, 5, 0.0).drop(columns=["ts", "request_id"])
        reference.to_parquet(folder / f"{name}.parquet")
        (folder / name).mkdir()
        workload(rng, 2_000, 20, 5, now - 60).to_json(folder / name / "a.jsonl", orient="records", lines=True)
        entries.append({
            "name": name, "task": "binary_classification", "reference": str(folder / f"{name}.parquet"),
            "predictions": {"path": str(folder / name / "*.jsonl"), "timestamp_column": "ts",
                            "id_column": "request_id"},
            "prediction_column": "prediction", "score_column": "score", "windows": ["5m", "1h", "24h"]})
    path = folder / "monitor.yaml"
    path.write_text(yaml.safe_dump({"interval": "1h", "models": entries}))
    return path


def _certificate(folder: Path) -> tuple[Path, Path]:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(folder / "server.key"), "-out", str(folder / "server.crt")],
                   check=True, capture_output=True)
    return folder / "server.crt", folder / "server.key"


class _IdleCrowd:
    """``n`` TCP connections that send nothing, each reopened when the server closes it."""

    def __init__(self, port: int, n: int):
        self.port, self.n, self.reopened, self.unopened = port, n, 0, 0
        self.sockets: list[socket.socket] = []
        deadline = time.monotonic() + 60
        while len(self.sockets) + self.unopened < n:
            try:  # a server that accepts slowly leaves connections in the kernel's queue, then refuses them
                self.sockets.append(self._open())
            except OSError:
                self.unopened += 1
            if time.monotonic() > deadline:
                self.unopened += n - len(self.sockets) - self.unopened
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, daemon=True)
        self._thread.start()

    def _open(self) -> socket.socket:
        return socket.create_connection((LOOPBACK, self.port), timeout=1)

    def _keep(self) -> None:
        while not self._stop.wait(0.2):
            poller = select.poll()  # not select(): more than 1,024 descriptors
            by_fd = {sock.fileno(): sock for sock in self.sockets}
            for fd in by_fd:
                poller.register(fd, select.POLLIN)
            for fd, _ in poller.poll(0):  # readable and idle: the server closed it (or answered: 400, 408)
                sock = by_fd[fd]
                self.sockets.remove(sock)
                sock.close()
                with contextlib.suppress(OSError):
                    self.sockets.append(self._open())
                    self.reopened += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self.sockets:
            sock.close()


def _scrape_for(url: str, verify: str | bool, seconds: float, out: list[float], failures: list[int]) -> None:
    session = requests.Session()
    session.headers["Accept-Encoding"] = "gzip"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            with session.get(url, verify=verify, timeout=TIMEOUT) as response:
                ok = response.status_code == 200 and len(response.content) > 0
        except requests.RequestException:
            ok = False
        if ok:
            out.append(time.perf_counter() - started)
        else:
            failures.append(1)
            session.close()
            session = requests.Session()
    session.close()


def _measure(url: str, verify: str | bool, scrapers: int, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    failures: list[int] = []
    threads = [threading.Thread(target=_scrape_for, args=(url, verify, seconds, latencies, failures))
               for _ in range(scrapers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, len(failures)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def _wait_ready(url: str, verify: str | bool, models: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"serve exited with {process.returncode}")
        with contextlib.suppress(requests.RequestException):
            text = requests.get(url, verify=verify, timeout=TIMEOUT).text
            if text.count('model_window_rows{') >= models * 3:
                return
        time.sleep(1)
    raise SystemExit("serve did not compute its windows within 300 s")


def run_version(label: str, python: Path, folder: Path, config: Path, tls: bool, seconds: float,
                models: int) -> list[Result]:
    port = _free_port()
    own = yaml.safe_load(config.read_text())
    own["state_dir"] = str(folder / f"state-{label}-{'tls' if tls else 'plain'}")
    config = folder / f"monitor-{label}.yaml"
    config.write_text(yaml.safe_dump(own))
    args = [str(python), "-m", "exporter.cli", "serve", "--config", str(config), "--port", str(port)]
    verify: str | bool = True
    scheme = "http"
    if tls:
        cert, key = _certificate(folder)
        web = folder / "web.yml"
        web.write_text(yaml.safe_dump({"tls_server_config": {"cert_file": str(cert), "key_file": str(key)}}))
        args += ["--web.config.file", str(web)]
        verify, scheme = str(cert), "https"
    url = f"{scheme}://{LOOPBACK}:{port}/metrics"
    log = open(folder / f"serve-{label}-{scheme}.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=tempfile.gettempdir())
    results = []
    try:
        _wait_ready(url, verify, models, process)
        _measure(url, verify, 2, 2)  # warm: worker threads, caches
        for idle in (0, IDLE):
            crowd = _IdleCrowd(port, idle) if idle else None
            try:
                for scrapers in (1, 10, 50):
                    latencies, failed = _measure(url, verify, scrapers, seconds)
                    held = len(crowd.sockets) if crowd is not None else 0
                    results.append(Result(label, scheme, scrapers, idle, held, len(latencies), failed,
                                          _percentile(latencies, 50), _percentile(latencies, 99),
                                          max(latencies, default=float("nan")) * 1000))
                    print(_row(results[-1]), flush=True)
            finally:
                if crowd is not None:
                    crowd.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    return results


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _row(r: Result) -> str:
    return (f"| {r.version} | {r.scheme} | {r.scrapers} | {r.idle:,} | {r.held:,} | {r.scrapes:,} | {r.failed:,} | "
            f"{r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.max_ms:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="3232a19", help="the version before (default: the server before #27)")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--venvs", type=Path, default=Path(tempfile.gettempdir()) / "model-monitor-bench-http")
    args = parser.parse_args()
    urllib3.disable_warnings()
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    folder = Path(tempfile.mkdtemp(prefix="bench-http-"))
    config = _models(folder, args.models)
    pythons = {"before": install(checkout(args.base), args.venvs / "before"),
               "after": install(checkout(None), args.venvs / "after")}
    for label, python in pythons.items():
        print(f"{label}: {describe(versions(python))}")
    print("| version | scheme | scrapers | idle connections | of them opened | scrapes | failed | p50 ms | p99 ms "
          "| max ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    results = []
    for tls in (False, True):
        for label, python in pythons.items():
            results += run_version(label, python, folder, config, tls, args.seconds, args.models)
    ok = [r.p50_ms for r in results if r.scrapers == 1 and r.idle == 0]
    print(f"median p50 of one scraper without idle connections: {statistics.median(ok):.1f} ms")


if __name__ == "__main__":
    main()
