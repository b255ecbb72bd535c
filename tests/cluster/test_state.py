"""ClusterState against the fake API server: what the webhook reads after sync and after watch events."""

from __future__ import annotations

import copy
import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from policy_engine.cluster import ClusterState
from policy_engine.engine import Engine, Usage, load_engine
from policy_engine.model.build import build_workload
from policy_engine.model.documents import Document
from policy_engine.pricing.catalog import load_catalog

from .fake_apiserver import FIXTURES, FakeApiServer, fixture
from .helpers import FAST, NOW, POLICIES, Clock, make_state, rule, wait_for

MONTH_END = datetime(2026, 12, 1, tzinfo=UTC)


def hours(a: str | datetime, b: str | datetime) -> float:
    def t(x: str | datetime) -> datetime:
        return x if isinstance(x, datetime) else datetime.fromisoformat(x.replace("Z", "+00:00"))
    return (t(b) - t(a)).total_seconds() / 3600


class Near:
    """Equal to a Usage whose two figures are within floating-point rounding of these."""

    def __init__(self, used: float, running: float) -> None:
        self.expected = (used, running)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Usage) and (other.used, other.running) == pytest.approx(self.expected)

    def __repr__(self) -> str:
        return f"Near{self.expected}"


def near(used: float, running: float) -> Near:
    return Near(used, running)


def pod(name: str) -> dict[str, Any]:
    found = [p for p in fixture("pods.json")["items"] if p["metadata"]["name"] == name]
    return copy.deepcopy(found[0])


def test_usage_is_unknown_until_every_list_is_done(server: FakeApiServer, clock: Clock, engine: Engine) -> None:
    st = make_state(server, clock)  # not started: nothing listed yet
    assert st.synced is False
    assert st.usage(rule(engine, "gpu-hours-per-month"), "vision") is None
    assert st.namespace_labels("ml-vision") is None


def test_initial_sync(state: ClusterState) -> None:
    assert state.namespace_labels("ml-vision") == {"kubernetes.io/metadata.name": "ml-vision", "team": "vision",
                                                   "cost-center": "cc-1042"}
    assert state.namespace_labels("no-such-namespace") is None
    info = state.sync_info()
    assert info.synced and info.last_sync is not None and info.relists == 0
    assert info.gpu_pods == 4  # the CPU-only web pod is not kept


def test_gpu_hours_used_and_running_per_period(state: ClusterState, engine: Engine) -> None:
    """vision: a 4-GPU worker labelled only through its namespace, plus a finished 2-GPU eval job."""
    worker_start = "2026-11-20T08:00:00Z"
    month = state.usage(rule(engine, "gpu-hours-per-month"), "vision")
    assert month == near(
        used=4 * hours(worker_start, NOW) + 2 * hours("2026-11-22T10:00:00Z", "2026-11-22T16:30:00Z"),
        running=4 * hours(NOW, MONTH_END))
    day = state.usage(rule(engine, "gpu-hours-per-day"), "vision")
    assert day == near(used=4 * 12, running=4 * 12)  # the eval job ran yesterday
    week = state.usage(rule(engine, "gpu-hours-per-week"), "vision")  # the week began this Monday
    assert week == near(used=4 * 12, running=4 * (24 * 7 - 12))

    # nlp: a 1-GPU server since 06:00; the 8-GPU pod that is not scheduled holds nothing
    nlp = state.usage(rule(engine, "gpu-hours-per-month"), "nlp")
    assert nlp == near(used=6.0, running=hours(NOW, MONTH_END))
    assert state.usage(rule(engine, "gpu-hours-per-month"), "platform") == Usage(0.0, 0.0)


