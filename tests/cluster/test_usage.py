"""Periods and the used/running arithmetic on pod records, without a server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from policy_engine.cluster.pods import PodRecord, build_record, price_record
from policy_engine.cluster.usage import group_usage, period_bounds
from policy_engine.compiler.program import Period
from policy_engine.pricing.catalog import load_catalog

from .fake_apiserver import FIXTURES

NOW = datetime(2026, 12, 31, 18, 0, tzinfo=UTC)  # a Thursday


def _pod(name: str) -> dict[str, object]:
    items = json.loads((FIXTURES / "pods.json").read_text())["items"]
    found: dict[str, object] = next(p for p in items if p["metadata"]["name"] == name)
    return {"kind": "Pod", "apiVersion": "v1", **found}


def test_calendar_periods_in_utc() -> None:
    assert period_bounds(Period.DAY, NOW) == (datetime(2026, 12, 31, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert period_bounds(Period.WEEK, NOW) == (datetime(2026, 12, 28, tzinfo=UTC), datetime(2027, 1, 4, tzinfo=UTC))
    assert period_bounds(Period.MONTH, NOW) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def test_pods_without_gpus_or_unreadable_are_not_records() -> None:
    assert build_record(_pod("web-6c8f9d7b8-9qzmt"), None, ("team",), NOW) is None
    broken = _pod("llm-serve-7d9f8b6c5-h2x4p")
    broken["spec"] = {"containers": "not a list"}
    assert build_record(broken, None, ("team",), NOW) is None


def test_a_live_pod_takes_missing_keys_from_its_namespace_by_the_one_rule() -> None:
    pod = _pod("llm-serve-7d9f8b6c5-h2x4p")
    pod["metadata"] = {**pod["metadata"], "labels": {"team": ""}}  # type: ignore[dict-item]
    record = build_record(pod, {"team": "ns", "cost-center": "cc-1"}, ("team", "cost-center"), NOW)
    assert record is not None
    assert record.inherited == {"team": "ns", "cost-center": "cc-1"}  # an empty team is no team
    assert record.workload.labels["team"] == "ns"


def _record(gpus: float, started: datetime, deadline: datetime | None = None, hourly: float | None = 1.0,
            ended: datetime | None = None) -> PodRecord:
    record = build_record(_pod("llm-serve-7d9f8b6c5-h2x4p"), None, (), NOW)
    assert record is not None
    record.gpus, record.started, record.deadline, record.hourly, record.ended = gpus, started, deadline, hourly, ended
    return record


def test_deadline_caps_running_and_period_start_caps_used() -> None:
    started = NOW - timedelta(days=40)  # began last month: only this month's hours count
    deadline = NOW + timedelta(hours=3)  # activeDeadlineSeconds stops it before the month ends
    usage = group_usage([_record(2, started, deadline)], "gpu_hours", Period.MONTH, NOW).usage
    assert usage.used == pytest.approx(2 * (30 * 24 + 18))
    assert usage.running == pytest.approx(2 * 3)


def test_budget_leaves_out_unpriced_pods_and_says_so() -> None:
    priced = _record(1, NOW - timedelta(hours=2), hourly=3.0)
    unpriced = _record(1, NOW - timedelta(hours=2), hourly=None)
    result = group_usage([priced, unpriced], "cost", Period.DAY, NOW)
    assert result.usage.used == pytest.approx(6.0) and result.usage.running == pytest.approx(3.0 * 6)
    assert result.unpriced == 1
    assert group_usage([unpriced], "gpu_hours", Period.DAY, NOW).unpriced == 0


def test_unknown_instance_type_leaves_the_pod_unpriced() -> None:
    record = build_record(_pod("llm-serve-7d9f8b6c5-h2x4p"), None, (), NOW)
    assert record is not None
    price_record(record, {"node.kubernetes.io/instance-type": "x9.mystery"}, load_catalog(None))
    assert record.hourly is None and "x9.mystery" in (record.unpriced_reason or "")


def test_records_do_not_keep_managed_fields_or_last_applied_copies() -> None:
    pod = _pod("llm-serve-7d9f8b6c5-h2x4p")
    meta = pod["metadata"]
    assert isinstance(meta, dict)
    meta["managedFields"] = [{"manager": "kubelet", "operation": "Update", "fieldsV1": {"f:status": {}}}]
    meta["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(pod),
                           "policy-engine.io/expected-duration": "2h"}
    record = build_record(pod, None, (), NOW)
    assert record is not None
    kept = record.source["metadata"]
    assert "managedFields" not in kept
    assert kept["annotations"] == {"policy-engine.io/expected-duration": "2h"}
    assert "managedFields" in meta  # the object handed in is not changed


def test_the_nodes_region_label_selects_the_regional_price(tmp_path: Path) -> None:
    pricing = tmp_path / "regional.yaml"
    pricing.write_text(
        "instance_types:\n  g5.xlarge: {provider: aws, region: us-east-1, gpus: 1, gpu_model: A10G, vcpus: 4,"
        " memory_gib: 16, on_demand: 1.006, regions: {eu-west-1: {on_demand: 1.123}}}\n")
    catalog = load_catalog(str(pricing))
    node = {"node.kubernetes.io/instance-type": "g5.xlarge", "karpenter.sh/capacity-type": "on-demand"}
    priced = {}
    for region in ("eu-west-1", "ap-south-1"):
        record = build_record(_pod("llm-serve-7d9f8b6c5-h2x4p"), None, (), NOW)
        assert record is not None
        price_record(record, {**node, "topology.kubernetes.io/region": region}, catalog)
        priced[region] = record.hourly
    assert record is not None
    gpus = record.gpus
    assert priced["eu-west-1"] == pytest.approx(1.123 * gpus)
    assert priced["ap-south-1"] == pytest.approx(1.006 * gpus)  # not priced there: the default region
