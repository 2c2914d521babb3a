"""The HTTP endpoint against slow and hostile clients, with real sockets on a real ``serve`` process.

Over plain HTTP, TLS and TLS with basic auth: while 1, 100 and 1,000 idle or byte-at-a-time connections
are held, a normal scrape still answers; after they close, the exporter's threads and memory come back
down. Oversized headers and bodies are cut off, a connection that sends no request is closed, the
connection cap refuses at once; a wrong password, a missing client certificate and plain HTTP to the
TLS port are refused without disturbing anyone else. Latencies are measured in
``benchmarks/bench_http.py``, not asserted here.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import ssl
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest
import requests
import yaml

from exporter.publish.http_server import Limits
from tests.helpers import model_config, self_signed_certificate, write_config
from tests.processes import LOOPBACK, Process, free_port, wait_for

pytestmark = pytest.mark.integration

PASSWORD = "scrape-Passw0rd"
OPEN = "model_monitor_http_open_connections{}"


@dataclass
class Served:
    scheme: str
    port: int
    process: Process
    cert: Path | None
    auth: tuple[str, str] | None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{LOOPBACK}:{self.port}/metrics"

    def scrape(self, timeout: float = 10) -> requests.Response:
        return requests.get(self.url, verify=str(self.cert) if self.cert else True, auth=self.auth, timeout=timeout)

    def status(self) -> dict[str, int]:
        """Threads and resident memory (KiB) of the exporter, from /proc."""
        fields = {}
        for line in Path(f"/proc/{self.process.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("Threads", "VmRSS"):
                fields[key] = int(value.split()[0])
        return fields

    def samples(self) -> dict[str, float]:
        from prometheus_client.parser import text_string_to_metric_families

        out = {}
        for family in text_string_to_metric_families(self.scrape().text):
            for s in family.samples:
                if s.name.startswith("model_monitor_http"):
                    out[s.name + json.dumps(s.labels, sort_keys=True)] = s.value
        return out


def _start(folder: Path, scheme: str, auth: bool, client_cert: bool = False, max_connections: int = 1024) -> Served:
    folder.mkdir(parents=True, exist_ok=True)
    config = model_config(folder)
    web: dict = {}
    cert = None
    if scheme == "https":
        cert, key = self_signed_certificate(folder)
        web["tls_server_config"] = {"cert_file": cert.name, "key_file": key.name}
        if client_cert:
            web["tls_server_config"].update(client_auth_type="RequireAndVerifyClientCert", client_ca_file=cert.name)
    if auth:
        web["basic_auth_users"] = {"prometheus": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()}
    path = write_config(folder / "monitor.yaml", {"state_dir": str(folder / "state"),
                                                  "server": {"max_connections": max_connections},
                                                  "models": [json.loads(config.model_dump_json())]})
    port = free_port()
    args = [sys.executable, "-m", "exporter.cli", "serve", "--config", str(path), "--port", str(port)]
    if web:
        (folder / "web.yml").write_text(yaml.safe_dump(web))
        args += ["--web.config.file", str(folder / "web.yml")]
    credentials = ("prometheus", PASSWORD) if auth else None
    served = Served(scheme, port, Process(args, folder / "exporter.log"), cert, credentials)
    if not client_cert:
        wait_for(lambda: served.scrape(timeout=2).status_code == 200, 30, "the exporter")
    else:
        wait_for(lambda: socket.create_connection((LOOPBACK, port), timeout=1).close() or True, 30, "the exporter")
    return served


@pytest.fixture(scope="module", params=["http", "https", "https+auth"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    scheme, _, auth = request.param.partition("+")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # this process holds the 1,000 clients
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    s = _start(tmp_path_factory.mktemp(request.param.replace("+", "-")), scheme, bool(auth))
    try:
        yield s
    finally:
        s.process.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _connections(port: int, n: int) -> list[socket.socket]:
    out = []
    for _ in range(n):
        sock = socket.create_connection((LOOPBACK, port), timeout=10)
        out.append(sock)
    return out


def _scrape_ok(served: Served) -> None:
    with served.scrape() as response:
        assert response.status_code == 200 and "model_predictions_total" in response.text


def _drip(sockets: list[socket.socket], data: bytes) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.send(data)


def _client_hello(served: Served) -> bytes:
    """The first bytes a TLS client sends: its ClientHello."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context(cafile=str(served.cert)).wrap_bio(incoming, outgoing, server_hostname=LOOPBACK)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


@pytest.mark.parametrize("held", [1, 100, 1000])
@pytest.mark.parametrize("kind", ["idle", "byte-at-a-time"])
def test_a_scrape_answers_while_slow_clients_hold_connections(served: Served, held: int, kind: str) -> None:
    for _ in range(3):
        assert served.scrape().status_code == 200  # the worker threads exist before counting
    before, open_before = served.status(), served.samples()[OPEN]
    sockets = _connections(served.port, held)
    try:
        if kind == "byte-at-a-time":
            opening = _client_hello(served) if served.scheme == "https" else b"GET"
            for i in range(3):
                _drip(sockets, opening[i:i + 1])
                _scrape_ok(served)
        else:
            _scrape_ok(served)
        during = served.status()
    finally:
        for sock in sockets:
            sock.close()
    assert during["Threads"] <= before["Threads"] + Limits().workers, (before, during)

    def settled() -> dict[str, int] | None:  # every held connection closed, its memory given back
        status = served.status()
        back = served.samples()[OPEN] <= open_before and status["VmRSS"] <= before["VmRSS"] + 32 * 1024  # KiB
        return status if back else None

    after = wait_for(settled, 30, f"the held connections to close and their memory to come back ({before})")
    assert after["Threads"] <= before["Threads"] + Limits().workers, (before, after)


