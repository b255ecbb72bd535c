"""Label changes on namespaces and nodes trigger the controller's on-change audit, as workload and pod
changes do; a node's status update (every few seconds in a real cluster) does not."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from policy_engine.cluster import Timing
from policy_engine.controller.runner import Controller
from policy_engine.controller.settings import ControllerSettings, LeaderSettings
from policy_engine.engine import load_engine
from tests.cluster.fake_apiserver import FakeApiServer

from .scenario import FIXTURES, NODE, T0

POLICIES = FIXTURES / "policies"
FAST = Timing(watch_timeout_seconds=60, resync_seconds=3600, backoff_initial=0.05, backoff_max=0.2)
REPORTS = "wgpolicyk8s.io/v1alpha2/policyreports"


def wait_for(condition: Callable[[], object], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def controller(apiserver: FakeApiServer) -> Iterator[Controller]:
    """A running controller whose full audit comes once an hour: any further audit is an on-change one."""
    settings = ControllerSettings(leader_election=LeaderSettings(enabled=False), listen="127.0.0.1:0",
                                  interval_seconds=3600, debounce_seconds=0)
    api = client.ApiClient(client.Configuration(host=apiserver.url))
    c = Controller(settings, load_engine([POLICIES]), api, clock=lambda: T0, timing=FAST, name="test-labels")
    c.start()
    try:
        wait_for(lambda: cycles(c) == 1, "the first audit")
        yield c
    finally:
        c.stop()


def cycles(c: Controller) -> float:
    return c.metrics.registry.get_sample_value("policy_engine_controller_audit_cycles_total", {"result": "ok"}) or 0


def _get(apiserver: FakeApiServer, resource: str, name: str) -> dict[str, Any]:
    found = [o for o in apiserver.items(resource) if o["metadata"]["name"] == name]
    assert found, name
    return copy.deepcopy(found[0])


def _team_results(apiserver: FakeApiServer) -> list[str]:
    report = apiserver.get(REPORTS, "ml-nlp", "policy-engine-audit")
    assert report is not None
    return sorted(r["result"] for r in report["results"] if r["policy"] == "team-label")


def test_a_namespace_label_change_audits_at_once(apiserver: FakeApiServer, controller: Controller) -> None:
    """ml-nlp's workloads carry no team of their own: dropping the namespace's team label fails them now,
    not at the next full cycle an hour later."""
    before = _team_results(apiserver)
    assert before and "warn" not in before
    ns = _get(apiserver, "namespaces", "ml-nlp")
    ns["metadata"]["labels"] = {}
    apiserver.apply("namespaces", "MODIFIED", ns)
    wait_for(lambda: cycles(controller) == 2, "an audit on the namespace's label change")
    wait_for(lambda: "warn" in _team_results(apiserver), "the report to show the lost team label")


def test_a_node_label_change_audits_but_a_status_update_does_not(apiserver: FakeApiServer,
                                                                 controller: Controller) -> None:
    nodes = controller.inventory.state.reflectors["nodes"]
    node = _get(apiserver, "nodes", NODE)
    seen = nodes.stats.events
    node["status"] = {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-11-23T12:00:00Z"}]}
    apiserver.apply("nodes", "MODIFIED", node)
    wait_for(lambda: nodes.stats.events > seen, "the node's status update to be watched")
    assert not controller.inventory.changed.is_set()
    time.sleep(0.3)  # the loop wakes at least every second: it had its chance to audit
    assert cycles(controller) == 1

    node["metadata"]["labels"]["karpenter.sh/capacity-type"] = "spot"
    apiserver.apply("nodes", "MODIFIED", node)
    wait_for(lambda: cycles(controller) == 2, "an audit on the node's label change")
