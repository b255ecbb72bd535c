"""Actual next to projected in the PolicyReports: the leader's ledger and DCGM utilisation give every result
about a workload its spend so far this month, split into used and idle, beside the manifest's projection."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from policy_engine.cluster import Timing
from policy_engine.controller.runner import Controller
from policy_engine.controller.settings import ControllerSettings, LeaderSettings, PrometheusSettings
from policy_engine.engine import load_engine
from policy_engine.ledger.settings import LedgerSettings
from policy_engine.model.workload import CapacityType
from policy_engine.pricing.cost import PodPrice, price_pod
from tests.cluster.fake_apiserver import FakeApiServer
from tests.prometheus_server import PrometheusServer
from tests.workloads import role

from .scenario import FIXTURES, T0

FAST = Timing(watch_timeout_seconds=60, resync_seconds=3600, backoff_initial=0.05, backoff_max=0.2)
REPORTS = "wgpolicyk8s.io/v1alpha2/policyreports"
HOURS = 6.0  # the scenario's GPU pods started six hours before T0 (bob-nb-0: one)


def results_about(apiserver: FakeApiServer, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
    return [r for report in apiserver.items(REPORTS) if report["metadata"].get("namespace") == namespace
            for r in report["results"] if (r["resources"][0]["kind"], r["resources"][0]["name"]) == (kind, name)]


def test_policy_reports_carry_actual_cost_used_idle_and_projection(apiserver: FakeApiServer,
                                                                  prometheus: PrometheusServer,
                                                                  tmp_path: Path) -> None:
    engine = load_engine([FIXTURES / "policies"])
    settings = ControllerSettings(leader_election=LeaderSettings(enabled=False), listen="127.0.0.1:0",
                                  prometheus=PrometheusSettings(url=prometheus.url),
                                  ledger=LedgerSettings(path=str(tmp_path / "ledger.db")))
    api = client.ApiClient(client.Configuration(host=apiserver.url))
    c = Controller(settings, engine, api, clock=lambda: T0, timing=FAST, name="test-actuals")
    assert c.ledger is not None
    c.inventory.start()
    try:
        end = time.monotonic() + 15
        while not c.inventory.synced:
            assert time.monotonic() < end, "the first lists"
            time.sleep(0.02)
        c.ledger.cycle()  # the leader's ledger writer, as its thread runs it
        c.cycle()
    finally:
        c.inventory.stop()
        c.prometheus.close()
        if c.serving is not None:
            c.serving.close()
        c.ledger.ledger.close()
    priced = price_pod(role("gpu", gpus=1.0, instance_type="p4d.24xlarge", capacity=CapacityType.ON_DEMAND),
                       engine.catalog)
    assert isinstance(priced, PodPrice)
    per_gpu_hour = priced.effective

    def props(namespace: str, kind: str, name: str) -> dict[str, str]:
        found = results_about(apiserver, namespace, kind, name)
        assert found, f"no result about {kind} {namespace}/{name}"
        first = found[0]["properties"]
        for r in found:  # every result about the workload carries the same figures
            assert {k: v for k, v in r["properties"].items() if k.startswith(("actual", "forecast", "projected"))} \
                == {k: v for k, v in first.items() if k.startswith(("actual", "forecast", "projected"))}
        return dict(first)

    # Deployment llm-api: 2 pods × 1 GPU for 6 h, GPUs at 0-4 %: almost all of it idle waste
    llm = props("ml-nlp", "Deployment", "llm-api")
    cost = 2 * HOURS * per_gpu_hour
    assert float(llm["actualCost"]) == pytest.approx(cost, abs=0.01)
    assert float(llm["actualGpuHours"]) == pytest.approx(2 * HOURS)
    assert llm["actualPeriodStart"] == "2026-11-01T00:00:00Z"
    used, idle = float(llm["actualUsedCost"]), float(llm["actualIdleCost"])
    assert used + idle + float(llm["actualUnmeasuredCost"]) == pytest.approx(cost, abs=0.02)
    assert idle > 0.95 * cost and used < 0.05 * cost
    # still running: by the month's end (Dec 1st, 7 days 12 h after T0) it will have cost that much more
    left = (7 * 24 + 12) * 2 * per_gpu_hour
    assert float(llm["forecastCost"]) == pytest.approx(cost + left, abs=0.02)
    assert float(llm["projectedMonthlyCost"]) > 0  # the manifest's projection, beside the actual

    # PyTorchJob resnet-train: its pods' series carry exported_namespace/exported_pod; busy 80-95 %
    resnet = props("ml-vision", "PyTorchJob", "resnet-train")
    cost = 4 * HOURS * per_gpu_hour
    assert float(resnet["actualCost"]) == pytest.approx(cost, abs=0.01)
    assert 0.80 * cost < float(resnet["actualUsedCost"]) < 0.95 * cost

    # InferenceService sentiment: its Deployment's pod reports under the top-level workload
    sentiment = props("ml-nlp", "InferenceService", "sentiment")
    assert float(sentiment["actualCost"]) == pytest.approx(HOURS * per_gpu_hour, abs=0.01)
    assert not results_about(apiserver, "ml-nlp", "Deployment", "sentiment-predictor")

    # a bare pod with no DCGM series: its whole cost is unmeasured, not called used or idle
    debug = props("ml-nlp", "Pod", "debug-gpu")
    assert float(debug["actualUnmeasuredCost"]) == pytest.approx(float(debug["actualCost"]), abs=0.01)
    assert float(debug["actualUsedCost"]) == 0 and float(debug["actualIdleCost"]) == 0
    # a workload without GPUs has no ledger rows and no actual figures
    web = props("ml-nlp", "Deployment", "web")
    assert "actualCost" not in web
