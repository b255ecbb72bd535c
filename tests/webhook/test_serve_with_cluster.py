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
        srv.load("namespaces", [*namespaces, team_vision])
        srv.load("nodes", fixture("nodes.json")["items"])
        srv.load("pods", fixture("pods.json")["items"])
        yield srv


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


