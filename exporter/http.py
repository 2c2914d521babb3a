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
import urllib.parse
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
        if path == "/report":
            return _report(store, environ.get("QUERY_STRING", ""), start_response)
        if path in ("/-/healthy", "/-/ready"):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"OK\n"]
        if path == "/":
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [b"<html><head><title>Model Monitor</title></head><body><h1>Model Monitor</h1>"
                    b"<p><a href=\"/metrics\">Metrics</a> &middot; <a href=\"/report\">Report</a></p>"
                    b"</body></html>\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return app


def _report(store: SnapshotStore, query: str, start_response: StartResponse) -> Iterable[bytes]:
    """``/report?model=NAME[&window=W]``: the HTML report of the model's latest snapshot (default: longest window)."""
    from exporter.report import UnknownWindowError, render_index, render_report

    params = urllib.parse.parse_qs(query)
    _, snapshots = store.current()
    name = params.get("model", [""])[0]
    if not name:  # an index of every model's reports
        body = render_index(snapshots).encode()
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
        return [body]
    if name not in snapshots:
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [f"no model {name!r}; models: {', '.join(sorted(snapshots))}\n".encode()]
    snapshot = snapshots[name]
    longest = max(snapshot.windows_seconds, key=lambda w: w[1], default=("", 0.0))[0]
    try:
        body = render_report(snapshot, params.get("window", [longest])[0]).encode()
    except UnknownWindowError as error:
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [f"{error}\n".encode()]
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
                              ("Cache-Control", "no-store")])
    return [body]


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
