"""Scale subresource requests: judged as an UPDATE of the workload they scale, or by internal_error."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from policy_engine.webhook.admission import AdmissionReview
from policy_engine.webhook.config import WebhookConfig
from policy_engine.webhook.manifests import webhook_rules
from policy_engine.webhook.review import decide
from policy_engine.webhook.scale import as_workload_update

from .reviews import engine, review_body, state


def scale_request(replicas: int, operation: str = "UPDATE") -> Any:
    """``kubectl scale deployment gpu-farm --replicas N``, as the API server sends it."""
    body = review_body("deny-too-many-gpus")
    request = body["request"]
    request.update({"kind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
                    "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
                    "subResource": "scale", "operation": operation, "name": "gpu-farm", "namespace": "ml"})
    scale = {"apiVersion": "autoscaling/v1", "kind": "Scale",
             "metadata": {"name": "gpu-farm", "namespace": "ml"}, "spec": {"replicas": replicas}}
    request["object"] = scale
    request["oldObject"] = {**scale, "spec": {"replicas": 1}}
    parsed = AdmissionReview.model_validate(body).request
    assert parsed is not None
    return parsed


def deployment(replicas: int) -> dict[str, Any]:
    workload: dict[str, Any] = copy.deepcopy(review_body("deny-too-many-gpus")["request"]["object"])
    workload["spec"]["replicas"] = replicas
    return workload


def test_scaling_past_the_gpu_cap_is_denied() -> None:
    """One GPU a replica, at most 8 GPUs: a Deployment running 1 replica scaled to 12 is judged at 12."""
    loaded = engine()
    request = as_workload_update(scale_request(12), deployment(1))
    decision = decide(request, state(loaded))
    assert decision.response.allowed is False
    assert decision.response.status is not None and "gpu-cap" in decision.response.status.message
    assert decide(as_workload_update(scale_request(4), deployment(1)), state(loaded)).response.allowed is True


@pytest.mark.parametrize(("mode", "allowed"), [("open", True), ("closed", False)])
def test_a_scale_whose_workload_cannot_be_read_follows_internal_error(mode: str, allowed: bool) -> None:
    decision = decide(scale_request(12), state(engine(), WebhookConfig(internal_error=mode)))  # type: ignore[arg-type]
    assert decision.result == "error" and decision.response.allowed is allowed
    said = " ".join(decision.response.warnings or []) + (decision.response.status.message
                                                          if decision.response.status else "")
    assert "scale of deployments/gpu-farm" in said


def test_the_webhook_rules_cover_the_scale_subresources() -> None:
    scale_rules = [r for r in webhook_rules() if any(res.endswith("/scale") for res in r["resources"])]
    assert len(scale_rules) == 1
    assert scale_rules[0]["apiGroups"] == ["apps"] and scale_rules[0]["operations"] == ["UPDATE"]
    assert set(scale_rules[0]["resources"]) == {"deployments/scale", "statefulsets/scale", "replicasets/scale"}


def test_scale_targets_read_the_workload_from_the_api_server() -> None:
    """``ScaleTargets.get`` over real HTTP (a loopback server answering as the API server does)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from kubernetes import client

    from policy_engine.webhook.scale import ScaleTargets

    seen: list[str] = []

    class Api(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            found = self.path == "/apis/apps/v1/namespaces/ml/deployments/gpu-farm"
            body = json.dumps(deployment(3) if found else {"kind": "Status", "code": 404}).encode()
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        configuration = client.Configuration(host=f"http://127.0.0.1:{server.server_address[1]}")
        api = client.ApiClient(configuration)
        targets = ScaleTargets(api)
        found = targets.get("apps", "v1", "deployments", "ml", "gpu-farm")
        assert found is not None and found["spec"]["replicas"] == 3
        with pytest.raises(Exception):  # noqa: B017  a 404 is an ApiException: the endpoint logs it
            targets.get("apps", "v1", "deployments", "ml", "missing")
        assert seen == ["/apis/apps/v1/namespaces/ml/deployments/gpu-farm",
                        "/apis/apps/v1/namespaces/ml/deployments/missing"]
        api.close()
    finally:
        server.shutdown()
        server.server_close()


class _Targets:
    """What the endpoint asks for the scaled workload: the Deployment at 1 replica, or a failure."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.asked: list[tuple[str, ...]] = []

    def get(self, group: str, version: str, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        self.asked.append((group, version, resource, namespace, name))
        if self.fail:
            raise ConnectionError("the API server is unreachable")
        return deployment(1)


def _post(targets: _Targets, replicas: int, mode: str = "open") -> dict[str, Any]:
    """``POST /validate`` through the real endpoint (ASGI, in process) with ``targets`` as its cluster reader."""
    import asyncio

    import httpx

    from policy_engine.webhook.app import ServeSettings, create_app

    app = create_app(ServeSettings(), loaded=engine(), config=WebhookConfig(internal_error=mode))  # type: ignore[arg-type]
    assert app.validate is not None
    app.validate.scale_targets = targets  # type: ignore[assignment]
    body = review_body("deny-too-many-gpus")
    request = body["request"]
    request.update({"kind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
                    "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
                    "subResource": "scale", "operation": "UPDATE", "name": "gpu-farm", "namespace": "ml",
                    "object": {"apiVersion": "autoscaling/v1", "kind": "Scale",
                               "metadata": {"name": "gpu-farm", "namespace": "ml"}, "spec": {"replicas": replicas}}})

    async def send() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://webhook") as client:
            reply = await client.post("/validate", json=body)
        assert reply.status_code == 200, reply.text
        response: dict[str, Any] = reply.json()["response"]
        return response

    return asyncio.run(send())


def test_the_endpoint_reads_the_scaled_deployment_and_judges_it() -> None:
    targets = _Targets()
    assert _post(targets, 12)["allowed"] is False
    assert targets.asked == [("apps", "v1", "deployments", "ml", "gpu-farm")]
    assert _post(targets, 4)["allowed"] is True


def test_an_unreadable_scale_target_follows_internal_error() -> None:
    assert _post(_Targets(fail=True), 12, "closed")["allowed"] is False
    response = _post(_Targets(fail=True), 12, "open")
    assert response["allowed"] is True and "scale of deployments/gpu-farm" in " ".join(response["warnings"])