def test_budget_prices_each_pod_on_its_node(state: ClusterState, engine: Engine) -> None:
    """The worker runs on an on-demand p4d.24xlarge (4 of 8 GPUs), the server on a spot g5.12xlarge.

    The spot server is priced at the bundled catalog's spot price (AWS's spot feed, us-east-1).
    """
    catalog = load_catalog(None)
    p4d, g5 = catalog.instance_types["p4d.24xlarge"], catalog.instance_types["g5.12xlarge"]
    assert g5.spot is not None and g5.spot < g5.on_demand
    spend = rule(engine, "spend-per-month")
    worker_rate, eval_rate = p4d.on_demand * 4 / 8, p4d.on_demand * 2 / 8
    vision = state.usage(spend, "vision")
    assert vision == near(
        used=worker_rate * hours("2026-11-20T08:00:00Z", NOW) + eval_rate * 6.5,
        running=worker_rate * hours(NOW, MONTH_END))
    nlp = state.usage(spend, "nlp")
    assert nlp == near(used=g5.spot / 4 * 6, running=g5.spot / 4 * hours(NOW, MONTH_END))


def test_watch_events_move_usage(server: FakeApiServer, state: ClusterState, clock: Clock,
                                 engine: Engine) -> None:
    quota = rule(engine, "gpu-hours-per-month")
    before = state.usage(quota, "nlp")
    assert before is not None

    new = pod("llm-serve-7d9f8b6c5-h2x4p")
    new["metadata"].update(name="llm-serve-7d9f8b6c5-k8s2w", uid="a1b2c3d4-0006-4e5f-8a9b-000000000006")
    new["status"]["startTime"] = "2026-11-23T11:00:00Z"
    server.apply("pods", "ADDED", {"kind": "Pod", "apiVersion": "v1", **new})
    wait_for(lambda: state.usage(quota, "nlp") != before, "the ADDED pod")
    added = state.usage(quota, "nlp")
    assert added == near(before.used + 1.0, before.running + hours(NOW, MONTH_END))

    clock.now = NOW + timedelta(hours=2)
    finished = copy.deepcopy(new)
    finished["status"]["phase"] = "Failed"
    finished["status"]["containerStatuses"][0]["state"] = {"terminated": {
        "exitCode": 137, "reason": "OOMKilled", "startedAt": "2026-11-23T11:00:00Z",
        "finishedAt": "2026-11-23T13:00:00Z"}}
    server.apply("pods", "MODIFIED", {"kind": "Pod", "apiVersion": "v1", **finished})
    later = MONTH_END - clock.now
    wait_for(lambda: (u := state.usage(quota, "nlp")) is not None
             and u.running == pytest.approx(later.total_seconds() / 3600), "the MODIFIED pod")
    after = state.usage(quota, "nlp")
    assert after == near(used=8.0 + 2.0, running=hours(clock.now, MONTH_END))

    server.apply("pods", "DELETED", {"kind": "Pod", "apiVersion": "v1", **pod("resnet-train-worker-0")})
    wait_for(lambda: (u := state.usage(quota, "vision")) is not None and u.running == 0, "the DELETED pod")
    vision = state.usage(quota, "vision")
    assert vision is not None
    assert vision.used == pytest.approx(4 * hours("2026-11-20T08:00:00Z", clock.now) + 2 * 6.5)


def test_namespace_labels_regroup_pods(server: FakeApiServer, state: ClusterState, engine: Engine) -> None:
    """The worker has no team label: it follows its namespace's (the eval pod's ``team`` too: authoritative)."""
    quota = rule(engine, "gpu-hours-per-day")
    ns = next(n for n in fixture("namespaces.json")["items"] if n["metadata"]["name"] == "ml-vision")
    ns["metadata"]["labels"]["team"] = "computer-vision"
    server.apply("namespaces", "MODIFIED", {"kind": "Namespace", "apiVersion": "v1", **ns})
    wait_for(lambda: state.namespace_labels("ml-vision", ) == ns["metadata"]["labels"], "the namespace change")
    assert state.usage(quota, "computer-vision") == near(used=48.0, running=48.0)
    assert state.usage(quota, "vision") == Usage(0.0, 0.0)


