"""Graceful shutdown: on SIGTERM the server stops accepting, finishes what is in flight, then exits 0."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from .reviews import POLICIES, REVIEWS
from .server import HOST, Server, Tls, make_tls, read_http_response


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


def _wait_for(server: Server, text: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while text not in server.log_text():
        assert time.monotonic() < deadline, f"{text!r} never logged:\n{server.log_text()[-2000:]}"
        time.sleep(0.05)


def test_in_flight_request_completes_after_sigterm(tls: Tls, tmp_path: Path) -> None:
    server = Server(tls, tmp_path / "serve.log", "--policies", str(POLICIES), "--no-cluster")
    body = (REVIEWS / "deny-pod-untagged.json").read_bytes()
    uid = json.loads(body)["request"]["uid"]
    raw = socket.create_connection((HOST, server.port), timeout=30)
    conn = tls.context().wrap_socket(raw, server_hostname=HOST)
    try:
        head = (f"POST /validate HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        conn.sendall(head + body[:200])  # headers and part of the body: the request is in flight
        time.sleep(0.5)
        server.terminate()
        _wait_for(server, "Shutting down")
        assert server.process.poll() is None, "the server exited with a request in flight"
        conn.sendall(body[200:])
        status, reply = read_http_response(conn)
    finally:
        conn.close()
    assert status == 200
    response = reply["response"]
    assert isinstance(response, dict) and response["uid"] == uid and response["allowed"] is False
    assert server.stop() == 0, "a drained shutdown exits 0, not 'terminated by SIGTERM'"
    assert any(r.get("event") == "stopped" for r in server.log_records())
    with pytest.raises(OSError):
        socket.create_connection((HOST, server.port), timeout=2).close()
