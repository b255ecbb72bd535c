"""price(): the arithmetic of each rule, checked against figures worked out by hand from round prices.

The round test catalog (tests/fixtures/pricing/catalogs/round.yaml): box8 = 8 GPUs at $16/h on-demand,
$4/h spot; box4 = 4 GPUs at $10/h, $3/h spot; box1 = 1 GPU at $3/h, no spot price; cpu16 = 16 vCPU /
64 GiB at $0.8/h; TESTGPU $2/h per GPU ($0.5 spot); TESTTPU $1.2 per chip; CPU $0.05/vCPU-h,
$0.01/GiB-h (spot $0.02 and $0.004); 730 h a month.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from policy_engine.model.workload import CapacityType, Role
from policy_engine.pricing.catalog import Catalog
from policy_engine.pricing.cost import price
from tests.workloads import UNBOUNDED, bounded, role, scheduled, workload

SPOT, ON_DEMAND, UNKNOWN = CapacityType.SPOT, CapacityType.ON_DEMAND, CapacityType.UNKNOWN


def test_one_gpu_on_spot_is_the_spot_share_of_the_instance(catalog: Catalog) -> None:
    cost = price(workload(role(gpus=1, instance_type="box8", capacity=SPOT)), catalog)
    assert cost.priced
    assert cost.hourly == pytest.approx(4.0 / 8)
    assert cost.monthly == pytest.approx(0.5 * 730)  # 365
    assert cost.on_demand_monthly == pytest.approx(2.0 * 730)  # the same pod on-demand: 1460
    assert cost.spot_monthly == pytest.approx(cost.monthly)
    assert "spot" in cost.breakdown[0] and "box8" in cost.breakdown[0]


def test_one_gpu_on_demand_costs_more_than_the_same_on_spot(catalog: Catalog) -> None:
    cost = price(workload(role(gpus=1, instance_type="box8", capacity=ON_DEMAND)), catalog)
    assert cost.monthly == pytest.approx(16.0 / 8 * 730)
    assert cost.spot_monthly == pytest.approx(4.0 / 8 * 730)


def test_unknown_capacity_is_priced_on_demand_and_says_so(catalog: Catalog) -> None:
    cost = price(workload(role(gpus=2, instance_type="box8", capacity=UNKNOWN)), catalog)
    assert cost.monthly == pytest.approx(16.0 * 2 / 8 * 730)
    assert "capacity unknown: priced on-demand" in cost.breakdown[0]


def test_spot_without_a_spot_price_falls_back_to_on_demand_and_has_no_spot_figure(catalog: Catalog) -> None:
    cost = price(workload(role(gpus=1, instance_type="box1", capacity=SPOT)), catalog)
    assert cost.monthly == pytest.approx(3.0 * 730)
    assert cost.spot_monthly is None
    assert "no spot price" in cost.breakdown[0]


def test_multi_role_job_sums_replicas_times_pod_price_over_one_bounded_run(catalog: Catalog) -> None:
    w = workload(role("Master", 1, gpus=1, instance_type="box4"), role("Worker", 3, gpus=4, instance_type="box4"),
                 run_time=bounded(10), kind="PyTorchJob")
    cost = price(w, catalog)
    # master: 10/4 × 1 = 2.5 $/h; workers: 3 × 10/4 × 4 = 30 $/h; 10 h
    assert cost.hourly == pytest.approx(32.5)
    assert cost.monthly == pytest.approx(325.0)
    assert [line.split(":")[0] for line in cost.breakdown] == ["Master", "Worker"]
    assert cost.breakdown[1].startswith("Worker: 3 ×") and cost.breakdown[1].endswith("= $300.00")


def test_scheduled_runs_are_runs_per_month_times_hours_per_run(catalog: Catalog) -> None:
    cost = price(workload(role(gpus=1, instance_type="box4", capacity=SPOT), run_time=scheduled(30, 2)), catalog)
    assert cost.monthly == pytest.approx(3.0 / 4 * 30 * 2)  # 45
    assert "30 runs × 2 h" in cost.breakdown[0]


def test_scheduled_without_a_per_run_bound_is_priced_under_the_stated_assumption(catalog: Catalog) -> None:
    cost = price(workload(role(gpus=1, instance_type="box4"), run_time=scheduled(30, None)), catalog)
    assert cost.priced and cost.hourly == pytest.approx(2.5)
    assert cost.monthly == pytest.approx(2.5 * catalog.hours_per_month)
    assert "assumptions.unbounded_run_fraction" in cost.assumptions[0]


def test_an_unbounded_job_is_priced_as_running_the_whole_month_and_marked(catalog: Catalog) -> None:
    """The issue's reproduction: an unbounded Job was '$0.00 (+1 unpriced)', out of the headline."""
    cost = price(workload(role(gpus=2, instance_type="box8"), run_time=UNBOUNDED, kind="Job"), catalog)
    assert cost.priced
    assert cost.hourly == pytest.approx(4.0)
    assert cost.monthly == pytest.approx(4.0 * catalog.hours_per_month)
    assert cost.gpu_hours == pytest.approx(2 * catalog.hours_per_month)
    (assumption,) = cost.assumptions
    assert "assumed 100% of the month" in assumption and "policy-engine.io/expected-duration" in assumption
    assert assumption in cost.breakdown[-1]


