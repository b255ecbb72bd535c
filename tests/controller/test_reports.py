"""PolicyReports split past ``reports.max_results``: several reports per namespace (and cluster-wide), every
result in exactly one of them, updated in place, and parts no longer needed deleted."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from kubernetes import client

from policy_engine.cluster import Timing
from policy_engine.controller.runner import Controller
from policy_engine.controller.settings import ControllerSettings, LeaderSettings, ReportSettings
from policy_engine.engine import load_engine
from tests.cluster.fake_apiserver import FakeApiServer

from .scenario import FIXTURES, T0

POLICIES = FIXTURES / "policies"
FAST = Timing(watch_timeout_seconds=60, resync_seconds=3600, backoff_initial=0.05, backoff_max=0.2)
REPORTS = "wgpolicyk8s.io/v1alpha2/policyreports"
CLUSTER_REPORTS = "wgpolicyk8s.io/v1alpha2/clusterpolicyreports"
NAME = "policy-engine-audit"


def controller(apiserver: FakeApiServer, max_results: int) -> Controller:
    settings = ControllerSettings(leader_election=LeaderSettings(enabled=False), listen="127.0.0.1:0",
                                  reports=ReportSettings(max_results=max_results))
    api = client.ApiClient(client.Configuration(host=apiserver.url))
    c = Controller(settings, load_engine([POLICIES]), api, clock=lambda: T0 + timedelta(hours=1), timing=FAST,
                   name=f"test-split-{max_results}")
    c.inventory.start()
    end = time.monotonic() + 15
    while not c.inventory.synced:
        assert time.monotonic() < end, "the first lists"
        time.sleep(0.02)
    return c


def parts(apiserver: FakeApiServer, resource: str, ns: str | None) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in apiserver.items(resource) if o["metadata"].get("namespace") == ns}


def flat(reports: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return sorted((r["policy"], r["resources"][0]["kind"], r["resources"][0]["name"], r["result"])
                  for report in reports.values() for r in report["results"])


def test_reports_split_past_max_results_in_place(apiserver: FakeApiServer) -> None:
    whole = controller(apiserver, 1000)
    try:
        whole.cycle()
        single = parts(apiserver, REPORTS, "ml-vision")
        single_cluster = parts(apiserver, CLUSTER_REPORTS, None)
    finally:
        whole.inventory.stop()
    assert set(single) == {NAME}
    expected = flat(single)
    assert len(expected) > 4, expected  # enough results to need three parts of two

    split = controller(apiserver, 2)
    try:
        split.cycle()
        vision = parts(apiserver, REPORTS, "ml-vision")
        names = [NAME] + [f"{NAME}-{i}" for i in range(2, len(vision) + 1)]
        assert sorted(vision) == sorted(names) and len(vision) == -(-len(expected) // 2)
        assert all(1 <= len(r["results"]) <= 2 for r in vision.values())
        assert flat(vision) == expected  # every result in exactly one part: none lost, none duplicated
        for report in vision.values():  # each part's summary counts its own results
            assert sum(report["summary"].values()) == len(report["results"])
        assert flat(parts(apiserver, CLUSTER_REPORTS, None)) == flat(single_cluster)

        writes = len(apiserver.writes(REPORTS))
        split.cycle()  # nothing changed: no part rewritten, none added
        assert len(apiserver.writes(REPORTS)) == writes
        assert set(parts(apiserver, REPORTS, "ml-vision")) == set(vision)
    finally:
        split.inventory.stop()

    regrown = controller(apiserver, 1000)  # a restart with a larger limit: the extra parts are deleted
    try:
        regrown.cycle()
        assert set(parts(apiserver, REPORTS, "ml-vision")) == {NAME}
        assert flat(parts(apiserver, REPORTS, "ml-vision")) == expected
        assert set(parts(apiserver, CLUSTER_REPORTS, None)) == {NAME}
    finally:
        regrown.inventory.stop()
