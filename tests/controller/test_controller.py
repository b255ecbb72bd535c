"""The controller end to end: the fake API server (the API's wire format; no kube-apiserver here) and a real
Prometheus over backfilled DCGM series, with the controller's clock injected so a notice period passes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from policy_engine.cli.main import main
from policy_engine.controller.actions import IDLE_NOTICE, IDLE_SINCE, NOTEBOOK_STOPPED, PREVIOUS_REPLICAS, STOPPED_BY
from policy_engine.controller.runner import Controller
from policy_engine.controller.settings import ControllerSettings, IdleSettings, LeaderSettings, PrometheusSettings
from policy_engine.engine import load_engine
from tests.cluster.fake_apiserver import FakeApiServer
from tests.cluster.helpers import FAST, Clock, wait_for
from tests.prometheus_server import PrometheusServer

from .scenario import FIXTURES, T0

POLICIES = FIXTURES / "policies"
NB, DEPLOY, PTJ = "kubeflow.org/v1/notebooks", "apps/v1/deployments", "kubeflow.org/v1/pytorchjobs"
ISVC = "serving.kserve.io/v1beta1/inferenceservices"
REPORTS = "wgpolicyk8s.io/v1alpha2/policyreports"


def make(apiserver: FakeApiServer, prometheus_url: str | None, clock: Clock, *, act: bool = True,
         max_actions: int = 5, notify_url: str | None = None) -> Controller:
    settings = ControllerSettings(
        prometheus=PrometheusSettings(url=prometheus_url, step_seconds=60),
        idle=IdleSettings(act=act, max_actions_per_cycle=max_actions, notify_url=notify_url),
        leader_election=LeaderSettings(enabled=False), exempt_namespaces=("kube-system",), listen="127.0.0.1:0")
    api = client.ApiClient(client.Configuration(host=apiserver.url))
    controller = Controller(settings, load_engine([POLICIES]), api, clock=clock, timing=FAST, name="test-0")
    controller.inventory.start()
    wait_for(lambda: controller.inventory.synced, "the first lists")
    return controller


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A notification endpoint on loopback that keeps what it is sent."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def controllers() -> Iterator[list[Controller]]:
    made: list[Controller] = []
    yield made
    for c in made:
        c.inventory.stop()
        c.prometheus.close()


def notes(apiserver: FakeApiServer, resource: str, ns: str, name: str) -> dict[str, str]:
    obj = apiserver.get(resource, ns, name)
    assert obj is not None
    return dict(obj["metadata"].get("annotations") or {})


def seen(controller: Controller, kind: str, ns: str, name: str, key: str, present: bool = True) -> None:
    """Wait until the controller's watch has delivered our own write (the next cycle reads it)."""
    def ok() -> bool:
        entry = controller.inventory.entry(kind, ns, name)
        return entry is not None and (key in (entry.obj["metadata"].get("annotations") or {})) == present
    wait_for(ok, f"{kind} {ns}/{name} annotation {key} {'set' if present else 'gone'} in the cache")


def workload_writes(apiserver: FakeApiServer, *resources: str) -> list[Any]:
    return [w for r in resources for w in apiserver.writes(r)]


