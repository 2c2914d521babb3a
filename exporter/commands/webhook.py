"""A small Alertmanager webhook receiver that prints each notification as one JSON line.

``model-monitor webhook`` is the default receiver of the shipped Alertmanager
configuration, so the stack delivers alerts somewhere visible out of the box
(``docker compose logs webhook``). Replace it with your pager and chat
integrations (see alertmanager/alertmanager.yml).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO


def summarize(notification: dict[str, Any], path: str, received: float | None = None) -> dict[str, Any]:
    """The parts of an Alertmanager notification worth a log line: when it came (UTC), its receiver and status,
    the group (one model's incident), the names of its alerts, and each alert with its status, labels,
    annotations, and when it started and (once resolved) ended."""
    alerts = notification.get("alerts", [])
    return {
        "time": datetime.fromtimestamp(time.time() if received is None else received, UTC).isoformat(),
        "path": path,
        "receiver": notification.get("receiver"),
        "status": notification.get("status"),
        "group": notification.get("groupLabels", {}),
        "alertnames": sorted({a.get("labels", {}).get("alertname", "") for a in alerts}),
        "alerts": [
            {"status": a.get("status"), "startsAt": a.get("startsAt"),
             "endsAt": a.get("endsAt") if a.get("status") == "resolved" else None,
             "labels": a.get("labels", {}), "annotations": a.get("annotations", {})}
            for a in alerts
        ],
    }


def make_server(host: str, port: int, out: TextIO = sys.stdout) -> ThreadingHTTPServer:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0") or 0)
            body = self.rfile.read(min(length, 10 * 1024 * 1024))
            try:
                notification = json.loads(body)
            except ValueError:
                self.send_response(400)
                self.end_headers()
                return
            with lock:
                out.write(json.dumps(summarize(notification, self.path)) + "\n")
                out.flush()
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return ThreadingHTTPServer((host, port), Handler)


def serve(host: str, port: int) -> int:
    server = make_server(host, port)
    print(f"model-monitor webhook: receiving Alertmanager notifications on http://{host}:{port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
