"""The webhook's quota decisions read the ledger through a background-refreshed snapshot: two replicas
answer alike, a replica started mid-month knows the month, a stale snapshot follows the failure mode."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from policy_engine.compiler.program import Period
from policy_engine.engine import load_engine
from policy_engine.ledger.observe import ledger_rules
from policy_engine.ledger.snapshot import LedgerHistory, SnapshotUsage, UsageView
from policy_engine.ledger.store import Ledger
from policy_engine.webhook.admission import AdmissionReview
from policy_engine.webhook.config import WebhookConfig
from policy_engine.webhook.exemptions import RequestExemptions
from policy_engine.webhook.review import LoadedEngine, ReviewState, decide

from .cluster import HOUR, T0, engine, fleet, write_ledger

NOW = T0 + 29 * HOUR
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


@pytest.fixture(scope="module")
def ledger_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ledger") / "ledger.db"
    write_ledger(path, fleet(60), 30)
    return path


def _baseline(path: Path) -> float:
    e = engine()
    rule = next(r for r in ledger_rules(e.policies) if r.policy == "team-gpu-hours")
    with Ledger(path, readonly=True) as ledger:
        f = ledger.group_usage(rule.id, Period.MONTH, NOW)["search"]
    return f.gpu_hours + f.gpu_hours_running


def _request(gpus: int = 1, hours: int = 10) -> Any:
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "train", "namespace": "team-search", "labels": {"team": "search"}},
           "spec": {"activeDeadlineSeconds": hours * 3600, "containers": [
               {"name": "main", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]}}
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "team-search",
        "operation": "CREATE", "userInfo": {"username": "alice"}, "object": pod}}
    return AdmissionReview.model_validate(review).request


def _replica(path: Path, policy: Path, max_age: float = 300.0) -> tuple[ReviewState, SnapshotUsage]:
    e = load_engine([policy])
    usage = SnapshotUsage(LedgerHistory(lambda: Ledger(path, readonly=True)), lambda: e.policies,
                          max_age=max_age, clock=lambda: NOW)
    config = WebhookConfig(exempt_namespaces=())
    state = ReviewState(LoadedEngine.of(e), config, RequestExemptions.from_config(config), date(2026, 11, 2),
                        UsageView(usage))
    return state, usage


def test_two_replicas_and_a_restarted_one_give_the_same_answer(ledger_path: Path, tmp_path: Path) -> None:
    baseline = _baseline(ledger_path)
    assert baseline > 100
    policy = tmp_path / "q.policy"
    policy.write_text(QUOTA.format(limit=int(baseline + 5)))  # room for 5 GPU-hours; the request needs 10
    answers = []
    for _ in range(3):  # two replicas, then a third started later (a restart mid-month)
        state, usage = _replica(ledger_path, policy)
        assert usage.refresh()
        answers.append(decide(_request(), state))
    assert all(not a.response.allowed for a in answers)
    assert len({a.response.status.message for a in answers if a.response.status}) == 1
    assert "search-quota" in (answers[0].response.status.message if answers[0].response.status else "")
    # a request that fits is allowed by every replica alike
    state, usage = _replica(ledger_path, policy)
    usage.refresh()
    assert decide(_request(hours=2), state).response.allowed


def test_without_the_ledger_the_same_request_would_pass(ledger_path: Path, tmp_path: Path) -> None:
    policy = tmp_path / "q.policy"
    policy.write_text(QUOTA.format(limit=int(_baseline(ledger_path) + 5)))
    e = load_engine([policy])
    config = WebhookConfig(exempt_namespaces=())
    state = ReviewState(LoadedEngine.of(e), config, RequestExemptions.from_config(config), date(2026, 11, 2))
    assert decide(_request(), state).response.allowed  # a per-request sum knows nothing of the month


def test_stale_or_missing_snapshot_follows_the_failure_mode(ledger_path: Path, tmp_path: Path) -> None:
    policy = tmp_path / "q.policy"
    policy.write_text(QUOTA.format(limit=1_000_000))
    state, usage = _replica(ledger_path, policy, max_age=0.05)
    denied = decide(_request(), state)  # no snapshot yet: on_error closed denies
    assert not denied.response.allowed and "unknown" in (denied.response.status.message or "")  # type: ignore[union-attr]
    assert usage.refresh()
    assert decide(_request(), state).response.allowed
    time.sleep(0.1)  # older than max_age now
    assert not decide(_request(), state).response.allowed
    assert usage.age is not None and usage.age > 0.05


def test_a_ledger_that_is_not_there_yet_keeps_the_snapshot_unknown(tmp_path: Path) -> None:
    policy = tmp_path / "q.policy"
    policy.write_text(QUOTA.format(limit=100))
    state, usage = _replica(tmp_path / "nothing.db", policy)
    assert not usage.refresh() and usage.errors == 1 and "no ledger here" in (usage.last_error or "")
    assert not decide(_request(), state).response.allowed


def test_a_policy_reload_refreshes_the_snapshot_at_once(ledger_path: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.policy", tmp_path / "b.policy"
    first.write_text(QUOTA.format(limit=1_000_000))
    second.write_text(QUOTA.format(limit=10))
    engines = [load_engine([first])]
    usage = SnapshotUsage(LedgerHistory(lambda: Ledger(ledger_path, readonly=True)), lambda: engines[0].policies,
                          interval=600, clock=lambda: NOW)
    view = UsageView(usage)
    view.start()
    try:
        assert usage.attempted.wait(10)
        engines[0] = load_engine([second])  # the reload: new rule objects, unknown to the snapshot
        rule = engines[0].policies.policies[0].aggregates[0]
        assert view.usage(rule, "search") is None
        view.set_catalog(engines[0].catalog)  # what the webhook's reload calls
        deadline = time.monotonic() + 10
        while view.usage(rule, "search") is None:
            assert time.monotonic() < deadline, "the snapshot was not rebuilt after the reload"
            time.sleep(0.02)
        assert view.usage(rule, "search").used > 0  # type: ignore[union-attr]
    finally:
        view.stop()


def test_a_stale_snapshot_under_on_error_open_allows_with_a_warning(ledger_path: Path, tmp_path: Path) -> None:
    """The other failure mode: usage unknown (a snapshot past --usage-max-age) admits, and says why."""
    policy = tmp_path / "q.policy"
    policy.write_text(QUOTA.format(limit=1).replace("on_error closed", "on_error open"))
    state, usage = _replica(ledger_path, policy, max_age=0.05)
    assert usage.refresh()
    assert not decide(_request(), state).response.allowed  # fresh: the month's use is far over 1 GPU-hour
    time.sleep(0.1)  # older than max_age now
    stale = decide(_request(), state).response
    assert stale.allowed and any("unknown" in w for w in stale.warnings or ()), stale
