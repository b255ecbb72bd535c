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
        targets = ScaleTargets(client.ApiClient(configuration))
        found = targets.get("apps", "v1", "deployments", "ml", "gpu-farm")
        assert found is not None and found["spec"]["replicas"] == 3
        with pytest.raises(Exception):  # noqa: B017  a 404 is an ApiException: the endpoint logs it
            targets.get("apps", "v1", "deployments", "ml", "missing")
        assert seen == ["/apis/apps/v1/namespaces/ml/deployments/gpu-farm",
                        "/apis/apps/v1/namespaces/ml/deployments/missing"]
    finally:
        server.shutdown()
