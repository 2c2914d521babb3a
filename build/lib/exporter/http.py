"""The HTTP side: /metrics from prepared text, health endpoints, optional TLS and basic auth.

The body of /metrics is the store's pre-rendered text (see
:meth:`exporter.exposition.SnapshotStore.exposition_text`) plus the process
metrics of the exporter; nothing is computed per scrape. gzip is used when the
client accepts it, as Prometheus does.
"""

from __future__ import annotations

import gzip
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.exposition import ThreadingWSGIServer

from exporter.exposition import SnapshotStore

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

StartResponse = Callable[..., object]
WSGIApp = Callable[[dict, StartResponse], Iterable[bytes]]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def metrics_app(store: SnapshotStore) -> WSGIApp:
    process = CollectorRegistry(auto_describe=False)
    process.register(ProcessCollector(registry=None))

    def app(environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Content-Type", "text/plain"), ("Allow", "GET, HEAD")])
            return [b"method not allowed\n"]
        if path == "/metrics":
            body = (store.exposition_text() + generate_latest(process).decode()).encode()
            headers = [("Content-Type", CONTENT_TYPE)]
            if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
                body = gzip.compress(body, compresslevel=1)
                headers.append(("Content-Encoding", "gzip"))
            headers.append(("Content-Length", str(len(body))))
            start_response("200 OK", headers)
            return [body]
        if path in ("/-/healthy", "/-/ready"):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"OK\n"]
        if path == "/":
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [b"<html><head><title>Model Monitor</title></head><body><h1>Model Monitor</h1>"
                    b"<p><a href=\"/metrics\">Metrics</a></p></body></html>\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return app


def serve(app: WSGIApp, host: str, port: int,
          tls: ssl.SSLContext | None = None) -> tuple[ThreadingWSGIServer, threading.Thread]:
    """Serve ``app`` on ``host:port`` (over TLS with ``tls``) from a daemon thread."""

    class Server(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    server = make_server(host, port, app, Server, handler_class=_QuietHandler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return server, thread