def test_node_labels_reprice_pods(server: FakeApiServer, state: ClusterState, engine: Engine) -> None:
    spend = rule(engine, "spend-per-month")
    g5 = load_catalog(None).instance_types["g5.12xlarge"]
    node = next(n for n in fixture("nodes.json")["items"] if n["metadata"]["name"] == "ip-10-0-40-7.ec2.internal")
    node["metadata"]["labels"]["karpenter.sh/capacity-type"] = "on-demand"
    server.apply("nodes", "MODIFIED", {"kind": "Node", "apiVersion": "v1", **node})
    wait_for(lambda: (u := state.usage(spend, "nlp")) is not None
             and u.used == pytest.approx(g5.on_demand / 4 * 6), "the node change")


def test_live_usage_decides_admission(state: ClusterState, engine: Engine) -> None:
    """The engine adds a new 8-GPU job's projection to what the cache reports, and denies past the quota."""
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "big", "namespace": "ml-vision",
                                                                 "labels": {"team": "vision"}},
           "spec": {"activeDeadlineSeconds": 3600 * 200, "template": {
               "metadata": {"labels": {"team": "vision"}}, "spec": {"restartPolicy": "Never",
                    "containers": [{"name": "t", "image": "t", "resources": {"limits": {"nvidia.com/gpu": 8}}}]}}}}
    workload = build_workload(Document(job, "<admission>", 1))
    assert workload is not None
    result = engine.evaluate([workload], usage=state)
    month = [f for f in result.findings if f.policy == "gpu-hours-per-month"]
    assert len(month) == 1 and month[0].enforcement.value == "deny"
    assert "running" in month[0].message  # the live figures are quoted

    no_state = engine.evaluate([workload])
    assert not [f for f in no_state.findings if f.policy == "gpu-hours-per-month"]


def test_recorded_pod_lifecycle(server: FakeApiServer, state: ClusterState, engine: Engine) -> None:
    """A Job pod's recorded watch events: created, scheduled, running, a bookmark, succeeded, deleted."""
    quota = rule(engine, "gpu-hours-per-day")
    base = state.usage(quota, "vision")
    assert base is not None
    lines = (FIXTURES / "pods.watch.jsonl").read_text().splitlines()
    seen: list[Usage] = []
    for line in lines:
        rv = server.replay("pods", line)
        wait_for(lambda rv=rv: state.reflectors["pods"].stats.resource_version == str(rv), "the event")  # type: ignore[misc]
        usage = state.usage(quota, "vision")
        assert usage is not None
        seen.append(Usage(usage.used - base.used, usage.running - base.running))
    pending, scheduled, running, bookmarked, succeeded, deleted = seen
    assert pending == Usage(0.0, 0.0)  # not on a node: holds no GPU
    assert scheduled == near(0.0, 2 * 12)  # holds 2 GPUs to the end of the day
    assert running == near(2 * hours("2026-11-23T09:00:02Z", NOW), 2 * 12)
    assert bookmarked == running and state.reflectors["pods"].stats.bookmarks == 1
    assert succeeded == near(2 * hours("2026-11-23T09:00:02Z", "2026-11-23T11:30:02Z"), 0.0)
    assert deleted == succeeded  # what it used today still counts


def test_a_new_catalog_reprices_every_live_pod(state: ClusterState, engine: Engine, tmp_path: Any) -> None:
    """A policy reload that changes ``--pricing`` must move budgets at once, not when pods next change."""
    spend = rule(engine, "spend-per-month")
    before = state.usage(spend, "vision")
    assert before is not None and before.used > 0
    p4d = load_catalog(None).instance_types["p4d.24xlarge"]
    negotiated = tmp_path / "pricing.yaml"
    negotiated.write_text(
        "instance_types:\n  p4d.24xlarge: {provider: aws, region: us-east-1, gpus: 8, gpu_model: A100, vcpus: 96, "
        f"memory_gib: 1152, on_demand: {p4d.on_demand * 2}, source: contract}}\n")
    assert state.set_catalog(load_catalog(str(negotiated))) > 0
    after = state.usage(spend, "vision")
    assert after == near(before.used * 2, before.running * 2)
    assert state.set_catalog(state.store.catalog) == 0, "the same catalog again reprices nothing"
    reread = load_catalog(str(negotiated))
    assert reread is not state.store.catalog and state.set_catalog(reread) == 0, "nor do equal prices re-read"


