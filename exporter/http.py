"""The HTTP side: /metrics from prepared text, health endpoints, optional TLS and basic auth.

The body of /metrics is the store's pre-rendered text (see
:meth:`exporter.exposition.SnapshotStore.exposition_text`) plus the process
metrics of the exporter; nothing is computed per scrape. gzip is used when the
client accepts it, as Prometheus does.
"""

from __future__ import annotations

import gzip
import ssl
import urllib.parse
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from exporter.exposition import SnapshotStore
from exporter.http_server import HTTPServer, Limits, Refusal, ServerStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

StartResponse = Callable[..., object]
WSGIApp = Callable[[dict, StartResponse], Iterable[bytes]]


class ServerCollector:
    """The HTTP server's own metrics: open connections, connections accepted and refused by reason."""

    def __init__(self, stats: ServerStats):
        self.stats = stats

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        s = self.stats
        yield GaugeMetricFamily("model_monitor_http_open_connections",
                                "Connections open to the exporter's HTTP server.", value=s.open)
        yield CounterMetricFamily("model_monitor_http_connections", "Connections the HTTP server accepted.",
                                  value=s.accepted)
        refused = CounterMetricFamily("model_monitor_http_refused_connections",
                                      "Connections closed early, by reason (connection_limit, timeout, "
                                      "tls_handshake, headers_too_large, body_too_large, bad_request).",
                                      labels=["reason"])
        for reason in Refusal:
            refused.add_metric([reason.value], s.refused[reason])
        yield refused


def metrics_app(store: SnapshotStore, stats: ServerStats | None = None) -> WSGIApp:
    process = CollectorRegistry(auto_describe=False)
    process.register(ProcessCollector(registry=None))
    if stats is not None:
        process.register(ServerCollector(stats))

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
    from exporter.report import UnknownWindowError, WindowNotReadyError, render_index, render_report

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
    except WindowNotReadyError as error:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain; charset=utf-8"), ("Retry-After", "5")])
        return [f"{error}\n".encode()]
    except UnknownWindowError as error:
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [f"{error}\n".encode()]
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
                              ("Cache-Control", "no-store")])
    return [body]


def serve(app: WSGIApp, host: str, port: int, tls: ssl.SSLContext | None = None, limits: Limits | None = None,
          stats: ServerStats | None = None) -> HTTPServer:
    """Serve ``app`` on ``host:port`` (over TLS with ``tls``) from the server's own thread
    (:mod:`exporter.http_server`: deadlines, a bounded worker pool, a connection cap), counting into
    ``stats`` (the ones :func:`metrics_app` exposes)."""
    return HTTPServer(app, host, port, tls, limits or Limits(), stats)
