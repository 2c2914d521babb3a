"""The long-running exporter: one scheduled update job per model, and the /metrics server.

APScheduler runs each model's :meth:`~exporter.model.ModelMonitor.update`
every ``interval`` (never two at once for one model, late runs coalesced);
each update publishes a new snapshot. The HTTP server only serves the latest
snapshots (:mod:`exporter.exposition`): a scrape never computes.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

from exporter.config import Config
from exporter.exposition import SnapshotStore
from exporter.http import metrics_app, serve
from exporter.http_server import Limits, ServerStats, raise_open_files_limit
from exporter.memory import release_free_memory
from exporter.model import ModelMonitor
from exporter.webconfig import BasicAuth, load_web_config, ssl_context

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
