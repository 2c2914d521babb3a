"""The HTTP/1.1 server of ``serve``: no client can stall another.

Prometheus's scrape is what every page depends on, so the server is built to the bar of Prometheus's
own exporters (exporter-toolkit on Go's net/http) rather than the standard library's
thread-per-connection ``wsgiref``, where one idle TLS connection blocked the accept loop:

- **One event loop for every connection** (asyncio streams in a daemon thread): an idle,
  byte-at-a-time or half-open connection costs a buffer, never a thread.
- **Per-connection deadlines**: the TLS handshake (:data:`Limits.handshake_seconds`), the request
  line and headers (:data:`Limits.header_seconds`, from the first byte of the request: a client that
  sends one byte a second is cut off as one that sends nothing), the body, the response's write, and
  the idle time between keep-alive requests. A connection past a deadline is closed.
- **Bounded work**: the WSGI application runs on a fixed pool of worker threads
  (:data:`Limits.workers`); requests beyond it wait their turn on the loop, not in new threads.
- **A cap on open connections** (:data:`Limits.max_connections`): beyond it a new connection is
  closed at once, before any handshake, and counted.
- **Size limits**: the request line and headers (:data:`Limits.max_header_bytes`, else ``431``), the
  body (:data:`Limits.max_body_bytes`, else ``413``; a chunked body is refused with ``411``: no
  endpoint takes a body). Malformed requests get ``400``.
- **TLS per connection**: the listening socket accepts plain TCP; each connection's handshake runs
  on the loop with its own deadline, so a failed or slow handshake (a missing client certificate, a
  client that never speaks) closes that connection only. TLS state (some 300 KiB a connection, most of
  it asyncio's buffer) is made only once the client's first byte has come; a plain-HTTP request to the
  TLS port gets a ``400`` saying so, as from Go's servers.

Every refusal is counted in :class:`ServerStats`, exposed as ``model_monitor_http_*`` on ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from exporter.memory import release_free_memory
from exporter.publish.http_requests import (
    REASONS,
    Refusal,
    RefusedError,
    Request,
    WSGIApp,
    call_app,
    parse_head,
    plain_response,
    wsgi_environ,
)

log = logging.getLogger(__name__)

#: After this many connections open at once, the heap is trimmed once most of them have closed.
TRIM_AFTER_CONNECTIONS = 64
#: ... this long after most of them have closed.
TRIM_DELAY_SECONDS = 1.0


@dataclass(frozen=True)
class Limits:
    #: Open connections at most; more are closed at once (``server.max_connections``).
    max_connections: int = 1024
    #: Threads running the application (a scrape, a report).
    workers: int = 8
    handshake_seconds: float = 5.0
    #: From the first byte of a request to the end of its headers.
    header_seconds: float = 5.0
    body_seconds: float = 5.0
    write_seconds: float = 30.0
    #: Between two requests of one keep-alive connection.
    idle_seconds: float = 60.0
    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 64 * 1024


@dataclass
class ServerStats:
    """What the server did, read by the ``/metrics`` collector (plain ints under the GIL)."""

    accepted: int = 0
    open: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    def refuse(self, reason: Refusal) -> None:
        self.refused[reason] += 1


def raise_open_files_limit(wanted: int) -> int:
    """Raise this process's soft limit of open files towards ``wanted`` (at most the hard limit), as Go's
    runtime does for every Prometheus exporter: a soft limit of 1024 would otherwise cap connections
    below :data:`Limits.max_connections`. Returns the soft limit in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
    return soft


class _StoppingError(Exception):
    """The server stopped while a request was being answered."""


