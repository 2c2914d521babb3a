"""The HTTP side: /metrics from prepared text, health endpoints, optional TLS and basic auth.

The body of /metrics is the store's pre-rendered text (see
:meth:`exporter.publish.exposition.SnapshotStore.exposition_text`) plus the process
metrics of the exporter; nothing is computed per scrape. gzip is used when the
client accepts it, as Prometheus does, with the models' text compressed once per
snapshot version (:class:`GzipPrefix`).
"""

from __future__ import annotations

import ssl
import struct
import threading
import urllib.parse
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from exporter.publish.catalogue import METRICS
from exporter.publish.exposition import SnapshotStore
from exporter.publish.http_requests import Refusal
from exporter.publish.http_server import HTTPServer, Limits, ServerStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

StartResponse = Callable[..., object]
WSGIApp = Callable[[dict, StartResponse], Iterable[bytes]]


class ServerCollector:
    """The HTTP server's own metrics: open connections, connections accepted and refused by reason (named
    and described as in :data:`exporter.publish.catalogue.METRICS`)."""

    def __init__(self, stats: ServerStats):
        self.stats = stats

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        s = self.stats
        yield GaugeMetricFamily("model_monitor_http_open_connections",
                                METRICS["model_monitor_http_open_connections"].help, value=s.open)
        yield CounterMetricFamily("model_monitor_http_connections",
                                  METRICS["model_monitor_http_connections_total"].help, value=s.accepted)
        refused = CounterMetricFamily("model_monitor_http_refused_connections",
                                      METRICS["model_monitor_http_refused_connections_total"].help,
                                      labels=["reason"])
        for reason in Refusal:
            refused.add_metric([reason.value], s.refused[reason])
        yield refused


class GzipPrefix:
    """``/metrics`` gzipped with the models' text compressed once per snapshot version, not once per scrape.

    The models' text (megabytes for many models) changes only when an update publishes; the process's
    metrics at its end change at every scrape. The compressor's state after the models' text is kept and
    copied for each scrape, which compresses only its tail: one gzip member, as ``gzip.compress`` of the
    whole would give (level 1, as before), readable by every client.
    """

    #: gzip's header: deflate, no name, no time, no extra flags, unknown OS (RFC 1952).
    HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: tuple[int, Any, bytes, int, int] | None = None  # version, compressor, bytes, crc, size

    def body(self, version: int, text: str, tail: bytes) -> bytes:
        with self._lock:
            cached = self._cached
            if cached is None or cached[0] != version:
                data = text.encode()
                compressor = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
                cached = (version, compressor, compressor.compress(data), zlib.crc32(data), len(data))
                self._cached = cached
            _, compressor, prefix, crc, size = cached
            rest = compressor.copy()
        end = rest.compress(tail) + rest.flush()
        trailer = struct.pack("<II", zlib.crc32(tail, crc) & 0xFFFFFFFF, (size + len(tail)) & 0xFFFFFFFF)
        return b"".join((self.HEADER, prefix, end, trailer))


def metrics_app(store: SnapshotStore, stats: ServerStats | None = None) -> WSGIApp:
    process = CollectorRegistry(auto_describe=False)
    process.register(ProcessCollector(registry=None))
    if stats is not None:
        process.register(ServerCollector(stats))

    gzipped = GzipPrefix()

    def app(environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Content-Type", "text/plain"), ("Allow", "GET, HEAD")])
            return [b"method not allowed\n"]
        if path == "/metrics":
            version, text = store.versioned_exposition_text()
            tail = generate_latest(process)  # the process's and the server's own: new at every scrape
            headers = [("Content-Type", CONTENT_TYPE)]
            if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
                body = gzipped.body(version, text, tail)
                headers.append(("Content-Encoding", "gzip"))
            else:
                body = text.encode() + tail
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
    """``/report?model=NAME[&window=W]``: the HTML report of the model's latest snapshot (default: the shortest
    window with a failed check of the highest severity, else the longest;
    :func:`exporter.publish.report.default_window`)."""
    from exporter.publish.report import (
        UnknownWindowError,
        WindowNotReadyError,
        default_window,
        render_index,
        render_report,
    )

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
    try:
        body = render_report(snapshot, params.get("window", [default_window(snapshot)])[0]).encode()
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
    (:mod:`exporter.publish.http_server`: deadlines, a bounded worker pool, a connection cap), counting into
    ``stats`` (the ones :func:`metrics_app` exposes)."""
    return HTTPServer(app, host, port, tls, limits or Limits(), stats)
