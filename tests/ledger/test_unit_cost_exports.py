"""Unit costs and budget burn where people and dashboards read them: ``usage --format json``, the report's
page and JSON, and the controller's ``/metrics``, against a real Prometheus holding backfilled serving
counters and a real ledger.

Two hours into the month (``NOW`` = 1 November 02:00 UTC), the window is the month so far. Hand-computed:

    Deployment/llama (nlp, vLLM, $4.00/h, running since 31 October 23:00): cost 2 h × $4 = $8.00;
        1,000 generated tokens a minute → 120,000 → $66.6667 per 1M;
        3,000 prompt tokens a minute → 360,000 → $22.2222 per 1M;  10 requests a minute → 1,200 → $6.6667 per 1,000
    Deployment/tgi (search, TGI's names, $1.00/h): $2.00; 500 tokens a minute → 60,000 → $33.3333 per 1M
    PyTorchJob/ft (nlp): two workers of 8 GPUs at $32.77/h from 00:15 to 01:45 → 1.5 h, $98.31
    Job/sweep (nlp, $1/h since 01:00): still running, not a finished run

    team nlp this month: $8 + $98.31 + $1 = $107.31 of its $40,000 budget; 2 + 24 + 1 = 27 GPU-hours
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from policy_engine.cli.main import main
from policy_engine.controller.runner import Controller
from policy_engine.controller.settings import ControllerSettings, LeaderSettings, PrometheusSettings
from policy_engine.ledger.observe import ledger_rules
from policy_engine.ledger.settings import LedgerSettings
from policy_engine.ledger.store import Ledger
from tests.html_tables import assert_actual_tables_equal_json, parse_page
from tests.prometheus_server import prometheus_over

from .cluster import POLICIES, engine
from .serving import TGI_GENERATED, VLLM_GENERATED, VLLM_PROMPT, VLLM_REQUESTS, counters, pod

NOW = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
MANIFESTS = Path(__file__).resolve().parents[1] / "fixtures" / "report"
EARLY = NOW - timedelta(hours=3)  # 31 October 23:00


def _openmetrics() -> str:
    llama = 'namespace="nlp",pod="llama-0"'
    tgi = 'namespace="search",pod="tgi-0"'
    return counters([(VLLM_GENERATED, [(llama, 1000, EARLY)]), (VLLM_PROMPT, [(llama, 3000, EARLY)]),
                     (VLLM_REQUESTS, [(llama, 10, EARLY)]), (TGI_GENERATED, [(tgi, 500, EARLY)])],
                    EARLY, NOW + timedelta(minutes=5))


@pytest.fixture(scope="module")
def prom() -> Iterator[str]:
    with prometheus_over(_openmetrics()) as server:
        yield server.url


@pytest.fixture(scope="module")
def ledger_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("units") / "ledger.db"
    rules = ledger_rules(engine().policies)
    nlp, search = {r.id: "nlp" for r in rules}, {r.id: "search" for r in rules}
    worker = NOW - timedelta(minutes=105), NOW - timedelta(minutes=15)
    with Ledger(path) as led:
        led.sync_rules(rules)
        led.record([
            pod("l0", "nlp", "llama-0", "Deployment/llama", "Deployment", 4.0, EARLY, keys=nlp),
            pod("t0", "search", "tgi-0", "Deployment/tgi", "Deployment", 1.0, EARLY - timedelta(hours=3),
                keys=search),
            pod("f0", "nlp", "ft-worker-0", "PyTorchJob/ft", "PyTorchJob", 32.77, *worker, gpus=8, keys=nlp),
            pod("f1", "nlp", "ft-worker-1", "PyTorchJob/ft", "PyTorchJob", 32.77, *worker, gpus=8, keys=nlp),
            pod("s0", "nlp", "sweep-0", "Job/sweep", "Job", 1.0, NOW - timedelta(hours=1), keys=nlp),
        ], NOW)
    return path


def _usage(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["usage", "--policies", str(POLICIES), "--at", NOW.isoformat(), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_usage_json_carries_the_hand_computed_unit_costs(prom: str, ledger_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _usage(capsys, "--ledger", str(ledger_path), "--serving-metrics", prom, "--format", "json")
    assert code == 0, err
    units = json.loads(out)["unit_costs"]
    assert units["error"] is None and units["start"].startswith("2026-11-01T00:00")
    serving = {s["workload"]: s for s in units["serving"]}
    llama = serving["Deployment/llama"]
    assert llama["cost"] == pytest.approx(8.0)
    assert llama["cost_per_million_generated_tokens"] == pytest.approx(66.6667, rel=2e-3)
    assert llama["cost_per_million_prompt_tokens"] == pytest.approx(22.2222, rel=2e-3)
    assert llama["cost_per_thousand_requests"] == pytest.approx(6.6667, rel=2e-3)
    assert serving["Deployment/tgi"]["cost_per_million_generated_tokens"] == pytest.approx(33.3333, rel=2e-3)
    assert serving["Deployment/tgi"]["cost_per_thousand_requests"] is None  # not counted: no figure, not $0
    runs = units["training_runs"]
    assert [r["workload"] for r in runs] == ["PyTorchJob/ft"]
    assert runs[0]["hours"] == 1.5 and runs[0]["cost"] == pytest.approx(98.31)
    # the text report shows the same figures
    code, out, err = _usage(capsys, "--ledger", str(ledger_path), "--serving-metrics", prom)
    assert code == 0, err
    assert "Unit costs of serving workloads this month" in out and "$66.6" in out and "$98.31" in out


def test_usage_without_serving_metrics_still_lists_training_runs(ledger_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _usage(capsys, "--ledger", str(ledger_path), "--format", "json")
    assert code == 0, err
    units = json.loads(out)["unit_costs"]
    assert units["serving"] is None and [r["workload"] for r in units["training_runs"]] == ["PyTorchJob/ft"]


def test_usage_serving_metrics_errors_are_said(ledger_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _usage(capsys, "--ledger", str(ledger_path), "--serving-metrics", "http://127.0.0.1:9")
    assert code == 2 and "unit costs of serving workloads left out" in err and "127.0.0.1:9" in err
    code, _, err = _usage(capsys, "--prometheus", "http://127.0.0.1:9", "--serving-metrics", "http://127.0.0.1:9")
    assert code == 2 and "--serving-metrics needs --ledger" in err


def test_report_shows_the_same_unit_costs(prom: str, ledger_path: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    html = tmp_path / "report.html"
    code = main(["report", str(MANIFESTS), "--policies", str(POLICIES), "--at", NOW.isoformat(), "--ledger",
                 str(ledger_path), "--serving-metrics", prom, "--html", str(html), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    actual = json.loads(out)["actual"]
    llama = next(s for s in actual["serving"] if s["workload"] == "Deployment/llama")
    assert llama["cost_per_million_generated_tokens"] == pytest.approx(66.6667, rel=2e-3)
    assert [r["workload"] for r in actual["training_runs"]] == ["PyTorchJob/ft"]
    page = parse_page(html.read_text(encoding="utf-8"))
    assert len(page.tables["serving"]) == 1 + len(actual["serving"]) == 3
    assert_actual_tables_equal_json(page, actual)


def _samples(exposition: bytes) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(exposition.decode()):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_the_controller_exports_unit_costs_and_budget_burn(prom: str, ledger_path: Path) -> None:
    settings = ControllerSettings(leader_election=LeaderSettings(enabled=False), listen="127.0.0.1:0",
                                  prometheus=PrometheusSettings(url=prom),
                                  ledger=LedgerSettings(path=str(ledger_path)))
    api = client.ApiClient(client.Configuration(host="http://127.0.0.1:9"))  # not started: no API calls
    controller = Controller(settings, engine(), api, clock=lambda: NOW, name="test-0")
    try:
        controller.observe_spend(NOW)
        metrics = _samples(controller.metrics.exposition())
    finally:
        controller.stop(timeout=5)
        api.close()
    prefix = "policy_engine_controller_"
    llama = (("namespace", "nlp"), ("workload", "Deployment/llama"))
    assert metrics[prefix + "serving_cost"][llama] == pytest.approx(8.0)
    assert metrics[prefix + "serving_cost_per_million_generated_tokens"][llama] == pytest.approx(66.6667, rel=2e-3)
    assert metrics[prefix + "serving_cost_per_million_prompt_tokens"][llama] == pytest.approx(22.2222, rel=2e-3)
    assert metrics[prefix + "serving_cost_per_thousand_requests"][llama] == pytest.approx(6.6667, rel=2e-3)
    tgi = (("namespace", "search"), ("workload", "Deployment/tgi"))
    assert tgi not in metrics[prefix + "serving_cost_per_thousand_requests"]  # nothing counted: absent, not 0
    assert metrics[prefix + "serving_metrics_up"][()] == 1
    run = (("kind", "PyTorchJob"), ("namespace", "nlp"), ("workload", "PyTorchJob/ft"))
    assert metrics[prefix + "training_run_cost"] == {run: pytest.approx(98.31)}

    def budget(name: str, policy: str, metric: str) -> float:
        key = (("group", "nlp"), ("kind", "budget" if metric == "cost" else "quota"), ("metric", metric),
               ("period", "month"), ("policy", policy))
        return metrics[prefix + name][key]

    assert budget("budget_used", "team-spend", "cost") == pytest.approx(107.31)
    assert budget("budget_limit", "team-spend", "cost") == 40_000
    # running pods ($4/h + $1/h) until 1 December 00:00: 718 hours more
    assert budget("budget_forecast", "team-spend", "cost") == pytest.approx(107.31 + 5 * 718)
    assert budget("budget_used", "team-gpu-hours", "gpu_hours") == pytest.approx(27.0)


def test_the_leaders_audit_cycle_exports_budget_burn(tmp_path: Path) -> None:
    """Wired into the cycle: a controller over a (local) API server writes its ledger and, from its next
    audit cycle on, exports the budget burn of what it wrote."""
    from policy_engine.cluster import Timing
    from tests.cluster.fake_apiserver import running

    from .cluster import HOUR, NODES, T0, SimPod

    pods = [SimPod("train-0", "nlp", 8, "gpu-a", T0, None, deleted=False)]
    now = T0 + 6 * HOUR
    with running() as apiserver:
        apiserver.load("namespaces", [])
        apiserver.load("nodes", NODES)
        apiserver.load("pods", [p.obj(now) for p in pods])
        settings = ControllerSettings(leader_election=LeaderSettings(enabled=False), listen="127.0.0.1:0",
                                      exempt_namespaces=("kube-system",),
                                      ledger=LedgerSettings(path=str(tmp_path / "ledger.db"), interval_seconds=0.2))
        api = client.ApiClient(client.Configuration(host=apiserver.url))
        timing = Timing(watch_timeout_seconds=60, resync_seconds=3600, backoff_initial=0.05, backoff_max=0.2)
        controller = Controller(settings, engine(), api, clock=lambda: now, timing=timing, name="test-0")
        assert controller.ledger is not None
        controller.start(serve_http=False)
        try:
            deadline = time.monotonic() + 20
            while controller.ledger.last is None or controller.ledger.last.pods < 1:
                assert time.monotonic() < deadline, "the ledger writer never saw the pod"
                time.sleep(0.05)
            controller.cycle()
            metrics = _samples(controller.metrics.exposition())
        finally:
            controller.stop(timeout=10)
            api.close()
    key = (("group", "nlp"), ("kind", "quota"), ("metric", "gpu_hours"), ("period", "month"),
           ("policy", "team-gpu-hours"))
    assert metrics["policy_engine_controller_budget_used"][key] == pytest.approx(8 * 6)
    assert metrics["policy_engine_controller_budget_limit"][key] == 2000
    assert metrics["policy_engine_controller_serving_metrics_up"][()] == 0  # no Prometheus: as telemetry_up
    assert "policy_engine_controller_serving_cost_per_million_generated_tokens" not in metrics
