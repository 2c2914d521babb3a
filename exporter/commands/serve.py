"""The long-running exporter: one scheduled update job per model, and the /metrics server.

APScheduler runs each model's :meth:`~exporter.monitor.model.ModelMonitor.update`
every ``interval`` (never two at once for one model, late runs coalesced);
each update publishes a new snapshot. The HTTP server only serves the latest
snapshots (:mod:`exporter.publish.exposition`): a scrape never computes.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from exporter.commands.common import load_config_file, lock_state_dir, sharded
from exporter.config import Config, ConfigError
from exporter.memory import lean_allocators, release_free_memory
from exporter.monitor.building import build_monitors
from exporter.monitor.model import ModelMonitor
from exporter.publish.exposition import SnapshotStore
from exporter.publish.http import metrics_app, serve
from exporter.publish.http_server import Limits, ServerStats, raise_open_files_limit
from exporter.publish.webconfig import BasicAuth, load_web_config, ssl_context

log = logging.getLogger(__name__)


class Exporter:
    """Scheduler plus HTTP server for a set of model monitors."""

    def __init__(self, config: Config, monitors: list[ModelMonitor]):
        self.config = config
        self.monitors = monitors
        self.store = SnapshotStore()
        from apscheduler.schedulers.background import BackgroundScheduler  # serve only: check needs no scheduler

        self.scheduler = BackgroundScheduler(timezone=UTC)
        self._server = None
        self.stopped = threading.Event()
        for monitor in monitors:
            # Serve the restored counters and empty windows until the first update ends.
            self.store.publish(monitor.snapshot((), ok=False))

    def run_once(self, monitor: ModelMonitor) -> None:
        self.store.publish(monitor.update())
        release_free_memory()  # what the update freed, back to the system (see exporter.memory)

    def start(self, host: str, port: int, web_config: Path | None = None) -> int:
        """Start serving and updating; returns the bound port (useful with port 0).

        ``web_config`` is a Prometheus web configuration file: TLS and basic auth.
        """
        stats = ServerStats()
        app = metrics_app(self.store, stats)
        raise_open_files_limit(self.config.server.max_connections + 256)  # connections, logs, state
        tls = None
        if web_config is not None:
            web = load_web_config(web_config)
            app = BasicAuth(app, web.basic_auth_users, web.http_server_config.headers)
            if web.tls_server_config is not None:
                tls = ssl_context(web.tls_server_config)
        limits = Limits(max_connections=self.config.server.max_connections)
        server = serve(app, host, port, tls, limits, stats)
        self._server = server
        bound = server.server_address[1]
        for monitor in self.monitors:
            self.scheduler.add_job(
                self.run_once, "interval", args=[monitor], seconds=self.config.interval,
                next_run_time=datetime.now(UTC), max_instances=1, coalesce=True,
                misfire_grace_time=None, id=f"update:{monitor.config.name}",
            )
        self.scheduler.start()
        return bound

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.stopped.set()


def cmd_serve(config_path: Path, port: int | None, web_config: Path | None = None, shard: str | None = None) -> int:
    config = sharded(load_config_file(config_path), shard)
    if port is not None:
        config = config.model_copy(update={"server": config.server.model_copy(update={"port": port})})
    web_config = web_config or config.server.web_config_file
    if web_config is not None and not web_config.is_file():
        raise ConfigError(f"web config file not found: {web_config}")
    lock = lock_state_dir(config.state_dir)
    try:  # released on a configuration error too, not only at the end
        return _serve(config, config_path, web_config)
    finally:
        lock.release()


def _serve(config: Config, config_path: Path, web_config: Path | None) -> int:
    lean_allocators()  # a long-running process: give freed memory back
    monitors = build_monitors(config, str(config_path))
    exporter = Exporter(config, monitors)
    try:
        bound = exporter.start(config.server.host, config.server.port, web_config)
    except OSError as error:
        raise ConfigError(f"cannot listen on {config.server.host}:{config.server.port}: {error.strerror}") from None
    scheme = "https" if web_config is not None and load_web_config(web_config).tls_server_config else "http"
    print(f"model-monitor: serving {scheme}://{config.server.host}:{bound}/metrics "
          f"({len(monitors)} model(s), every {config.interval:g}s)", flush=True)
    # The handler takes no lock (an Event's set() or a log call can meet the lock that the main thread holds
    # where the signal interrupts it, and wait forever): it notes the signal, and the main thread looks.
    received: list[int] = []

    def _stop(signum: int, _frame: object) -> None:
        received.append(signum)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not received:
        time.sleep(0.1)
    log.info("received signal %d; stopping", received[0])
    exporter.stop()
    log.info("stopped")
    return 0