class HTTPServer:
    """Serves a WSGI application on ``host:port`` from its own thread; :meth:`shutdown` stops it."""

    def __init__(self, app: WSGIApp, host: str, port: int, tls: ssl.SSLContext | None = None,
                 limits: Limits | None = None, stats: ServerStats | None = None):
        self.app, self.tls, self.limits = app, tls, limits or Limits()
        self.stats = stats if stats is not None else ServerStats()
        limits = self.limits
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.socket.listen(1024)
        self.socket.setblocking(False)
        self.server_address = self.socket.getsockname()
        self._pool = ThreadPoolExecutor(limits.workers, thread_name_prefix="http-worker")
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(self._loop_error)
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        #: Open connections: their tasks and writers.
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._peak = 0
        self._trim: asyncio.TimerHandle | None = None
        self._thread = threading.Thread(target=self._run, name="http-server", daemon=True)
        self._thread.start()
        self._ready.wait()

    # -- the loop ---------------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.run_until_complete(self._loop.shutdown_default_executor())
        self._loop.close()

    async def _main(self) -> None:
        self._stopped = asyncio.Event()
        server = await asyncio.start_server(self._connection, sock=self.socket, limit=self.limits.max_header_bytes)
        self._ready.set()
        await self._stopped.wait()
        server.close()
        # Cancel every connection; one whose cancellation Python 3.11's wait_for swallowed (when the read it
        # waited for completed at the same moment) has its socket cut, which ends any read or write at once.
        for _ in range(10):
            if not self._connections:
                break
            for task in list(self._connections):
                task.cancel()
            await asyncio.wait(list(self._connections), timeout=0.5)
            for writer in list(self._connections.values()):
                writer.transport.abort()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1.0)
        # A response being rendered in a worker hands its result back to this loop: let it, before the loop
        # closes (else the worker meets a closed loop).
        await asyncio.get_running_loop().run_in_executor(None, partial(self._pool.shutdown, wait=True,
                                                                        cancel_futures=True))

    def _stopped_now(self) -> bool:
        return self._stopped is not None and self._stopped.is_set()

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # A client's misbehaviour (reset connections, broken TLS) is counted where it happens, not logged
        # as the loop's error; anything else is a bug worth a line.
        error = context.get("exception")
        if isinstance(error, ConnectionError | ssl.SSLError | TimeoutError):
            return
        log.error("HTTP server: %s", context.get("message"), exc_info=error)

    def shutdown(self) -> None:
        if self._stopped is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(timeout=10)
        if self._thread.is_alive():
            log.warning("HTTP server: still stopping after 10 s; exiting anyway")
        self._pool.shutdown(wait=False, cancel_futures=True)

    def server_close(self) -> None:
        with contextlib.suppress(OSError):
            self.socket.close()

    # -- one connection -----------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        stats, limits = self.stats, self.limits
        if stats.open >= limits.max_connections:
            stats.refuse(Refusal.CONNECTION_LIMIT)
            writer.transport.abort()
            return
        if self._stopped_now():
            writer.transport.abort()  # accepted as the server stops
            return
        stats.accepted += 1
        stats.open += 1
        self._peak = max(self._peak, stats.open)
        self._connections[task] = writer
        try:
            if self.tls is not None and not await self._handshake(reader, writer):
                return
            await self._requests(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client went away
        except (asyncio.CancelledError, _StoppingError):
            # Only shutdown cancels a connection. Ending normally matters on Python 3.11: its streams report a
            # connection task that ends cancelled as an error of the loop, with a traceback.
            pass
        finally:
            stats.open -= 1
            self._connections.pop(task, None)
            await _close(writer)
            if self._peak >= TRIM_AFTER_CONNECTIONS and stats.open <= self._peak // 4 and self._trim is None:
                # A crowd of connections is going (asyncio gives each TLS connection a 256 KiB buffer):
                # a moment later (not postponed by later closes: a steady trickle of scrapes would postpone
                # it forever), hand the freed heap back to the system, as serve does after each update.
                self._trim = asyncio.get_running_loop().call_later(TRIM_DELAY_SECONDS, self._trim_heap)

    def _trim_heap(self) -> None:
        self._trim = None
        self._peak = self.stats.open
        self._loop.run_in_executor(self._pool, _collect_and_trim)

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """TLS on this connection, within :data:`Limits.handshake_seconds` of its opening; False when it
        was closed instead.

        The first byte is awaited without reading it (a peek on a duplicate of the socket) before any TLS
        state is made: an idle connection costs no TLS buffers, and a plain-HTTP request to the TLS port is
        told so with a ``400``, as Go's servers (and so Prometheus's exporters) answer it."""
        limits, loop = self.limits, asyncio.get_running_loop()
        deadline = loop.time() + limits.handshake_seconds
        first = await _peek(writer, limits.handshake_seconds)
        if first is None:
            self.stats.refuse(Refusal.TIMEOUT)
            return False
        if not first:
            return False  # closed by the client before a word
        if first.isalpha():
            self.stats.refuse(Refusal.TLS_HANDSHAKE)
            writer.transport.resume_reading()
            with contextlib.suppress(TimeoutError, asyncio.LimitOverrunError, asyncio.IncompleteReadError):
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 1.0)  # read, so that closing sends no reset
            refusal = plain_response(400, "Client sent an HTTP request to an HTTPS server")
            await self._write(writer, *refusal, close=True)
            return False
        try:
            await writer.start_tls(self.tls, ssl_handshake_timeout=max(deadline - loop.time(), 0.1))
        except (ssl.SSLError, OSError, TimeoutError):
            self.stats.refuse(Refusal.TLS_HANDSHAKE)
            return False
        return True

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        limits = self.limits
        first = True
        while not self._stopped_now():
            # A new connection must start its request within the header deadline; a kept-alive one may
            # idle longer between requests. From a request's first byte its headers have their own deadline.
            try:
                start = await asyncio.wait_for(reader.read(1), limits.header_seconds if first else limits.idle_seconds)
            except TimeoutError:
                if first:
                    self.stats.refuse(Refusal.TIMEOUT)
                return
            if not start:
                return  # closed by the client
            first = False
            try:
                request = await self._read_request(reader, start)
            except RefusedError as refused:
                self.stats.refuse(refused.reason)
                await self._write(writer, *plain_response(refused.status, REASONS[refused.status]), close=True)
                return
            try:
                status, headers, body = await asyncio.get_running_loop().run_in_executor(
                    self._pool, call_app, self.app, wsgi_environ(request, writer, self.tls is not None))
            except RuntimeError as error:  # the workers were shut down: the server is stopping
                raise _StoppingError from error
            keep = request.keep_alive and not self._stopped_now()
            length = len(body)
            if request.method == "HEAD":
                body = b""
            if not await self._write(writer, status, headers, body, close=not keep, length=length) or not keep:
                return

    async def _read_request(self, reader: asyncio.StreamReader, start: bytes) -> Request:
        limits = self.limits
        try:
            rest = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), limits.header_seconds)
        except TimeoutError:
            raise RefusedError(408, Refusal.TIMEOUT) from None
        except asyncio.LimitOverrunError:
            raise RefusedError(431, Refusal.HEADERS_TOO_LARGE) from None
        except asyncio.IncompleteReadError:
            raise RefusedError(400, Refusal.BAD_REQUEST) from None
        head = start + rest
        if len(head) > limits.max_header_bytes:
            raise RefusedError(431, Refusal.HEADERS_TOO_LARGE)
        request = parse_head(head[:-4])
        if "chunked" in request.headers.get("transfer-encoding", "").lower():
            raise RefusedError(411, Refusal.BODY_TOO_LARGE)
        length_text = request.headers.get("content-length", "0") or "0"
        if not length_text.isdigit():
            raise RefusedError(400, Refusal.BAD_REQUEST)
        length = int(length_text)
        if length > limits.max_body_bytes:
            raise RefusedError(413, Refusal.BODY_TOO_LARGE)
        if length:
            try:
                request.body = await asyncio.wait_for(reader.readexactly(length), limits.body_seconds)
            except TimeoutError:
                raise RefusedError(408, Refusal.TIMEOUT) from None
        return request

    async def _write(self, writer: asyncio.StreamWriter, status: str, headers: list[tuple[str, str]], body: bytes,
                     close: bool, length: int | None = None) -> bool:
        lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers)]
        names = {k.lower() for k, _ in headers}
        if "content-length" not in names:
            lines.append(f"Content-Length: {len(body) if length is None else length}")
        lines.append("Connection: close" if close else "Connection: keep-alive")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("iso-8859-1") + body)
        try:
            await asyncio.wait_for(writer.drain(), self.limits.write_seconds)
        except TimeoutError:
            self.stats.refuse(Refusal.TIMEOUT)
            return False
        return True