def results(apiserver: FakeApiServer, ns: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    report = apiserver.get(REPORTS, ns, "policy-engine-audit")
    assert report is not None, f"no PolicyReport in {ns}"
    return {(r["policy"], r["resources"][0]["kind"], r["resources"][0]["name"]): r for r in report["results"]}


def test_audit_writes_policy_reports_in_place(apiserver: FakeApiServer, prometheus: PrometheusServer,
                                              controllers: list[Controller]) -> None:
    c = make(apiserver, prometheus.url, Clock(T0), act=False)
    controllers.append(c)
    audit = c.cycle()
    assert audit is not None
    vision, nlp = results(apiserver, "ml-vision"), results(apiserver, "ml-nlp")
    idle = vision[("gpu-idle-stop", "Notebook", "alice-nb")]
    assert idle["result"] == "warn" and idle["severity"] == "high"
    assert "every GPU below 10% for the whole 2h window" in idle["message"]
    assert float(idle["properties"]["monthlyCost"]) > 0 and "monthlySaving" in idle["properties"]
    assert vision[("gpu-idle-stop", "PyTorchJob", "resnet-train")]["result"] == "pass"
    young = vision[("gpu-idle-stop", "Notebook", "bob-nb")]
    assert young["result"] == "skip" and "too young" in young["message"]
    nodata = nlp[("gpu-idle-stop", "Pod", "debug-gpu")]
    assert nodata["result"] == "skip" and "no DCGM series" in nodata["message"]
    # the team label comes from the namespace (label inheritance): the web Deployment passes
    assert nlp[("team-label", "Deployment", "web")]["result"] == "pass"
    assert ("team-label", "Deployment", "sentiment-predictor") not in nlp  # a child of the InferenceService
    assert ("gpu-idle-stop", "Deployment", "llm-api") in nlp
    assert apiserver.get(REPORTS, "kube-system", "policy-engine-audit") is None  # exempt namespace
    cluster = apiserver.get("wgpolicyk8s.io/v1alpha2/clusterpolicyreports", None, "policy-engine-audit")
    assert cluster is not None and cluster["kind"] == "ClusterPolicyReport"
    quota = {r["properties"]["group"]: r for r in cluster["results"] if r["policy"] == "team-gpu-quota"}
    assert set(quota) == {'labels["team"]=vision', 'labels["team"]=nlp'}, quota
    assert quota['labels["team"]=vision']["result"] == "warn"
    assert {(x["kind"], x.get("namespace")) for x in quota['labels["team"]=vision']["resources"]} >= {
        ("Notebook", "ml-vision")}

    metrics = c.metrics.exposition().decode()
    assert 'policy_engine_controller_findings{namespace="ml-vision",policy="gpu-idle-stop",severity="high"} 1.0' \
        in metrics
    assert 'policy_engine_controller_idle_gpu_waste{team="vision"}' in metrics
    assert 'policy_engine_controller_projected_monthly_spend{model="A100",team="vision"}' in metrics

    patches = [w for w in apiserver.writes(REPORTS) if w.method == "PATCH"]
    assert patches and all(w.content_type == "application/apply-patch+yaml" and w.query.get("fieldManager")
                           == "policy-engine" for w in patches)  # server-side apply, one field manager
    writes = len(apiserver.writes(REPORTS))
    c.cycle()  # nothing changed: nothing rewritten, nothing duplicated
    assert len(apiserver.writes(REPORTS)) == writes
    assert len([r for r in apiserver.items(REPORTS) if r["metadata"]["namespace"] == "ml-nlp"]) == 1

    apiserver.apply("namespaces", "DELETED", {"metadata": {"name": "ml-nlp"}})  # the namespace and all in it
    assert apiserver.get(REPORTS, "ml-nlp", "policy-engine-audit") is None
    wait_for(lambda: c.inventory.entry("Deployment", "ml-nlp", "llm-api") is None, "the deletions to be watched")
    c.cycle()
    assert apiserver.get(REPORTS, "ml-nlp", "policy-engine-audit") is None  # not recreated
    assert apiserver.get(REPORTS, "ml-vision", "policy-engine-audit") is not None


def test_idle_workloads_are_notified_stopped_after_the_notice_and_resumed(
        apiserver: FakeApiServer, prometheus: PrometheusServer, controllers: list[Controller],
        tmp_path: Path, capsys: pytest.CaptureFixture[str], hook: tuple[str, list[dict[str, Any]]]) -> None:
    clock = Clock(T0 - timedelta(minutes=40))
    c = make(apiserver, prometheus.url, clock, act=True, max_actions=1, notify_url=hook[0])
    controllers.append(c)
    c.cycle()
    alice = notes(apiserver, NB, "ml-vision", "alice-nb")
    assert alice[IDLE_NOTICE] == "2026-11-23T11:20:00Z" and IDLE_SINCE in alice
    assert NOTEBOOK_STOPPED not in alice
    assert IDLE_NOTICE in notes(apiserver, DEPLOY, "ml-nlp", "llm-api")
    events = apiserver.items("events.k8s.io/v1/events")
    assert {e["regarding"]["name"] for e in events if e["reason"] == "IdleGPU"} == {"alice-nb", "llm-api"}
    seen(c, "Notebook", "ml-vision", "alice-nb", IDLE_NOTICE)
    seen(c, "Deployment", "ml-nlp", "llm-api", IDLE_NOTICE)
    notice = {m["name"]: m for m in hook[1] if m["reason"] == "IdleGPU"}
    assert set(notice) == {"alice-nb", "llm-api"}
    assert notice["alice-nb"]["team"] == "vision" and notice["alice-nb"]["idle_waste"] > 0
    assert "will be stopped after 2026-11-23T11:50:00Z" in notice["alice-nb"]["message"]

    clock.now = T0 - timedelta(minutes=20)  # still inside the notice period: nothing stops
    c.cycle()
    assert NOTEBOOK_STOPPED not in notes(apiserver, NB, "ml-vision", "alice-nb")
    assert apiserver.get(DEPLOY, "ml-nlp", "llm-api")["spec"]["replicas"] == 2  # type: ignore[index]

    clock.now = T0  # the notice period has passed and the GPUs stayed idle; one action per cycle at most
    c.cycle()
    assert [(r.name, r.outcome) for r in c.last_actions if r.action == "stop"] == [
        ("llm-api", "done"), ("alice-nb", "capped")]
    llm = apiserver.get(DEPLOY, "ml-nlp", "llm-api")
    assert llm is not None and llm["spec"]["replicas"] == 0
    assert llm["metadata"]["annotations"][PREVIOUS_REPLICAS] == "2"
    scale = [w for w in apiserver.writes(DEPLOY) if w.path.endswith("/deployments/llm-api/scale")]
    assert [(w.method, w.content_type, w.body) for w in scale] == [
        ("PATCH", "application/merge-patch+json", {"spec": {"replicas": 0}})]

    clock.now = T0 + timedelta(minutes=1)
    c.cycle()
    alice = notes(apiserver, NB, "ml-vision", "alice-nb")
    assert alice[STOPPED_BY] == "gpu-idle-stop" and NOTEBOOK_STOPPED in alice
    assert {m["name"] for m in hook[1] if m["reason"] == "IdleGPUStopped"} == {"llm-api", "alice-nb"}
    # the busy training job and the endpoint that went idle only an hour ago were never touched
    assert workload_writes(apiserver, PTJ, ISVC) == []

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": apiserver.url}}],
        "users": [{"name": "fake", "user": {"token": "unused"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}))
    assert main(["resume", "Notebook/ml-vision/alice-nb", "--kubeconfig", str(kubeconfig)]) == 0
    assert main(["resume", "deployment/ml-nlp/llm-api", "--kubeconfig", str(kubeconfig)]) == 0
    out = capsys.readouterr().out
    assert "resumed Notebook ml-vision/alice-nb" in out and "scaled back to 2 replicas" in out
    alice = notes(apiserver, NB, "ml-vision", "alice-nb")
    assert NOTEBOOK_STOPPED not in alice and STOPPED_BY not in alice and IDLE_NOTICE not in alice
    assert apiserver.get(DEPLOY, "ml-nlp", "llm-api")["spec"]["replicas"] == 2  # type: ignore[index]
    assert main(["resume", "PyTorchJob/ml-vision/resnet-train", "--kubeconfig", str(kubeconfig)]) == 2
    assert "carries no record of a stop" in capsys.readouterr().err


def test_dry_run_writes_nothing_to_workloads(apiserver: FakeApiServer, prometheus: PrometheusServer,
                                             controllers: list[Controller]) -> None:
    clock = Clock(T0 - timedelta(minutes=40))
    c = make(apiserver, prometheus.url, clock, act=False)
    controllers.append(c)
    apiserver.apply(DEPLOY, "MODIFIED", {**apiserver.get(DEPLOY, "ml-nlp", "llm-api"),  # type: ignore[dict-item]
                                         "metadata": {**apiserver.get(DEPLOY, "ml-nlp", "llm-api")["metadata"],  # type: ignore[index]
                                                      "annotations": {"policy-engine.io/exempt": "gpu-idle-stop",
                                                                      "policy-engine.io/exempt-until": "2026-12-31"}}})
    seen(c, "Deployment", "ml-nlp", "llm-api", "policy-engine.io/exempt")
    c.cycle()
    clock.now = T0
    c.cycle()
    done = {(r.name, r.action, r.outcome) for r in c.last_actions}
    assert ("alice-nb", "stop", "dry-run") in done
    assert ("llm-api", "notify", "exempt") in done
    assert workload_writes(apiserver, NB, DEPLOY, PTJ, ISVC) == []
    assert apiserver.items("events.k8s.io/v1/events") == []
    metrics = c.metrics.exposition().decode()
    assert 'policy_engine_controller_actions_total{action="stop",kind="Notebook",outcome="dry-run"} 1.0' in metrics


def test_prometheus_down_touches_nothing(apiserver: FakeApiServer, controllers: list[Controller]) -> None:
    clock = Clock(T0 - timedelta(minutes=40))
    c = make(apiserver, "http://127.0.0.1:9", clock, act=True)
    controllers.append(c)
    c.cycle()
    clock.now = T0
    audit = c.cycle()
    assert audit is not None and audit.telemetry is not None and audit.telemetry.error
    assert c.last_actions == []
    assert workload_writes(apiserver, NB, DEPLOY, PTJ, ISVC) == []
    skip = results(apiserver, "ml-vision")[("gpu-idle-stop", "Notebook", "alice-nb")]
    assert skip["result"] == "skip" and "did not answer" in skip["message"]
    assert "policy_engine_controller_telemetry_up 0.0" in c.metrics.exposition().decode()


def test_audit_command_prints_check_formats(apiserver: FakeApiServer, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": apiserver.url}}],
        "users": [{"name": "fake", "user": {"token": "unused"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}))
    code = main(["audit", "--kubeconfig", str(kubeconfig), "--policies", str(POLICIES), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0  # warn findings do not fail the run unless --fail-on warn
    assert report["stats"]["workloads"] >= 7
    assert main(["audit", "--kubeconfig", str(kubeconfig), "--policies", str(POLICIES), "-f", "policyreport",
                 "--fail-on", "warn"]) in (0, 1)
    out, err = capsys.readouterr()
    assert "kind: PolicyReport" in out or '"kind": "PolicyReport"' in out
    assert "skipped: gpu-idle-stop" in err and "no telemetry" in err


def test_health_metrics_and_graceful_stop(apiserver: FakeApiServer) -> None:
    settings = ControllerSettings(leader_election=LeaderSettings(enabled=False), listen="127.0.0.1:0",
                                  interval_seconds=60, debounce_seconds=0,
                                  reports={"api": "openreports.io"})  # type: ignore[arg-type]
    api = client.ApiClient(client.Configuration(host=apiserver.url))
    c = Controller(settings, load_engine([POLICIES]), api, clock=Clock(T0), timing=FAST, name="test-http")
    c.start()
    try:
        import httpx

        base = f"http://127.0.0.1:{c.http_port}"
        assert httpx.get(f"{base}/healthz").status_code == 200
        wait_for(lambda: httpx.get(f"{base}/readyz").status_code == 200, "ready once listed")
        wait_for(lambda: apiserver.get("openreports.io/v1alpha1/reports", "ml-vision", "policy-engine-audit"),
                 "the first cycle's openreports.io Report")
        report = apiserver.get("openreports.io/v1alpha1/reports", "ml-vision", "policy-engine-audit")
        assert report is not None and report["kind"] == "Report" and report["summary"]["skip"] >= 1
        assert apiserver.items(REPORTS) == []  # only the API asked for
        counted = 'policy_engine_controller_audit_cycles_total{result="ok"}'
        wait_for(lambda: counted in httpx.get(f"{base}/metrics").text, "the cycle counted")
        assert "policy_engine_controller_cache_synced 1.0" in httpx.get(f"{base}/metrics").text
        # a change in the cluster triggers a new audit without waiting for the interval
        cycles = len(apiserver.writes("openreports.io/v1alpha1/reports"))
        deployment = apiserver.get(DEPLOY, "ml-nlp", "web")
        assert deployment is not None
        deployment["metadata"]["namespace"] = "ml-vision"
        apiserver.apply(DEPLOY, "ADDED", deployment)
        wait_for(lambda: len(apiserver.writes("openreports.io/v1alpha1/reports")) > cycles, "an audit on change")
    finally:
        c.stop()
    assert not c._loop.is_alive()


@pytest.mark.parametrize(("fmt", "marker"), [("text", "team-label"), ("sarif", '"version":"2.1.0"'),
                                             ("markdown", "team-label"), ("junit", "<testsuite")])
def test_audit_command_every_format(apiserver: FakeApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    fmt: str, marker: str) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": apiserver.url}}],
        "users": [{"name": "fake", "user": {"token": "unused"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}))
    deployment = apiserver.get(DEPLOY, "ml-nlp", "web")
    assert deployment is not None
    deployment["metadata"]["namespace"] = "default"  # no team label anywhere: a team-label finding
    apiserver.load(DEPLOY, [deployment])
    assert main(["audit", "--kubeconfig", str(kubeconfig), "--policies", str(POLICIES), "-f", fmt,
                 "--fail-on", "warn"]) == 1
    out = capsys.readouterr().out
    assert marker in out


def _kubeconfig(apiserver: FakeApiServer, tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": apiserver.url}}],
        "users": [{"name": "fake", "user": {"token": "unused"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}))
    return str(path)


def test_audit_command_at_a_time_judges_idle_from_prometheus(
        apiserver: FakeApiServer, prometheus: PrometheusServer, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``audit --at`` over the backfilled DCGM series: the notebook idle for the 2 h before T0 is reported."""
    args = ["audit", "--kubeconfig", _kubeconfig(apiserver, tmp_path), "--policies", str(POLICIES), "-f", "json",
            "--prometheus", prometheus.url, "--at", T0.isoformat().replace("+00:00", "Z")]
    assert main(args) == 0  # the idle rule warns
    out, err = capsys.readouterr()
    idle = {(f["resource"]["kind"], f["resource"]["name"]): f["message"]
            for f in json.loads(out)["findings"] if f["policy"] == "gpu-idle-stop"}
    assert "every GPU below 10% for the whole 2h window" in idle[("Notebook", "alice-nb")], idle
    assert ("PyTorchJob", "resnet-train") not in idle  # busy
    assert "skipped: gpu-idle-stop on" in err and "too young" in err and "no DCGM series" in err
    assert "did not answer" not in err

    # a day later the backfilled series have ended: no data is not idleness, and the skip says so
    assert main([*args[:-1], (T0 + timedelta(days=1)).isoformat()]) == 0
    out, err = capsys.readouterr()
    assert not [f for f in json.loads(out)["findings"] if f["policy"] == "gpu-idle-stop"]
    assert "Notebook ml-vision/alice-nb: not judged idle: no DCGM series for pod alice-nb-0" in err


def test_audit_command_with_prometheus_down_skips_and_says_why(apiserver: FakeApiServer, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["audit", "--kubeconfig", _kubeconfig(apiserver, tmp_path), "--policies", str(POLICIES),
                 "-f", "json", "--prometheus", "http://127.0.0.1:9", "--at", "2026-11-23T12:00:00+00:00"])
    out, err = capsys.readouterr()
    assert code == 0
    assert not [f for f in json.loads(out)["findings"] if f["policy"] == "gpu-idle-stop"]
    skipped = [line for line in err.splitlines()
               if line.startswith("skipped: gpu-idle-stop on Notebook ml-vision/alice-nb")]
    assert skipped and "did not answer" in skipped[0] and "127.0.0.1:9" in skipped[0], err


@pytest.mark.parametrize(("value", "why"), [("yesterday", "not an ISO 8601 time"),
                                            ("2026-11-23T12:00:00", "has no timezone")])
def test_audit_at_must_be_a_time_with_a_timezone(value: str, why: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["audit", "--at", value])
    assert exit_.value.code == 2 and why in capsys.readouterr().err
