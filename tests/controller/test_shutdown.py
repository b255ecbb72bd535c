"""The notice → stop decision on its own: the GPUs must have stayed idle since the notice."""

from __future__ import annotations

from datetime import datetime, timedelta

from kubernetes import client

from policy_engine.compiler.program import LiveIdleRule
from policy_engine.controller import actions
from policy_engine.controller.audit import Audit, IdleCase
from policy_engine.controller.idle import IDLE, Judgement
from policy_engine.controller.inventory import Entry
from policy_engine.controller.kinds import by_kind, workload_resources
from policy_engine.controller.kube import Kube
from policy_engine.controller.shutdown import Shutdown
from policy_engine.engine import load_engine
from policy_engine.engine.findings import Result
from tests.cluster.fake_apiserver import running

from .scenario import FIXTURES, T0, cluster

RULE = LiveIdleRule(0.1, 7200.0, action="stop", notice_seconds=1800.0)


def _case(obj: dict, idle_since: datetime) -> IdleCase:  # type: ignore[type-arg]
    engine = load_engine([FIXTURES / "policies"])
    policy = engine.policies.get("gpu-idle-stop")
    assert policy is not None
    entry = Entry(by_kind(workload_resources())["Deployment"], obj)
    judgement = Judgement(IDLE, "idle", 2.0, 0.02, idle_since.timestamp())
    return IdleCase(entry, None, policy, RULE, judgement, [], "nlp", 5.0, 3.0)  # type: ignore[arg-type]


def test_stops_only_if_idle_since_before_the_notice() -> None:
    deployment = next(d for d in cluster()["apps/v1/deployments"] if d["metadata"]["name"] == "llm-api")
    noticed = T0 - timedelta(hours=1)
    deployment["metadata"]["annotations"] = {actions.IDLE_NOTICE: actions.stamp(noticed)}
    with running() as srv:
        srv.load("apps/v1/deployments", [deployment])
        kube = Kube(client.ApiClient(client.Configuration(host=srv.url)))
        shutdown = Shutdown(kube, act=True, max_actions=5, notify_url=None, identity="t")
        obj = kube.get(by_kind(workload_resources())["Deployment"], "ml-nlp", "llm-api")
        assert obj is not None

        # busy 40 minutes ago, after the notice, and no cycle saw it: told again, not stopped
        (record,) = shutdown.run(Audit(Result(), idle=[_case(obj, T0 - timedelta(minutes=40))]), T0)
        assert (record.action, record.outcome) == ("notify", "done")
        after = srv.get("apps/v1/deployments", "ml-nlp", "llm-api")
        assert after is not None and after["spec"]["replicas"] == 2
        assert after["metadata"]["annotations"][actions.IDLE_NOTICE] == actions.stamp(T0)

        # idle since before the notice: stopped
        (record,) = shutdown.run(Audit(Result(), idle=[_case(obj, T0 - timedelta(hours=3))]), T0)
        assert (record.action, record.outcome) == ("stop", "done")
        stopped = srv.get("apps/v1/deployments", "ml-nlp", "llm-api")
        assert stopped is not None and stopped["spec"]["replicas"] == 0


def test_exemption_annotations_obey_the_maximum_lifetime() -> None:
    """``exempt-until: 9999-12-31`` is not "forever": past ``exemption_max_days`` the idle workload is acted on."""
    deployment = next(d for d in cluster()["apps/v1/deployments"] if d["metadata"]["name"] == "llm-api")
    with running() as srv:
        kube = Kube(client.ApiClient(client.Configuration(host=srv.url)))

        def outcome(until: str, max_days: int) -> tuple[str, str]:
            deployment["metadata"]["annotations"] = {"policy-engine.io/exempt": "gpu-idle-stop",
                                                     "policy-engine.io/exempt-until": until}
            srv.load("apps/v1/deployments", [deployment])
            obj = kube.get(by_kind(workload_resources())["Deployment"], "ml-nlp", "llm-api")
            assert obj is not None
            shutdown = Shutdown(kube, act=False, max_actions=5, notify_url=None, identity="t", max_days=max_days)
            (record,) = shutdown.run(Audit(Result(), idle=[_case(obj, T0 - timedelta(hours=3))]), T0)
            return record.action, record.outcome

        assert outcome("2026-12-31", 90) == ("notify", "exempt")
        assert outcome("9999-12-31", 90) != ("notify", "exempt")
        assert outcome("2027-03-01", 90) != ("notify", "exempt")  # 98 days after T0
        assert outcome("9999-12-31", 0) == ("notify", "exempt")  # 0 lifts the cap
