"""The attacks of issue #13 against a real ``serve`` process over loopback TLS, each bounded in count and time.

With ``failurePolicy: Ignore`` whatever makes the webhook slow, run out of memory or answer 400 to a
valid object lets that object in unchecked; each test here is one such attack and what must hold under it:
the server keeps deciding normal reviews, stays far below the pod's 512 Mi memory limit, and refuses or
closes what it must. Latency and memory figures under each attack are measured by
``benchmarks/bench_hostile.py`` (docs/webhook.md), not here: the bounds asserted are behaviour (answered
before the API server's 5 s timeout, memory under the container limit), with wide margins.
"""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .reviews import POLICIES, review_body
from .server import HOST, Server, Tls, free_port, make_tls, read_http_response

MIB = 1024 * 1024
LIMIT_RSS = 512 * MIB  # the deployment's memory limit
API_SERVER_TIMEOUT = 5.0
LIMITS = {
    "max_connections": 40,
    "header_timeout_seconds": 1.0,
    "idle_timeout_seconds": 1.5,
    "max_header_bytes": 16384,
    "max_headers": 50,
}


def httpx_client(tls: Tls, port: int) -> httpx.Client:
    return httpx.Client(base_url=f"https://{HOST}:{port}", verify=tls.context(), timeout=10.0)


def rss(server: Server) -> int:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def server(tls: Tls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("hostile")
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump({**LIMITS, "internal_error": "closed"}))
    s = Server(tls, folder / "serve.log", "--policies", str(POLICIES), "--config", str(config), "--no-cluster",
               "--metrics-port", str(METRICS_PORT))
    yield s
    s.stop()


METRICS_PORT = free_port()


def scrape() -> str:
    return httpx.get(f"http://{HOST}:{METRICS_PORT}/metrics", timeout=10).text


def test_metrics_are_on_their_own_port_only(server: Server) -> None:
    assert server.client.get("/metrics").status_code == 404
    assert "policy_engine_webhook_requests_total" in scrape()
    assert httpx.get(f"http://{HOST}:{METRICS_PORT}/validate", timeout=10).status_code == 404


def tls_connect(tls: Tls, port: int, timeout: float = 5.0) -> ssl.SSLSocket:
    raw = socket.create_connection((HOST, port), timeout=timeout)
    return tls.context().wrap_socket(raw, server_hostname=HOST)


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """True when the server closes ``sock`` (EOF or reset) within ``within`` seconds."""
    sock.settimeout(within)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def review(name: str = "deny-pod-untagged") -> dict[str, Any]:
    return review_body(name)


def decided(server: Server, body: dict[str, Any] | bytes) -> dict[str, Any]:
    reply = server.post(body)
    assert reply.status_code == 200, reply.text[:300]
    response: dict[str, Any] = reply.json()["response"]
    return response


def nested(levels: int) -> dict[str, Any]:
    """An extra field nested ``levels`` deep, built without recursion."""
    value: dict[str, Any] = {"leaf": True}
    for _ in range(levels - 1):
        value = {"x": value}
    return value


def deep_body(review_body_: dict[str, Any], levels: int) -> bytes:
    """The review with ``spec.extra`` nested ``levels`` deep, serialised by hand (json.dumps recurses)."""
    marker = '"__deep__"'
    body = copy.deepcopy(review_body_)
    body["request"]["object"]["spec"]["extra"] = "__deep__"
    text = json.dumps(body)
    deep = '{"x":' * (levels - 1) + '{"leaf":true}' + "}" * (levels - 1)
    return text.replace(marker, deep).encode()


# --- every valid object is decided ---------------------------------------------------------------------


@pytest.mark.parametrize("levels", [200, 1_000, 9_998])
def test_deeply_nested_object_is_decided_like_the_flat_one(server: Server, levels: int) -> None:
    """A valid object with an extra field nested up to the API server's 10,000 levels (the object, its spec
    and 9,998 more) is judged, not 400."""
    flat = decided(server, review())
    assert flat["allowed"] is False
    deep = decided(server, deep_body(review(), levels))
    assert deep["allowed"] is False
    assert deep["status"]["message"] == flat["status"]["message"]


