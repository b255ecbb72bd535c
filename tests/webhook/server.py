"""A real ``policy-engine serve`` process with real TLS, for the webhook's end-to-end tests.

The certificate authority and serving certificate are made by ``policy_engine.webhook.certs`` (what
``policy-engine certs`` writes; throwaway, valid for 127.0.0.1); requests go over HTTPS with httpx
verifying against that CA.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from policy_engine.webhook import certs

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Tls:
    ca: Path
    cert: Path
    key: Path

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def make_tls(folder: Path) -> Tls:
    """A throwaway CA and a serving certificate it signed (``policy-engine certs``), valid for 127.0.0.1."""
    tls = Tls(folder / "ca.crt", folder / "tls.crt", folder / "tls.key")
    certs.write(certs.generate("policy-engine-webhook", "policy-engine", days=1, localhost=True), folder,
                overwrite=True)
    return tls


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "policy_engine.cli.main", "serve", *args]


class Server:
    """``policy-engine serve`` on a free port; stderr (the JSON log) goes to a file the test can read."""

    def __init__(self, tls: Tls | None, log: Path, *args: str, startup_seconds: float = 60.0,
                 env: dict[str, str] | None = None) -> None:
        """Serve HTTPS with ``tls``, or plain HTTP (``--insecure-http``) when it is None."""
        self.tls = tls
        self.port = free_port()
        self.base = f"{'https' if tls else 'http'}://{HOST}:{self.port}"
        self.log_path = log
        self._log = log.open("wb")
        transport = ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)] if tls else ["--insecure-http"]
        command = serve_command("--host", HOST, "--port", str(self.port), *transport, *args)
        environ = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=environ)
        self.client = httpx.Client(base_url=self.base, verify=tls.context() if tls else False, timeout=10.0)
        self._wait_ready(startup_seconds)

    def _wait_ready(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                if self.client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not up within {seconds} s:\n{self.log_text()}")

    def post(self, body: bytes | dict[str, Any], content_type: str = "application/json") -> httpx.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.client.post("/validate", content=data, headers={"Content-Type": content_type})

    def log_text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_text().splitlines() if line.startswith("{")]

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def stop(self) -> int:
        self.client.close()  # an idle keep-alive connection would hold the graceful shutdown open
        if self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
        return self.process.returncode


def read_http_response(conn: ssl.SSLSocket) -> tuple[int, dict[str, object]]:
    """Status and JSON body of one HTTP/1.1 response read off a raw TLS socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = conn.recv(65536)
        assert chunk, "connection closed mid-body"
        rest += chunk
    return status, json.loads(rest[:length])
