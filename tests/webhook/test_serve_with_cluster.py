"""``policy-engine serve --kubeconfig``: the real webhook process reading live state from the fake API server."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.cluster.fake_apiserver import FakeApiServer, fixture, running
from tests.cluster.helpers import POLICIES as QUOTA_POLICIES

from .reviews import POLICIES as SERVING_POLICIES
from .reviews import REVIEWS
from .server import Server, Tls, make_tls


@pytest.fixture(scope="module")
def apiserver() -> Iterator[FakeApiServer]:
    with running() as srv:
        namespaces = fixture("namespaces.json")["items"]
        team_vision = copy.deepcopy(namespaces[2])
        team_vision["metadata"].update(name="team-vision", uid="6f1c1d7e-0c55-4f5b-9d0a-0d1f0e3c0009")
        team_vision["metadata"]["labels"]["kubernetes.io/metadata.name"] = "team-vision"
        scalers = copy.deepcopy(namespaces[2])
        scalers["metadata"].update(name="ml-scale", uid="6f1c1d7e-0c55-4f5b-9d0a-0d1f0e3c0010",
                                   labels={"kubernetes.io/metadata.name": "ml-scale", "team": "scalers"})
        srv.load("namespaces", [*namespaces, team_vision, scalers])
        srv.load("nodes", fixture("nodes.json")["items"])
        srv.load("pods", [*fixture("pods.json")["items"], _running_gpu_pod()])
        srv.load("apps/v1/deployments", [_scaled("Deployment", "gpu-serve")])
        srv.load("apps/v1/statefulsets", [_scaled("StatefulSet", "gpu-shards")])
        yield srv


def _running_gpu_pod() -> dict[str, Any]:
    """Team scalers' live usage: one GPU, running since January, so all of this day, week and month."""
    pod: dict[str, Any] = copy.deepcopy(next(p for p in fixture("pods.json")["items"]
                                             if p["metadata"]["namespace"] == "ml-vision"))
    pod["metadata"] = {"name": "scalers-batch-0", "namespace": "ml-scale",
                       "uid": "a1b2c3d4-0001-4e5f-8a9b-0000000000f1", "resourceVersion": "0",
                       "creationTimestamp": "2026-01-02T00:00:00Z"}
    pod["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
                                                 "limits": {"memory": "16Gi", "nvidia.com/gpu": "1"}}
    pod["status"]["startTime"] = "2026-01-02T00:00:00Z"
    return pod


def _scaled(kind: str, name: str) -> dict[str, Any]:
    """A one-GPU-a-replica workload of team scalers, scaled to zero: what ``kubectl scale`` will scale."""
    resources = {"requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
                 "limits": {"memory": "16Gi", "nvidia.com/gpu": "1"}}
    template = {"metadata": {"labels": {"app": name, "team": "scalers"}},
                "spec": {"containers": [{"name": "serve", "image": "ghcr.io/acme/serve:1", "resources": resources}]}}
    spec: dict[str, Any] = {"replicas": 0, "selector": {"matchLabels": {"app": name}}, "template": template}
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind,
            "metadata": {"name": name, "namespace": "ml-scale", "uid": f"5ca1ed00-0000-4000-8000-{len(name):012d}",
                         "labels": {"team": "scalers"}}, "spec": spec}


@pytest.fixture(scope="module")
def webhook(apiserver: FakeApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("serve")
    kubeconfig = folder / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": apiserver.url}}],
        "users": [{"name": "fake", "user": {"token": "unused"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
    }))
    tls: Tls = make_tls(folder)
    server = Server(tls, folder / "serve.log", "--policies", str(SERVING_POLICIES), "--policies",
                    str(QUOTA_POLICIES), "--kubeconfig", str(kubeconfig))
    deadline = time.monotonic() + 30
    while server.client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, server.log_text()
        time.sleep(0.1)
    yield server
    server.stop()


def _review(name: str) -> dict[str, Any]:
    review: dict[str, Any] = json.loads((REVIEWS / f"{name}.json").read_text())
    return review


def test_watches_the_cluster_before_it_is_ready(apiserver: FakeApiServer, webhook: Server) -> None:
    assert webhook.client.get("/readyz").json()["cache_synced"] is True
    for resource in ("namespaces", "nodes", "pods"):
        assert apiserver.list_requests(resource), resource


def test_namespace_label_is_inherited(webhook: Server) -> None:
    """Denied without cluster state (tests/webhook/test_server.py); the namespace's team label lets it in."""
    response = webhook.post(_review("inherit-namespace-team")).json()["response"]
    assert response["allowed"] is True, response


def test_live_quota_usage_denies(webhook: Server) -> None:
    """vision's 4-GPU worker has run since Nov 20 and runs to the month's end (used + running); 8 more GPUs
    for a week (1344 GPU-hours) cross its 2000 GPU-hour monthly quota only with that live usage added."""
    review = _review("inherit-namespace-team")
    review["request"]["namespace"] = "ml-vision"
    pod = review["request"]["object"]
    pod["metadata"].update(namespace="ml-vision", labels={"team": "vision"})
    pod["spec"]["activeDeadlineSeconds"] = 7 * 24 * 3600
    pod["spec"]["restartPolicy"] = "Never"
    pod["spec"]["nodeSelector"] = {"node.kubernetes.io/instance-type": "p4d.24xlarge"}
    pod["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": 8}}
    response = webhook.post(review).json()["response"]
    assert response["allowed"] is False, response
    assert "gpu-hours-per-month" in response["status"]["message"]
    assert "used" in response["status"]["message"]


def test_serve_log_mentions_the_cluster(webhook: Server) -> None:
    records = webhook.log_records()
    assert any(r.get("cluster") == "kubeconfig" for r in records), webhook.log_text()[-2000:]
    listed = {r["resource"] for r in records if r.get("event") == "cache_list"}
    assert listed == {"namespaces", "nodes", "pods"}, webhook.log_text()[-2000:]




@pytest.mark.parametrize(("resource", "name"), [("deployments", "gpu-serve"), ("statefulsets", "gpu-shards")])
def test_scaling_past_a_gpu_quota_given_live_usage_is_denied(webhook: Server, resource: str, name: str) -> None:
    """``kubectl scale --replicas N`` through the scale subresource: the webhook reads the workload from the
    API server and judges it at N replicas against the team's live usage (issue #13). Team scalers has a
    one-GPU pod running all month (~720-744 GPU-hours) and a 2,000 GPU-hour monthly quota: one more
    one-GPU replica (730) fits, two (1,460) do not — though without the live usage they would."""

    def scale_to(replicas: int) -> dict[str, Any]:
        review = _review("inherit-namespace-team")
        scale = {"apiVersion": "autoscaling/v1", "kind": "Scale",
                 "metadata": {"name": name, "namespace": "ml-scale"}, "spec": {"replicas": replicas}}
        review["request"].update({
            "kind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
            "resource": {"group": "apps", "version": "v1", "resource": resource}, "subResource": "scale",
            "operation": "UPDATE", "name": name, "namespace": "ml-scale", "object": scale,
            "oldObject": {**scale, "spec": {"replicas": 0}}})
        reply = webhook.post(review)
        assert reply.status_code == 200, reply.text
        response: dict[str, Any] = reply.json()["response"]
        return response

    within = scale_to(1)
    assert within["allowed"] is True, within
    past = scale_to(2)
    assert past["allowed"] is False, past
    message = past["status"]["message"]
    assert "gpu-hours-per-month" in message and 'labels["team"]=scalers' in message
    assert "used" in message and "committed by running pods" in message  # the live usage was counted