def _connect(served: Served, timeout: float) -> socket.socket:
    """A fresh connection, through TLS where served so."""
    sock = socket.create_connection((LOOPBACK, served.port), timeout=timeout)
    if served.scheme == "https":
        context = ssl.create_default_context(cafile=str(served.cert))
        sock = context.wrap_socket(sock, server_hostname=LOOPBACK)
    return sock


def _raw(served: Served, payload: bytes, wait: float = 10) -> bytes:
    """Send ``payload`` on a fresh connection (TLS where served so) and read until the server closes it."""
    sock = _connect(served, wait)
    try:
        sock.sendall(payload)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        sock.close()


@pytest.mark.parametrize("path", [b"/metrics", b"/report", b"/"])
def test_a_huge_header_is_refused_and_cut_off_on_every_path(served: Served, path: bytes) -> None:
    answer = _raw(served, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nX-Junk: " + b"a" * 20_000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431 ")
    with served.scrape() as response:
        assert response.status_code == 200


def test_the_report_and_the_index_answer_while_idle_connections_are_held(served: Served) -> None:
    sockets = _connections(served.port, 100)
    try:
        for path in ("/", "/report?model=m"):
            url = served.url.replace("/metrics", path)
            with requests.get(url, verify=str(served.cert) if served.cert else True, auth=served.auth,
                              timeout=10) as response:
                assert response.status_code in (200, 503) and response.text  # 503: no window computed yet
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.parametrize("headers, status", [
    (b"Content-Length: 1000000000000\r\n", b"413"),
    (b"Transfer-Encoding: chunked\r\n", b"411"),
])
def test_an_endless_body_is_refused_and_cut_off(served: Served, headers: bytes, status: bytes) -> None:
    answer = _raw(served, b"POST /metrics HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n" + b"x" * 10_000)
    assert answer.startswith(b"HTTP/1.1 " + status + b" ")
    assert served.scrape().status_code == 200


def test_a_malformed_request_line_is_a_400(served: Served) -> None:
    assert _raw(served, b"NOT HTTP AT ALL\r\n\r\n").startswith(b"HTTP/1.1 400 ")


def test_a_connection_that_sends_no_request_is_closed(served: Served) -> None:
    sock = _connect(served, 30)
    started = time.monotonic()
    try:
        sock.send(b"GET /metrics HTTP/1.1\r\n")  # and never the rest
        while True:
            try:
                if not sock.recv(65536):
                    break
            except (ConnectionResetError, TimeoutError, ssl.SSLError):
                break
    finally:
        sock.close()
    waited = time.monotonic() - started
    assert waited < 25, f"the server kept a stalled request open {waited:.1f}s"
    assert served.samples()['model_monitor_http_refused_connections_total{"reason": "timeout"}'] >= 1


def test_the_connection_cap_refuses_at_once_and_counts(tmp_path: Path) -> None:
    served = _start(tmp_path, "http", False, max_connections=20)
    try:
        sockets = _connections(served.port, 30)
        refused = 0
        for sock in sockets[20:]:
            sock.settimeout(3)
            try:
                refused += sock.recv(1) == b""
            except (ConnectionResetError, TimeoutError):
                refused += 1
        for sock in sockets:
            sock.close()
        assert refused == 10
        wait_for(lambda: served.scrape(timeout=2).status_code == 200, 30, "a scrape after the flood")
        assert served.samples()['model_monitor_http_refused_connections_total{"reason": "connection_limit"}'] >= 10
    finally:
        served.process.stop()


def test_wrong_passwords_plain_http_and_missing_client_certificates_are_refused(tmp_path: Path) -> None:
    served = _start(tmp_path / "auth", "https", True)
    try:
        with requests.get(served.url, verify=str(served.cert), auth=("prometheus", "wrong"), timeout=5) as bad:
            assert bad.status_code == 401
        with requests.get(served.url.replace("https://", "http://"), timeout=5) as plain:
            assert plain.status_code == 400 and "HTTP request to an HTTPS server" in plain.text
        assert served.scrape().status_code == 200  # nobody else disturbed
        assert served.samples()['model_monitor_http_refused_connections_total{"reason": "tls_handshake"}'] >= 1
    finally:
        served.process.stop()
    mutual = _start(tmp_path / "mutual", "https", False, client_cert=True)
    try:
        with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
            requests.get(mutual.url, verify=str(mutual.cert), timeout=5)
        client = (str(mutual.cert), str(tmp_path / "mutual" / "server.key"))  # the CA's own key: a valid client
        response = requests.get(mutual.url, verify=str(mutual.cert), cert=client, timeout=5)
        assert response.status_code == 200
    finally:
        mutual.process.stop()
