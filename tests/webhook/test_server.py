"""The webhook as a real process over real TLS, fed AdmissionReviews in the exact wire format.

There is no kube-apiserver here, so these requests are what it would send: the fixtures under
tests/fixtures/webhook/reviews are complete ``admission.k8s.io/v1`` AdmissionReviews.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .reviews import BAD, FIXTURES, POLICIES, REVIEWS
from .server import HOST, Server, Tls, free_port, make_tls, read_http_response, serve_command

CONFIG = FIXTURES / "config.yaml"
ALLOWED = {"warn-gpu-not-spot", "exempt-namespace", "exempt-user-glob", "exempt-annotation-valid",
           "update-keeps-label", "delete-untagged", "allow-configmap"}
DENIED = {"exempt-annotation-expired", "exempt-annotation-not-allowed", "dry-run-untagged",
          "update-drops-label", "inherit-namespace-team"}  # no cluster: nothing to inherit


def _expected(name: str) -> bool:
    if name.startswith("allow-") or name in ALLOWED:
        return True
    assert name.startswith("deny-") or name in DENIED, f"fixture {name} has no expected outcome"
    return False


def _send(server: Server, name: str) -> dict[str, Any]:
    """POST the fixture review ``name``; the ``response`` of the AdmissionReview that came back."""
    reply = server.post(json.loads((REVIEWS / f"{name}.json").read_text()))
    assert reply.status_code == 200, reply.text
    response: dict[str, Any] = reply.json()["response"]
    return response


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def server(tls: Tls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("log") / "serve.log"
    s = Server(tls, log, "--policies", str(POLICIES), "--config", str(CONFIG), "--no-cluster")
    yield s
    s.stop()


@pytest.mark.parametrize("name", sorted(p.stem for p in REVIEWS.glob("*.json")))
def test_every_fixture_review_gets_its_decision(server: Server, name: str) -> None:
    sent = json.loads((REVIEWS / f"{name}.json").read_text())
    reply = server.post(sent)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert (body["apiVersion"], body["kind"]) == ("admission.k8s.io/v1", "AdmissionReview")
    response = body["response"]
    assert response["uid"] == sent["request"]["uid"]
    assert response["allowed"] is _expected(name)
    if not response["allowed"]:
        assert response["status"]["code"] == 403
        assert "violates" in response["status"]["message"] and "\n- " in response["status"]["message"]


def test_denial_names_the_policy_and_the_fix(server: Server) -> None:
    response = _send(server, "deny-pytorchjob-untagged")
    message = response["status"]["message"]
    assert message.startswith("PyTorchJob ml/pytorchjob-untagged violates")
    assert "- require-team-label:" in message and "fix: add metadata.labels.team" in message


def test_warnings_and_expired_exemption_read_as_kubectl_shows_them(server: Server) -> None:
    warned = _send(server, "warn-gpu-not-spot")["warnings"]
    assert warned and all(w.startswith("prefer-spot: ") and len(w) <= 120 for w in warned)
    expired = _send(server, "exempt-annotation-expired")
    assert "exemption expired on 2024-01-31" in expired["status"]["message"]


@pytest.mark.parametrize("name", sorted(p.stem for p in BAD.glob("*.json")))
def test_bad_request_bodies_get_a_400_that_says_why(server: Server, name: str) -> None:
    reply = server.post((BAD / f"{name}.json").read_bytes())
    assert reply.status_code == 400
    error = reply.json()["error"]
    expected = {
        "malformed-json": "malformed JSON", "wrong-api-version": "apiVersion",
        "wrong-kind": "kind", "missing-uid": "request.uid", "missing-object": "request.object is missing",
        "missing-request": "no request", "unknown-operation": "request.operation",
        "not-an-object": "must be a JSON object",
    }[name]
    assert expected in error


def test_wrong_content_type_is_a_400(server: Server) -> None:
    body = (REVIEWS / "allow-pod-tagged.json").read_bytes()
    reply = server.post(body, content_type="text/plain")
    assert reply.status_code == 400 and "Content-Type must be application/json" in reply.json()["error"]


def test_empty_body_is_a_400(server: Server) -> None:
    reply = server.post(b"")
    assert reply.status_code == 400 and "empty request body" in reply.json()["error"]


def test_body_over_the_api_server_limit_is_a_400(server: Server) -> None:
    huge = b'{"apiVersion": "admission.k8s.io/v1", "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    reply = server.post(huge)
    assert reply.status_code == 400 and "exceeds the limit of 3,145,728 bytes" in reply.json()["error"]


def test_chunked_body_over_the_limit_is_a_400(server: Server) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(4):
            yield b" " * (1024 * 1024)

    reply = server.client.post("/validate", content=chunks(), headers={"Content-Type": "application/json"})
    assert reply.status_code == 400 and "exceeds the limit" in reply.json()["error"]


def test_other_methods_on_validate_are_refused_by_the_router(server: Server) -> None:
    """``POST /validate`` skips FastAPI's stack; everything else on the path must still be answered by it."""
    for method in ("GET", "PUT"):
        reply = server.client.request(method, "/validate")
        assert reply.status_code == 405, (method, reply.text)
        assert reply.headers.get("allow") == "POST"
    assert server.client.post("/validate/", content=b"{}").status_code in (307, 404)  # not the webhook
    assert server.client.get("/nowhere").status_code == 404