def _relabelled_pod() -> dict[str, Any]:
    """A 1-GPU pod in vision's namespace that says it is nlp's (running since 06:00, as nlp's server)."""
    new = pod("llm-serve-7d9f8b6c5-h2x4p")
    new["metadata"].update(name="dodge-7d9f8b6c5-aaaaa", namespace="ml-vision",
                           uid="a1b2c3d4-0007-4e5f-8a9b-000000000007")
    return {"kind": "Pod", "apiVersion": "v1", **new}


def _kubeconfig(server: FakeApiServer, path: Path) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": server.url}}],
        "users": [{"name": "fake", "user": {"token": "unused"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}))
    return path


def _serve_state(server: FakeApiServer, clock: Clock, tmp_path: Path, authoritative: tuple[str, ...]) -> ClusterState:
    """The cache exactly as ``serve --kubeconfig`` builds it from its webhook config."""
    from policy_engine.webhook.app import ServeSettings, connect_cluster
    from policy_engine.webhook.config import WebhookConfig
    from policy_engine.webhook.review import LoadedEngine

    settings = ServeSettings(cluster="kubeconfig", kubeconfig=str(_kubeconfig(server, tmp_path / "kubeconfig")))
    state = connect_cluster(settings, WebhookConfig(authoritative_labels=authoritative),
                            LoadedEngine.of(load_engine([POLICIES])))
    assert isinstance(state, ClusterState)
    state.clock = clock
    return state


def _controller_state(server: FakeApiServer, clock: Clock, tmp_path: Path,
                      authoritative: tuple[str, ...]) -> ClusterState:
    """The cache exactly as the controller (and ``audit``) builds it from its settings."""
    from policy_engine.controller.runner import Controller
    from policy_engine.controller.settings import ControllerSettings, LeaderSettings

    settings = ControllerSettings(authoritative_labels=authoritative, leader_election=LeaderSettings(enabled=False),
                                  listen="127.0.0.1:0")
    controller = Controller(settings, load_engine([POLICIES]), client.ApiClient(client.Configuration(host=server.url)),
                            clock=clock, timing=FAST, name="test-0")
    return controller.inventory.state


def _listed(state: ClusterState) -> bool:
    return state.synced and len(state.store.pods) == 5


@pytest.mark.parametrize("build", [_serve_state, _controller_state], ids=["serve", "controller"])
def test_relabelling_a_pod_does_not_move_its_usage(server: FakeApiServer, clock: Clock, engine: Engine,
                                                   tmp_path: Path, build: Any) -> None:
    """With ``team`` authoritative (the default) a pod in vision's namespace labelled ``team: nlp`` counts
    against vision's quota, not nlp's; configured otherwise, the pod's own label counts."""
    quota = rule(engine, "gpu-hours-per-month")
    server.apply("pods", "ADDED", _relabelled_pod())
    for authoritative, counted, spared in ((("team", "cost-center"), "vision", "nlp"), ((), "nlp", "vision")):
        state = build(server, clock, tmp_path, authoritative)
        state.start()
        try:
            wait_for(functools.partial(_listed, state), "the first lists")
            extra = 6.0  # GPU-hours since 06:00 today
            others = {"vision": 4 * hours("2026-11-20T08:00:00Z", NOW) + 2 * 6.5, "nlp": 6.0}
            used = state.usage(quota, counted)
            assert used is not None and used.used == pytest.approx(others[counted] + extra), authoritative
            untouched = state.usage(quota, spared)
            assert untouched is not None and untouched.used == pytest.approx(others[spared]), authoritative
        finally:
            state.stop()