def test_an_object_deeper_than_the_api_server_accepts_is_a_located_400(server: Server) -> None:
    """One level past the API server's limit is no object it would send: a 400 that says where, as
    ``check`` says E606 at the same level."""
    reply = server.post(deep_body(review(), 9_999))
    assert reply.status_code == 400
    assert "more than 10,000 levels" in reply.json()["error"] and "column" in reply.json()["error"]


def test_deep_argo_workflow_is_denied(server: Server, tmp_path: Path) -> None:
    workflow = yaml.safe_load((Path(__file__).parents[1] / "fixtures/model/workflow.yaml").read_text())
    workflow["metadata"]["labels"] = {}
    body = review()
    body["request"]["kind"] = {"group": "argoproj.io", "version": "v1alpha1", "kind": "Workflow"}
    body["request"]["object"] = workflow
    flat = decided(server, body)
    assert flat["allowed"] is False, flat
    assert decided(server, deep_body(body, 300))["allowed"] is False


def test_malformed_deep_json_is_still_a_400(server: Server) -> None:
    reply = server.post(b'{"apiVersion": ' + b"[" * 5000)
    assert reply.status_code == 400 and "malformed JSON" in reply.json()["error"]


def test_huge_pod_is_decided(server: Server) -> None:
    """20,000 containers (≈ 3 MB, the API server's body limit) get an answer, not a timeout."""
    body = review()
    container = body["request"]["object"]["spec"]["containers"][0]
    body["request"]["object"]["spec"]["containers"] = [dict(container, name=f"c{i}") for i in range(20_000)]
    started = time.monotonic()
    response = decided(server, body)
    assert response["allowed"] is False and "violates" in response["status"]["message"]
    assert time.monotonic() - started < API_SERVER_TIMEOUT


# --- connection limits ---------------------------------------------------------------------------------


def test_idle_connection_is_closed(server: Server, tls: Tls) -> None:
    """A connection that never sends a request is closed after the idle timeout (1.5 s here)."""
    conn = tls_connect(tls, server.port)
    try:
        assert closed_by_server(conn, within=LIMITS["idle_timeout_seconds"] + 3)
    finally:
        conn.close()


def test_slowloris_headers_get_408(server: Server, tls: Tls) -> None:
    """Headers dribbled one byte at a time are cut off at the header timeout (1 s here) with 408."""
    conn = tls_connect(tls, server.port)
    try:
        conn.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        received = b""
        conn.settimeout(0.2)
        while time.monotonic() - started < 5:
            try:
                conn.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                break
            try:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                received += chunk
            except TimeoutError:
                continue
            except (ConnectionResetError, ssl.SSLError):
                break
        assert received.startswith(b"HTTP/1.1 408"), received[:100]
        assert time.monotonic() - started < 4
    finally:
        conn.close()


def test_silent_tls_handshake_is_dropped(server: Server) -> None:
    """A TCP connection that never starts TLS is closed at the handshake timeout."""
    with socket.create_connection((HOST, server.port), timeout=5) as raw:
        assert closed_by_server(raw, within=LIMITS["header_timeout_seconds"] + 3)


@pytest.mark.parametrize(("headers", "what"), [
    ([(b"X-Big", b"a" * 40_000)], "bytes"),
    ([(f"X-{i}".encode(), b"1") for i in range(200)], "headers"),
])
def test_oversized_headers_get_431(server: Server, tls: Tls, headers: list[tuple[bytes, bytes]], what: str) -> None:
    conn = tls_connect(tls, server.port)
    try:
        head = b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
        conn.sendall(head + b"".join(k + b": " + v + b"\r\n" for k, v in headers) + b"\r\n{}")
        data = b""
        conn.settimeout(5)
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        assert data.startswith(b"HTTP/1.1 431"), data[:200]
        assert what.encode() in data
    finally:
        conn.close()