def test_health_readiness_and_metrics(server: Server) -> None:
    _send(server, "deny-pod-untagged")
    server.post((BAD / "malformed-json.json").read_bytes())
    assert server.client.get("/healthz").json() == {"status": "ok"}
    ready = server.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    text = server.client.get("/metrics").text
    for name in ("requests_total", "request_duration_seconds_bucket", "findings_total", "policies_loaded",
                 "policy_reloads_total", "policy_reload_failures_total", "cluster_cache_synced"):
        assert f"policy_engine_webhook_{name}" in text, name
    assert 'le="0.0005"' in text and 'le="0.001"' in text
    assert 'result="denied"' in text and 'result="bad_request"' in text
    assert 'policy="require-team-label"' in text


def test_dry_run_counts_the_request_but_no_findings(tls: Tls, tmp_path: Path) -> None:
    s = Server(tls, tmp_path / "serve.log", "--policies", str(POLICIES), "--no-cluster")
    try:
        assert _send(s, "dry-run-untagged")["allowed"] is False
        text = s.client.get("/metrics").text
    finally:
        s.stop()
    assert 'dry_run="true",operation="CREATE",result="denied"} 1.0' in text
    assert "policy_engine_webhook_findings_total{" not in text


def test_logs_are_one_json_object_per_line_without_the_object(server: Server) -> None:
    sent = json.loads((REVIEWS / "deny-deployment-untagged.json").read_text())
    server.post(sent)
    records = server.log_records()
    assert all(isinstance(r, dict) for r in records)
    mine = [r for r in records if r.get("uid") == sent["request"]["uid"]]
    assert mine, server.log_text()[-2000:]
    record = mine[-1]
    assert {"uid", "operation", "decision", "duration_ms", "findings"} <= set(record)
    assert [record[k] for k in ("kind", "namespace", "name")] == ["Deployment", "ml", "deployment-untagged"]
    assert record["decision"] == "denied" and record["findings"] >= 1
    assert "nvcr.io" not in server.log_text()  # the image (and so the object) is never logged