def test_the_unbounded_assumption_is_configurable(catalog: Catalog) -> None:
    half = replace(catalog, assumptions=replace(catalog.assumptions, unbounded_run_fraction=0.5))
    cost = price(workload(role(gpus=2, instance_type="box8"), run_time=UNBOUNDED, kind="Job"), half)
    assert cost.monthly == pytest.approx(4.0 * catalog.hours_per_month / 2)


def test_a_declared_idle_shutdown_projects_the_active_fraction_and_says_so(catalog: Catalog) -> None:
    always = price(workload(role(gpus=1, instance_type="box8")), catalog)
    idle = price(workload(role(gpus=1, instance_type="box8"), idle_timeout=1800), catalog)
    active = 1 - catalog.assumptions.idle_fraction
    assert idle.monthly == pytest.approx((always.monthly or 0) * active)
    assert idle.gpu_hours == pytest.approx(catalog.hours_per_month * active)
    assert "idle shutdown declared (1 - assumptions.idle_fraction)" in idle.assumptions[0]
    assert always.assumptions == ()


def test_cheapest_fitting_candidate_is_assumed_and_said(catalog: Catalog) -> None:
    cost = price(workload(role(gpus=4, candidates=("box4", "box8", "nope.large"))), catalog)
    assert cost.hourly == pytest.approx(16.0 * 4 / 8)  # box8's share (8 $/h) beats a whole box4 (10 $/h)
    assert "cheapest fitting of 3 candidates" in cost.breakdown[0]
    assert "nope.large" in cost.breakdown[0]


def test_candidates_too_small_for_the_pod_are_skipped(catalog: Catalog) -> None:
    cost = price(workload(role(gpus=8, candidates=("box4", "box8"))), catalog)
    assert cost.hourly == pytest.approx(16.0)


def test_pod_needing_more_gpus_than_its_instance_has_is_not_priced(catalog: Catalog) -> None:
    cost = price(workload(role(gpus=8, instance_type="box4")), catalog)
    assert not cost.priced and "box4 has 4 GPUs" in (cost.unpriced_reason or "")


def test_gpu_model_without_instance_type_is_per_gpu_price_times_gpus(catalog: Catalog) -> None:
    cost = price(workload(role(gpus=2, gpu_model="testgpu")), catalog)  # model names match case-insensitively
    assert cost.monthly == pytest.approx(2 * 2.0 * 730)


def test_mig_slice_is_priced_as_its_fraction_of_a_gpu(catalog: Catalog) -> None:
    cost = price(workload(role(gpus=1 / 7, gpu_model="TESTGPU"), role("b", gpus=1 / 7, instance_type="box8")), catalog)
    assert cost.hourly == pytest.approx(2.0 / 7 + 16.0 / 8 / 7)


def test_tpu_is_priced_per_chip(catalog: Catalog) -> None:
    cost = price(workload(role(gpus=4, gpu_model="TESTTPU", capacity=SPOT)), catalog)
    assert cost.hourly == pytest.approx(4 * 0.4)
    assert "per chip" in cost.breakdown[0]


def test_bundled_tpu_models_price_google_tpu_workloads() -> None:
    from policy_engine.pricing.catalog import load_catalog

    bundled = load_catalog()
    cost = price(workload(role(gpus=8, gpu_model="TPU-v5e")), bundled)
    assert cost.priced and cost.hourly == pytest.approx(8 * bundled.gpu_models["TPU-v5e"].on_demand)


@pytest.mark.parametrize(
    ("the_role", "says"),
    [
        (role(gpus=1), "unknown model"),
        (role(gpus=1, gpu_model="RTX9999"), "'RTX9999' is not in the pricing catalog"),
        (role(gpus=1, instance_type="p99.enormous"), "'p99.enormous' not in the pricing catalog"),
        (role(gpus=1, candidates=("p99.a", "p99.b")), "candidate instance types 'p99.a', 'p99.b'"),
    ],
)
def test_what_cannot_be_priced_is_unpriced_with_the_reason_never_zero(
    catalog: Catalog, the_role: Role, says: str,
) -> None:
    cost = price(workload(role("ok", gpus=1, instance_type="box8"), the_role), catalog)
    assert not cost.priced
    assert cost.monthly is None and cost.hourly is None
    assert says in (cost.unpriced_reason or "")
    assert (cost.unpriced_reason or "").startswith("worker: ")  # names the role


