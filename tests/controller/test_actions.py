"""Each kind's stop and its undo, through the fake API server (the API's wire format)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client

from policy_engine.controller import actions
from policy_engine.controller.kinds import by_kind, workload_resources
from policy_engine.controller.kube import Kube
from tests.cluster.fake_apiserver import FakeApiServer, running

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
KINDS = by_kind(workload_resources())


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with running() as srv:
        srv.register("trainer.kubeflow.org/v1alpha1/trainjobs", "TrainJob")
        yield srv


def _put(srv: FakeApiServer, kind: str, spec: dict[str, Any]) -> tuple[Kube, dict[str, Any]]:
    r = KINDS[kind]
    obj = {"apiVersion": r.api_version, "kind": kind, "metadata": {"name": "w", "namespace": "ns"}, "spec": spec}
    srv.load(r.key, [obj])
    kube = Kube(client.ApiClient(client.Configuration(host=srv.url)))
    got = kube.get(r, "ns", "w")
    assert got is not None
    return kube, got


@pytest.mark.parametrize(("kind", "spec", "path", "stopped", "restored"), [
    ("Deployment", {"replicas": 3}, ("spec", "replicas"), 0, 3),
    ("StatefulSet", {}, ("spec", "replicas"), 0, 1),  # no replicas field: 1, restored as 1
    ("LeaderWorkerSet", {"replicas": 2}, ("spec", "replicas"), 0, 2),
    ("InferenceService", {"predictor": {"minReplicas": 2}}, ("spec", "predictor", "minReplicas"), 0, 2),
    ("Job", {"parallelism": 4}, ("spec", "suspend"), True, False),
    ("JobSet", {}, ("spec", "suspend"), True, False),
    ("RayCluster", {}, ("spec", "suspend"), True, False),
    ("RayJob", {}, ("spec", "suspend"), True, False),
    ("TrainJob", {}, ("spec", "suspend"), True, False),
    ("PyTorchJob", {"runPolicy": {"cleanPodPolicy": "None"}}, ("spec", "runPolicy", "suspend"), True, False),
])
def test_stop_then_resume(server: FakeApiServer, kind: str, spec: dict[str, Any], path: tuple[str, ...],
                          stopped: object, restored: object) -> None:
    kube, obj = _put(server, kind, spec)
    r = KINDS[kind]
    done = actions.stop(kube, r, obj, "idle-policy", NOW, delete_pods=False)
    now = kube.get(r, "ns", "w")
    assert now is not None
    value: Any = now
    for p in path:
        value = value[p]
    assert value == stopped, done.detail
    assert now["metadata"]["annotations"][actions.STOPPED_BY] == "idle-policy"
    if r.stop == "scale":  # through the scale subresource, as the RBAC allows
        assert any(w.path.endswith("/w/scale") for w in server.writes(r.key))
    with pytest.raises(actions.NotStoppable):
        actions.stop(kube, r, now, "idle-policy", NOW, delete_pods=False)  # already stopped
    actions.resume(kube, r, now)
    back = kube.get(r, "ns", "w")
    assert back is not None
    value = back
    for p in path:
        value = value[p]
    assert value == restored
    assert not any(k.startswith("policy-engine.io/") for k in back["metadata"].get("annotations") or {})
    if kind == "PyTorchJob":
        assert back["spec"]["runPolicy"]["cleanPodPolicy"] == "None"  # the rest of runPolicy kept


def test_bare_pods_are_deleted_only_when_the_policy_says_so(server: FakeApiServer) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
           "spec": {"containers": [{"name": "c", "image": "i"}]}}
    server.load("pods", [pod])
    kube = Kube(client.ApiClient(client.Configuration(host=server.url)))
    from policy_engine.controller.kinds import POD_RESOURCE

    with pytest.raises(actions.NotStoppable, match="delete_pods"):
        actions.stop(kube, POD_RESOURCE, pod, "idle-policy", NOW, delete_pods=False)
    assert server.get("pods", "ns", "p") is not None
    actions.stop(kube, POD_RESOURCE, pod, "idle-policy", NOW, delete_pods=True)
    assert server.get("pods", "ns", "p") is None


def test_kinds_without_a_stop_are_only_notified(server: FakeApiServer) -> None:
    kube, obj = _put(server, "DaemonSet", {})
    with pytest.raises(actions.NotStoppable, match="no stop"):
        actions.stop(kube, KINDS["DaemonSet"], obj, "idle-policy", NOW, delete_pods=True)
    assert server.writes("apps/v1/daemonsets") == []
