"""Showback grouping: label keys, built-in dimensions, unpriced workloads kept apart."""

from __future__ import annotations

import pytest

from policy_engine.pricing.catalog import Catalog
from policy_engine.pricing.showback import showback
from tests.workloads import UNBOUNDED, priced, role, workload


def test_a_whole_gpu_instance_held_without_a_template_groups_under_its_model(catalog: Catalog) -> None:
    w = priced(workload(role(instance_type="box4", templated=False)), catalog)
    (group,) = showback([w], ["model"], catalog).groups
    assert group.key == ("TESTGPU",) and group.monthly == pytest.approx(10.0 * 730)


def test_groups_by_label_and_namespace_with_unpriced_counted_apart(catalog: Catalog) -> None:
    a = priced(workload(role(gpus=1, instance_type="box8"), labels={"team": "x"}, namespace="n1"), catalog)
    b = priced(workload(role(gpus=2, instance_type="box8"), labels={"team": "x"}, namespace="n1"), catalog)
    c = priced(workload(role(gpus=1, instance_type="no-such-box"), namespace="n2"), catalog)
    report = showback([a, b, c], ["team", "namespace"], catalog)
    groups = {g.key: g for g in report.groups}
    assert groups[("x", "n1")].monthly == pytest.approx(3 * 2.0 * 730)
    assert groups[("x", "n1")].gpu_hours == pytest.approx(3 * 730)
    assert groups[("(untagged)", "n2")].unpriced == 1 and groups[("(untagged)", "n2")].monthly == 0
    assert [u.key for u in report.unpriced] == [("(untagged)", "n2")]
    assert report.total.workloads == 3 and report.total.monthly == pytest.approx(3 * 2.0 * 730)


def test_an_unbounded_job_is_in_the_totals_under_its_stated_assumption(catalog: Catalog) -> None:
    job = priced(workload(role(gpus=1, instance_type="box8"), run_time=UNBOUNDED, kind="Job"), catalog)
    report = showback([job], ["team"], catalog)
    assert report.total.unpriced == 0 and report.unpriced == []
    assert report.total.monthly == pytest.approx(2.0 * 730) and report.total.gpu_hours == pytest.approx(730)