def test_cpu_only_pods_are_priced_from_requests(catalog: Catalog) -> None:
    cost = price(workload(role(replicas=3, cpu=2, memory_gib=4)), catalog)
    assert cost.hourly == pytest.approx(3 * (2 * 0.05 + 4 * 0.01))
    assert cost.monthly == pytest.approx(3 * 0.14 * 730)
    assert cost.spot_monthly == pytest.approx(3 * (2 * 0.02 + 4 * 0.004) * 730)


def test_cpu_only_pod_on_spot_uses_spot_rates(catalog: Catalog) -> None:
    cost = price(workload(role(cpu=1, memory_gib=1, capacity=SPOT)), catalog)
    assert cost.hourly == pytest.approx(0.02 + 0.004)


def test_cpu_only_pod_on_a_pinned_instance_pays_its_dominant_share(catalog: Catalog) -> None:
    cost = price(workload(role(cpu=4, memory_gib=32, instance_type="cpu16")), catalog)
    assert cost.hourly == pytest.approx(0.8 * max(4 / 16, 32 / 64))


def test_templateless_role_on_an_instance_type_holds_the_whole_instance(catalog: Catalog) -> None:
    cost = price(workload(role(replicas=2, instance_type="box4", templated=False)), catalog)
    assert cost.hourly == pytest.approx(2 * 10.0)
    assert "whole box4" in cost.breakdown[0]


def test_roles_scaled_to_zero_cost_nothing_but_the_workload_is_priced(catalog: Catalog) -> None:
    cost = price(workload(role(replicas=0, gpus=1), role("b", gpus=1, instance_type="box8")), catalog)
    assert cost.priced and cost.hourly == pytest.approx(2.0)


def test_continuous_workloads_use_the_catalogs_hours_per_month() -> None:
    from policy_engine.pricing.catalog import load_catalog
    from tests.workloads import PRICING_FIXTURES as FIXTURES

    catalog = load_catalog(str(FIXTURES / "catalogs" / "negotiated.yaml"))
    cost = price(workload(role(gpus=1, instance_type="g5.xlarge", capacity=ON_DEMAND)), catalog)
    assert cost.monthly == pytest.approx(0.80 * 720)



def _in_region(r: Role, region: str, label: str = "topology.kubernetes.io/region") -> Role:
    import dataclasses

    return dataclasses.replace(r, node_selector={label: region})


def test_a_pod_pinned_to_a_region_pays_that_regions_price(catalog: Catalog) -> None:
    cost = price(workload(_in_region(role(gpus=2, instance_type="box8", capacity=SPOT), "lab-2")), catalog)
    assert cost.hourly == pytest.approx(6.0 * 2 / 8)  # lab-2 spot, not the default region's $4
    assert cost.on_demand_monthly == pytest.approx(20.0 * 2 / 8 * 730)
    assert "$6.0000/h spot as of 2025-11-28" in cost.breakdown[0] and "lab-2 price" in cost.breakdown[0]


def test_a_region_with_on_demand_only_has_no_spot_price_there(catalog: Catalog) -> None:
    cost = price(workload(_in_region(role(gpus=8, instance_type="box8", capacity=SPOT), "lab-3")), catalog)
    assert cost.hourly == pytest.approx(24.0)  # the lab-3 on-demand price; no spot price is borrowed
    assert cost.spot_monthly is None
    assert "no spot price in the catalog: priced on-demand" in cost.breakdown[0]


def test_a_region_the_catalog_does_not_price_falls_back_to_the_default_region_and_says_so(catalog: Catalog) -> None:
    pod = _in_region(role(gpus=8, instance_type="box8"), "mars-1", "failure-domain.beta.kubernetes.io/region")
    cost = price(workload(pod), catalog)
    assert cost.hourly == pytest.approx(16.0)
    assert "no mars-1 price in the catalog: priced at lab, its default region" in cost.breakdown[0]


def test_the_default_region_named_explicitly_is_the_default_price(catalog: Catalog) -> None:
    cost = price(workload(_in_region(role(gpus=8, instance_type="box8"), "lab")), catalog)
    assert cost.hourly == pytest.approx(16.0) and "region" not in cost.breakdown[0]