def test_refuses_to_start_without_a_certificate() -> None:
    done = subprocess.run(serve_command("--policies", str(POLICIES), "--port", "1"), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "refusing to serve without TLS" in done.stderr and "--insecure-http" in done.stderr


def test_refuses_a_key_that_does_not_match(tls: Tls, tmp_path: Path) -> None:
    other = make_tls(tmp_path)
    done = subprocess.run(serve_command("--tls-cert", str(tls.cert), "--tls-key", str(other.key)),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "cannot use --tls-cert" in done.stderr


def test_refuses_policies_that_do_not_compile(tls: Tls) -> None:
    broken = FIXTURES / "bad-config"
    command = serve_command("--tls-cert", str(tls.cert), "--tls-key", str(tls.key), "--policies", str(broken))
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "broken.policy:" in done.stderr and "nothing served" in done.stderr


def test_refuses_a_bad_config_with_every_error_located(tls: Tls) -> None:
    done = subprocess.run(serve_command("--tls-cert", str(tls.cert), "--tls-key", str(tls.key),
                                        "--policies", str(POLICIES), "--config",
                                        str(FIXTURES / "bad-config" / "config.yaml")),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    for line, key in ((2, "max_body_bytes"), (3, "internal_error"), (4, "unknown_key")):
        assert f"config.yaml:{line}:1: error[E901]: {key}" in done.stderr, done.stderr


def test_insecure_http_serves_plain_http_for_trials(tmp_path: Path) -> None:
    s = Server(None, tmp_path / "serve.log", "--policies", str(POLICIES))
    try:
        assert s.base.startswith("http://")
        assert _send(s, "allow-pod-tagged")["allowed"] is True
    finally:
        s.stop()


def test_not_ready_until_the_cluster_cache_syncs(tls: Tls, tmp_path: Path) -> None:
    """A cluster that cannot be reached: alive, not ready, and requests still answered (never a hang)."""
    from .server import free_port

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: nowhere, cluster: {{server: "https://127.0.0.1:{free_port()}", insecure-skip-tls-verify: true}}}}]
users: [{{name: nobody, user: {{token: not-a-token}}}}]
contexts: [{{name: nowhere, context: {{cluster: nowhere, user: nobody}}}}]
current-context: nowhere
""")
    s = Server(tls, tmp_path / "serve.log", "--policies", str(POLICIES), "--kubeconfig", str(kubeconfig))
    try:
        assert s.client.get("/healthz").status_code == 200
        ready = s.client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["reason"] == "the cluster-state cache has not synced yet"
        assert "policy_engine_webhook_cluster_cache_synced 0.0" in s.client.get("/metrics").text
        assert _send(s, "inherit-namespace-team")["allowed"] is False  # nothing to inherit from yet
    finally:
        s.stop()


@pytest.mark.parametrize("own_port", [False, True], ids=["admission-port", "metrics-port"])
def test_two_workers_share_one_metrics_view(tls: Tls, tmp_path: Path, own_port: bool) -> None:
    """uvicorn workers are processes; prometheus multiprocess mode merges their counts in every scrape,
    on the admission port or (``--metrics-port``) on a port of its own that the supervisor serves."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    metrics_port = free_port()
    extra = ["--metrics-port", str(metrics_port)] if own_port else []
    s = Server(tls, tmp_path / "serve.log", "--policies", str(POLICIES), "--no-cluster", "--workers", "2", *extra,
               env={"TMPDIR": str(temp)})
    try:
        deadline = time.monotonic() + 60
        while len(pids := {r["pid"] for r in s.log_records() if r.get("event") == "started"}) < 2:
            assert time.monotonic() < deadline, s.log_text()[-2000:]
            time.sleep(0.1)
        for _ in range(10):
            _send(s, "deny-pod-untagged")
            _send(s, "allow-pod-tagged")
        if own_port:
            assert s.client.get("/metrics").status_code == 404
            text = httpx.get(f"http://{HOST}:{metrics_port}/metrics", timeout=10).text
        else:
            text = s.client.get("/metrics").text
    finally:
        status = s.stop()
    assert status == 0, "SIGTERM drains both workers and the supervisor exits 0"
    assert not list(temp.glob("policy-engine-metrics-*")), "the workers' metrics directory is left behind"
    assert len(pids) == 2
    counts = re.findall(r'^policy_engine_webhook_requests_total\{[^}]*operation="CREATE"[^}]*\} (\S+)$', text, re.M)
    assert sum(float(c) for c in counts) == 20.0
    assert "policy_engine_webhook_policies_loaded" in text


def test_a_body_that_never_arrives_gets_a_400_not_a_hang(tls: Tls, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("body_timeout_seconds: 1\n")
    s = Server(tls, tmp_path / "serve.log", "--policies", str(POLICIES), "--config", str(config))
    raw = socket.create_connection((HOST, s.port), timeout=30)
    conn = tls.context().wrap_socket(raw, server_hostname=HOST)
    try:
        conn.sendall(f"POST /validate HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                     "Content-Length: 5000\r\n\r\n{\"apiVersion\": ".encode())
        status, reply = read_http_response(conn)
    finally:
        conn.close()
        s.stop()
    assert status == 400 and reply["error"] == "request body not received within 1 s"