async def _peek(writer: asyncio.StreamWriter, timeout: float) -> bytes | None:
    """The connection's first byte, left unread in the socket (the transport stops reading meanwhile);
    ``b""`` when the client closed first, None after ``timeout``."""
    loop = asyncio.get_running_loop()
    sock = writer.get_extra_info("socket")
    if sock is None or writer.transport.is_closing():
        return b""  # gone already
    writer.transport.pause_reading()
    duplicate = sock.dup()  # the transport's own descriptor is its loop's
    duplicate.setblocking(False)
    deadline = loop.time() + timeout
    try:
        while True:
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(duplicate.fileno(), _set_once, readable)
            try:
                await asyncio.wait_for(readable, max(deadline - loop.time(), 0))
            except TimeoutError:
                return None
            finally:
                loop.remove_reader(duplicate.fileno())
            with contextlib.suppress(BlockingIOError, InterruptedError):  # a spurious wake-up: wait again
                return duplicate.recv(1, socket.MSG_PEEK)
    finally:
        duplicate.close()


def _set_once(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _collect_and_trim() -> None:
    """Free the closed connections' protocol objects (asyncio's SSL protocol is held in reference cycles
    until a full collection) and give their memory back."""
    import gc

    gc.collect()
    release_free_memory()


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close gracefully (a TLS close_notify after the last response), within a second; else cut it."""
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    except (TimeoutError, OSError, ssl.SSLError, asyncio.CancelledError):
        writer.transport.abort()


