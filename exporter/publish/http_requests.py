"""HTTP/1.1 requests of the server (:mod:`exporter.publish.http_server`): the request head parsed and
checked, the WSGI environment built, and the application called on a worker thread (a failure is a 500)."""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict, Callable[..., object]], Iterable[bytes]]


class Refusal(StrEnum):
    """``model_monitor_http_refused_connections_total{reason}``: why the server closed a connection early."""

    CONNECTION_LIMIT = "connection_limit"
    TIMEOUT = "timeout"
    TLS_HANDSHAKE = "tls_handshake"
    HEADERS_TOO_LARGE = "headers_too_large"
    BODY_TOO_LARGE = "body_too_large"
    BAD_REQUEST = "bad_request"


REASONS = {400: "Bad Request", 408: "Request Timeout", 411: "Length Required", 413: "Content Too Large",
            431: "Request Header Fields Too Large", 505: "HTTP Version Not Supported"}


class RefusedError(Exception):
    def __init__(self, status: int, reason: Refusal):
        super().__init__(status)
        self.status, self.reason = status, reason


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes = b""

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


def parse_head(head: bytes) -> Request:
    try:
        text = head.decode("iso-8859-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise RefusedError(400, Refusal.BAD_REQUEST) from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[1] or not parts[2].startswith("HTTP/"):
        raise RefusedError(400, Refusal.BAD_REQUEST)
    method, target, version = parts
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise RefusedError(505, Refusal.BAD_REQUEST)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or any(c in name for c in " \t"):
            raise RefusedError(400, Refusal.BAD_REQUEST)
        key = name.lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return Request(method, target, version, headers)


def plain_response(status: int, reason: str) -> tuple[str, list[tuple[str, str]], bytes]:
    return f"{status} {reason}", [("Content-Type", "text/plain; charset=utf-8")], f"{reason}\n".encode()


def wsgi_environ(request: Request, writer: asyncio.StreamWriter, tls: bool) -> dict[str, Any]:
    path, _, query = request.target.partition("?")
    peer = writer.get_extra_info("peername") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query,
        "SERVER_PROTOCOL": request.version, "REMOTE_ADDR": str(peer[0]), "SERVER_NAME": "model-monitor",
        "SERVER_PORT": "", "CONTENT_LENGTH": str(len(request.body)),
        "CONTENT_TYPE": request.headers.get("content-type", ""),
        "wsgi.version": (1, 0), "wsgi.url_scheme": "https" if tls else "http", "wsgi.input": io.BytesIO(request.body),
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    for name, value in request.headers.items():
        if name in ("content-type", "content-length"):
            continue
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def call_app(app: WSGIApp, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run the application on a worker thread; a failure is a 500, never a dropped connection."""
    response: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> object:
        response["status"], response["headers"] = status, headers
        return lambda data: None

    try:
        chunks = app(environ, start_response)
        body = b"".join(chunks)
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    except Exception:
        log.exception("HTTP server: the application failed on %s", environ.get("PATH_INFO"))
        return plain_response(500, "Internal Server Error")
    return response["status"], response["headers"], body
