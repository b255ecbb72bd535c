"""Real servers for the ledger tests, started once per module: Alertmanager, Prometheus (over TSDB blocks
backfilled with promtool), and a local HTTP receiver standing in for a chat webhook."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.prometheus_server import prometheus_over

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def need(binary: str | None, package: str) -> str:
    if binary is None:
        pytest.skip(f"{package} is not installed (Debian package {package}; .ci/run installs it as root)")
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: "
                               f"{proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not become ready at {url}")


@contextmanager
def _process(args: list[str], ready: str, what: str) -> Iterator[None]:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_ready(ready, proc, what)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


@contextmanager
def alertmanager(workdir: Path, webhook_url: str | None = None) -> Iterator[str]:
    binary = need(ALERTMANAGER, "prometheus-alertmanager")
    port = free_port()
    receiver = "null"
    receivers: list[dict[str, Any]] = [{"name": "null"}]
    if webhook_url:
        receiver = "hook"
        receivers.append({"name": "hook", "webhook_configs": [{"url": webhook_url, "send_resolved": False}]})
    config = {"route": {"receiver": receiver, "group_by": ["alertname", "policy", "group"], "group_wait": "1s",
                        "group_interval": "1s", "repeat_interval": "1h"}, "receivers": receivers}
    (workdir / "alertmanager.yml").write_text(json.dumps(config))
    url = f"http://127.0.0.1:{port}"
    args = [binary, f"--config.file={workdir / 'alertmanager.yml'}", f"--storage.path={workdir / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"]
    with _process(args, f"{url}/-/ready", "alertmanager"):
        yield url


@contextmanager
def prometheus(openmetrics: Path, workdir: Path) -> Iterator[str]:
    """Prometheus serving the series of an OpenMetrics file, backfilled into TSDB blocks by promtool (the
    project's one test Prometheus, tests/prometheus_server.py)."""
    with prometheus_over(openmetrics.read_text()) as server:
        yield server.url


@dataclass
class Receiver:
    """A local HTTP endpoint recording the JSON bodies POSTed to it; ``fail`` makes it answer 500."""

    url: str = ""
    bodies: list[tuple[str, Any]] = field(default_factory=list)
    fail: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def posted(self, path: str) -> list[Any]:
        with self.lock:
            return [b for p, b in self.bodies if p == path]


@contextmanager
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if rec.fail:
                self.send_response(500)
                self.end_headers()
                return
            with rec.lock:
                rec.bodies.append((self.path, json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
