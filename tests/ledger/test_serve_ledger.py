"""Two real ``policy-engine serve --ledger`` replicas, and a third started later (a restart mid-month),
answer the same AdmissionReview the same way from the ledger the controller writes; the usage
snapshot's age is a metric."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from policy_engine.compiler.program import Period
from policy_engine.engine import load_engine
from policy_engine.ledger.observe import ledger_rules
from policy_engine.ledger.store import Ledger
from policy_engine.ledger.writer import LedgerWriter
from tests.webhook.server import Server

from .cluster import Cache, SimPod

QUOTA = """policy "search-quota" {{
  severity high
  enforcement deny
  on_error closed
  match {{
    kinds workloads
  }}
  when gpus > 0
  quota gpu_hours {limit} per month by labels["team"]
}}
"""


def _review(hours: int) -> dict[str, Any]:
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "train", "namespace": "team-search", "labels": {"team": "search"}},
           "spec": {"activeDeadlineSeconds": hours * 3600, "containers": [
               {"name": "main", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "team-search",
        "operation": "CREATE", "userInfo": {"username": "alice"}, "object": pod}}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A ledger with this month's pods of team search (running ones commit GPU-hours to the month's end,
    deleted ones are over): used + running does not move while the test runs."""
    work = tmp_path_factory.mktemp("serve-ledger")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now.replace(day=1, hour=0)
    pods = [SimPod("search-serve-0", "search", 2, "gpu-a", start, None, deleted=False),
            SimPod("search-job-0", "search", 4, "gpu-b", start, start + min(now - start, timedelta(hours=5)),
                   deleted=True)]
    e = load_engine([Path(__file__).resolve().parents[1] / "fixtures" / "ledger" / "quotas.policy"])
    path = work / "ledger.db"
    with Ledger(path) as ledger:
        cache = Cache(e.catalog)
        writer = LedgerWriter(ledger, cache, lambda: e.policies, lambda: e.catalog, clock=lambda: now)
        cache.list_at(pods, now)
        writer.cycle()
        rule = next(r for r in ledger_rules(e.policies) if r.policy == "team-gpu-hours")
        f = ledger.group_usage(rule.id, Period.MONTH, now)["search"]
    policy = work / "quota.policy"
    policy.write_text(QUOTA.format(limit=int(f.gpu_hours + f.gpu_hours_running + 5)))  # room for 5 GPU-hours
    yield path, policy


def _serve(work: Path, ledger: Path, policy: Path, name: str) -> Server:
    server = Server(None, work / f"{name}.log", "--ledger", str(ledger), "--policies", str(policy),
                    "--usage-refresh", "1")
    deadline = time.monotonic() + 30
    while server.client.get("/readyz").status_code != 200:  # ready once the first usage snapshot is in
        assert time.monotonic() < deadline, server.log_text()
        time.sleep(0.05)
    return server


def test_replicas_and_a_restart_answer_alike(setup: tuple[Path, Path], tmp_path: Path) -> None:
    ledger, policy = setup
    servers = [_serve(tmp_path, ledger, policy, "a"), _serve(tmp_path, ledger, policy, "b")]
    try:
        servers.append(_serve(tmp_path, ledger, policy, "c"))  # a replica (re)started later
        for hours, allowed in ((10, False), (2, True)):
            answers = [s.post(_review(hours)).json()["response"] for s in servers]
            assert [a["allowed"] for a in answers] == [allowed] * 3, answers
            if not allowed:
                assert len({a["status"]["message"] for a in answers}) == 1
                assert "search-quota" in answers[0]["status"]["message"]
        metrics = servers[0].client.get("/metrics").text
        age = next(line for line in metrics.splitlines()
                   if line.startswith("policy_engine_webhook_usage_snapshot_age_seconds"))
        assert 0 <= float(age.split()[-1]) < 60
    finally:
        for s in servers:
            s.stop()
