"""``/metrics`` on a port of its own (``serve --metrics-port``), plain HTTP, in a background thread.

The admission port is the one the API server must reach and nothing else needs to; Prometheus needs only
``/metrics``. Apart, a NetworkPolicy can open each port to its one client (docs/webhook.md, Security),
and a scrape never queues behind admissions on the event loop. Slow or idle scrapers are cut off after
``TIMEOUT_SECONDS``; only ``GET /metrics`` is answered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from policy_engine.webhook.metrics import CONTENT_TYPE

TIMEOUT_SECONDS = 10.0


class MetricsServer:
    def __init__(self, host: str, port: int, exposition: Callable[[], bytes]) -> None:
        class Handler(BaseHTTPRequestHandler):
            timeout = TIMEOUT_SECONDS

            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404, "only /metrics is served on this port")
                    return
                body = exposition()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # scrapes are not worth a log line each

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="metrics", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