def test_endless_headers_do_not_grow_memory(server: Server, tls: Tls) -> None:
    """One connection streaming header bytes (600 MiB on main grew the server by 694 MB) is cut off early."""
    before = rss(server)
    conn = tls_connect(tls, server.port)
    sent = 0
    try:
        conn.sendall(b"POST /validate HTTP/1.1\r\nX-Junk: ")
        chunk = b"a" * 65536
        conn.settimeout(5)
        started = time.monotonic()
        with pytest.raises((BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError)):
            while sent < 4096 * MIB and time.monotonic() - started < 15:
                conn.sendall(chunk)
                sent += len(chunk)
    finally:
        conn.close()
    assert rss(server) - before < 32 * MIB


def test_connection_flood_is_refused_while_served_connections_keep_working(server: Server, tls: Tls) -> None:
    """Beyond max_connections (40 here) new connections are closed at accept; an open one is still served."""
    keeper = tls_connect(tls, server.port, timeout=10)
    body = json.dumps(review()).encode()
    request = (b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
               + str(len(body)).encode() + b"\r\n\r\n" + body)
    keeper.sendall(request)
    assert read_http_response(keeper)[0] == 200
    flood: list[socket.socket] = []
    try:
        for _ in range(300):
            try:
                flood.append(socket.create_connection((HOST, server.port), timeout=5))
            except OSError:
                break
        time.sleep(0.3)
        refused = sum(1 for s in flood if closed_by_server(s, within=0.05))
        assert refused >= len(flood) - LIMITS["max_connections"], (refused, len(flood))
        started = time.monotonic()
        keeper.sendall(request)
        status, reply = read_http_response(keeper)
        response = reply["response"]
        assert status == 200 and isinstance(response, dict) and response["allowed"] is False
        assert time.monotonic() - started < API_SERVER_TIMEOUT
        assert rss(server) < LIMIT_RSS / 2
    finally:
        for s in flood:
            s.close()
        keeper.close()
    assert 'policy_engine_webhook_connections_refused_total{reason="max_connections"}' in scrape()


def test_big_reviews_in_a_loop_do_not_starve_a_normal_one(server: Server, tls: Tls) -> None:
    """8 connections looping on a 1.6 MB review for 4 s: a normal review still answers within timeoutSeconds."""
    big = review()
    container = big["request"]["object"]["spec"]["containers"][0]
    big["request"]["object"]["spec"]["containers"] = [dict(container, name=f"c{i}") for i in range(10_000)]
    data = json.dumps(big).encode()
    request = (b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
               + str(len(data)).encode() + b"\r\n\r\n" + data)
    stop = time.monotonic() + 4.0

    def attack() -> None:
        try:
            conn = tls_connect(tls, server.port, timeout=30)
            while time.monotonic() < stop:
                conn.sendall(request)
                read_http_response(conn)
            conn.close()
        except OSError:
            pass

    threads = [threading.Thread(target=attack, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    worst = 0.0
    peak = 0
    time.sleep(0.5)
    while time.monotonic() < stop:
        started = time.monotonic()
        assert decided(server, review())["allowed"] is False
        worst = max(worst, time.monotonic() - started)
        peak = max(peak, rss(server))
        time.sleep(0.2)
    for t in threads:
        t.join(timeout=30)
    assert worst < API_SERVER_TIMEOUT
    assert peak < LIMIT_RSS


# --- the review's time budget --------------------------------------------------------------------------


def test_review_over_budget_follows_internal_error(tls: Tls, tmp_path: Path) -> None:
    """A review past ``review_budget_seconds`` is stopped, answered as ``internal_error`` says, and counted."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"review_budget_seconds": 0.001, "internal_error": "closed"}))
    s = Server(tls, tmp_path / "serve.log", "--policies", str(POLICIES), "--config", str(config), "--no-cluster")
    try:
        body = review("allow-pod-tagged")
        container = body["request"]["object"]["spec"]["containers"][0]
        body["request"]["object"]["spec"]["containers"] = [dict(container, name=f"c{i}") for i in range(5_000)]
        response = decided(s, body)
        assert response["uid"] == body["request"]["uid"]
        assert response["allowed"] is False and "budget" in response["status"]["message"]
        metrics = s.client.get("/metrics").text
        assert "policy_engine_webhook_review_budget_exceeded_total 1.0" in metrics
        assert any(r.get("event") == "budget_exceeded" for r in s.log_records())
    finally:
        s.stop()


# --- TLS -----------------------------------------------------------------------------------------------


def _client(tls: Tls, version: ssl.TLSVersion, ciphers: str = "DEFAULT") -> ssl.SSLContext:
    """A client that offers exactly ``version`` and ``ciphers``, at OpenSSL security level 0 so that the client
    itself does not refuse old protocols or suites: whether a handshake fails is then the server's doing."""
    context = tls.context()
    context.minimum_version = context.maximum_version = version
    context.set_ciphers(f"{ciphers}:@SECLEVEL=0")
    return context


def _handshake(port: int, context: ssl.SSLContext) -> tuple[str, str]:
    """(protocol, cipher) of a real TLS handshake with the server at ``port``."""
    with socket.create_connection((HOST, port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=HOST) as conn:
        name, _, _ = conn.cipher()  # type: ignore[misc]
        return str(conn.version()), name


@contextlib.contextmanager
def _permissive_server(tls: Tls) -> Iterator[int]:
    """A server that accepts every protocol and suite: the control showing a client can really offer them."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.set_ciphers("ALL:@SECLEVEL=0")
    context.load_cert_chain(str(tls.cert), str(tls.key))
    listener = socket.create_server((HOST, 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True) as tls_conn:
                tls_conn.recv(1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        thread.join(timeout=5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_tls_below_1_2_is_refused(server: Server, tls: Tls, version: str) -> None:
    """A client that speaks only TLS 1.0 (or 1.1), and that a permissive server does shake hands with, is
    refused by the webhook with a protocol-version alert; the same client at TLS 1.2 gets through."""
    old = _client(tls, getattr(ssl.TLSVersion, version))
    with _permissive_server(tls) as port:
        assert _handshake(port, old)[0] == {"TLSv1": "TLSv1", "TLSv1_1": "TLSv1.1"}[version]  # the client offers it
    with pytest.raises(ssl.SSLError):  # the server ends the handshake (an alert, or it just closes)
        _handshake(server.port, old)
    assert _handshake(server.port, _client(tls, ssl.TLSVersion.TLSv1_2))[0] == "TLSv1.2"


def test_tls_1_2_gets_a_forward_secret_aead_cipher(server: Server, tls: Tls) -> None:
    """The server chooses an ECDHE AEAD suite; a client offering only CBC (SHA-1 or SHA-2 MACs) or plain RSA
    key exchange at TLS 1.2, which a permissive server accepts, is refused; and the server's TLS 1.2 suite
    list holds nothing but ECDHE with AES-GCM or ChaCha20-Poly1305."""
    version, name = _handshake(server.port, _client(tls, ssl.TLSVersion.TLSv1_2))
    assert version == "TLSv1.2" and name.startswith("ECDHE") and ("GCM" in name or "CHACHA20" in name)
    weak = ("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA:"
            "ECDHE-RSA-AES256-SHA:ECDHE-RSA-AES128-SHA256:AES128-GCM-SHA256:AES128-SHA")
    with _permissive_server(tls) as port:
        assert _handshake(port, _client(tls, ssl.TLSVersion.TLSv1_2, weak))[0] == "TLSv1.2"
    with pytest.raises(ssl.SSLError):
        _handshake(server.port, _client(tls, ssl.TLSVersion.TLSv1_2, weak))
    from policy_engine.webhook.tls import serving_context

    context = serving_context(str(tls.cert), str(tls.key))
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2  # the explicit minimum, not only the suites
    suites = [c for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert suites
    for suite in suites:
        assert suite["aead"] and suite["kea"] == "kx-ecdhe", suite
        assert "Mac=AEAD" in suite["description"] and ("Enc=AESGCM" in suite["description"]
                                                        or "Enc=CHACHA20" in suite["description"]), suite


def test_rotated_certificate_is_served_without_restart(tmp_path: Path) -> None:
    """cert-manager rewrites tls.crt/tls.key in place; new connections get the new certificate. A key that does
    not load (written half-way) keeps the last good pair in service and is counted as a failed reload."""
    first = make_tls(tmp_path / "first")
    s = Server(first, tmp_path / "serve.log", "--policies", str(POLICIES), "--no-cluster")
    try:
        first.key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
        deadline = time.monotonic() + 10
        while 'tls_reloads_total{result="failed"} 1.0' not in s.client.get("/metrics").text:
            assert time.monotonic() < deadline, "a broken key was never noticed"
            time.sleep(0.3)
            s.client.close()  # a new connection is what makes the server look at the files
            s.client = httpx.Client(base_url=s.base, verify=first.context(), timeout=10.0)
        assert s.client.get("/healthz").status_code == 200  # still served, with the last good pair
        second = make_tls(tmp_path / "second")  # a new CA too: only the new chain verifies afterwards
        (first.key).write_bytes(second.key.read_bytes())
        (first.cert).write_bytes(second.cert.read_bytes())
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection((HOST, s.port), timeout=5) as raw, \
                        second.context().wrap_socket(raw, server_hostname=HOST):
                    break
            except ssl.SSLError:
                assert time.monotonic() < deadline, "the rotated certificate was never served"
                time.sleep(0.3)
        with httpx_client(second, s.port) as client:
            assert 'policy_engine_webhook_tls_reloads_total{result="ok"} 1.0' in client.get("/metrics").text
    finally:
        s.stop()


def test_many_large_bodies_at_once_stay_within_memory(server: Server, tls: Tls) -> None:
    """36 connections each sending a 2.9 MB review at once: bodies are read a few at a time, memory bounded."""
    body = review()
    body["request"]["object"]["metadata"]["annotations"] = {"pad": "x" * (2_900_000)}
    data = json.dumps(body).encode()
    request = (b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
               + str(len(data)).encode() + b"\r\n\r\n" + data)
    before = rss(server)
    peak = before
    statuses: list[int] = []

    def send() -> None:
        try:
            conn = tls_connect(tls, server.port, timeout=60)
            conn.sendall(request)
            statuses.append(read_http_response(conn)[0])
            conn.close()
        except OSError:
            statuses.append(0)

    threads = [threading.Thread(target=send, daemon=True) for _ in range(36)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, rss(server))
        time.sleep(0.05)
    assert statuses.count(200) == 36
    assert peak - before < 110 * MIB  # all 36 read at once (no slots) grew it by ~145 MiB
    assert peak < LIMIT_RSS / 2


def test_a_body_dribbled_after_the_answer_does_not_hold_the_connection(server: Server, tls: Tls) -> None:
    """GET /healthz announcing a long body, answered at once, then a byte every 0.3 s: closed after the idle
    timeout rather than kept for as long as the client cares to dribble."""
    conn = tls_connect(tls, server.port)
    try:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
        started = time.monotonic()
        closed = False
        conn.settimeout(0.3)
        while time.monotonic() - started < 8:
            try:
                conn.sendall(b"x")
                if conn.recv(65536) == b"" and time.monotonic() - started > 0.5:
                    closed = True
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                closed = True
                break
        assert closed and time.monotonic() - started < LIMITS["idle_timeout_seconds"] + 4
    finally:
        conn.close()
