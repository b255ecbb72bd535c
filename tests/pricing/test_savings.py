"""Savings per rule: spot, allowlist, idle shutdown and quota overage, against hand arithmetic.

Round prices (tests/fixtures/pricing/catalogs/round.yaml): box8 = 8 GPUs $16/h ($4 spot), box4 = 4 GPUs
$10/h ($3 spot), box1 = 1 GPU $3/h; idle_fraction 0.5; 730 h a month.
"""

from __future__ import annotations

import pytest

from policy_engine.model.workload import CapacityType
from policy_engine.pricing.catalog import Catalog
from policy_engine.pricing.savings import (
    allowlist_saving,
    idle_saving,
    spot_saving,
)
from tests.workloads import bounded, priced, role, workload


def test_spot_saving_is_on_demand_minus_spot(catalog: Catalog) -> None:
    w = priced(workload(role(gpus=1, instance_type="box8", capacity=CapacityType.ON_DEMAND)), catalog)
    assert spot_saving(w) == pytest.approx((2.0 - 0.5) * 730)


def test_spot_saving_of_a_workload_already_on_spot_is_zero(catalog: Catalog) -> None:
    w = priced(workload(role(gpus=1, instance_type="box8", capacity=CapacityType.SPOT)), catalog)
    assert spot_saving(w) == 0.0


def test_spot_saving_is_unknown_without_a_spot_price_or_a_price(catalog: Catalog) -> None:
    assert spot_saving(priced(workload(role(gpus=1, instance_type="box1")), catalog)) is None
    assert spot_saving(priced(workload(role(gpus=1, instance_type="nope")), catalog)) is None
    assert spot_saving(workload(role(gpus=1, instance_type="box8"))) is None  # never priced


def test_allowlist_saving_moves_gpu_roles_to_the_cheapest_allowed_fitting_type(catalog: Catalog) -> None:
    w = priced(workload(role(replicas=2, gpus=4, instance_type="box4"), role("api", cpu=1, memory_gib=1)), catalog)
    # box4: 10 $/h per 4-GPU pod; box8 share: 16 × 4/8 = 8 $/h; the CPU role does not move
    assert allowlist_saving(w, catalog, ["box8"]) == pytest.approx(2 * (10.0 - 8.0) * 730)
    assert allowlist_saving(w, catalog, ["box*"]) == pytest.approx(2 * (10.0 - 8.0) * 730)


def test_allowlist_saving_is_none_when_nothing_allowed_fits(catalog: Catalog) -> None:
    w = priced(workload(role(gpus=4, instance_type="box4")), catalog)
    assert allowlist_saving(w, catalog, ["box1"]) is None
    assert allowlist_saving(w, catalog, ["g9.*"]) is None


def test_allowlist_saving_is_never_negative(catalog: Catalog) -> None:
    w = priced(workload(role(gpus=1, instance_type="box8")), catalog)  # 2 $/h per GPU; box1 is 3 $/h
    assert allowlist_saving(w, catalog, ["box1"]) == 0.0


def test_allowlist_saving_keeps_the_capacity_type(catalog: Catalog) -> None:
    w = priced(workload(role(gpus=4, instance_type="box4", capacity=CapacityType.SPOT)), catalog)
    assert allowlist_saving(w, catalog, ["box8"]) == pytest.approx((3.0 - 4.0 * 4 / 8) * 730)


def test_idle_saving_is_the_catalogs_idle_fraction_of_a_continuous_workload(catalog: Catalog) -> None:
    w = priced(workload(role(gpus=1, instance_type="box8"), kind="Notebook"), catalog)
    assert idle_saving(w, catalog) == pytest.approx(0.5 * 2.0 * 730)


def test_idle_saving_is_zero_with_idle_shutdown_or_for_a_job(catalog: Catalog) -> None:
    assert idle_saving(priced(workload(role(gpus=1, instance_type="box8"), idle_timeout=3600), catalog), catalog) == 0
    assert idle_saving(priced(workload(role(gpus=1, instance_type="box8"), run_time=bounded(5)), catalog), catalog) == 0


def test_idle_saving_is_unknown_for_an_unpriced_workload(catalog: Catalog) -> None:
    assert idle_saving(priced(workload(role(gpus=1, instance_type="no-such-box")), catalog), catalog) is None


def test_with_the_bundled_catalog_a_type_without_a_real_spot_price_has_an_unknown_spot_saving() -> None:
    """Issue #17: spot only from real data. Most Azure figures come from a table with no Spot meters, so those
    types have no spot price and their spot saving is unknown, never a discount made up; the four sizes of the
    dated 2026-09-06 Retail Prices excerpt with Spot meters, and an AWS type the dated spot feed prices, have a
    known one."""
    from policy_engine.pricing.catalog import default_catalog

    bundled = default_catalog()
    azure = sorted(n for n, i in bundled.instance_types.items() if i.provider == "azure")
    with_spot = {n for n in azure if bundled.instance_types[n].spot is not None}
    assert with_spot == {"Standard_NC4as_T4_v3", "Standard_NC24ads_A100_v4", "Standard_NC40ads_H100_v5",
                         "Standard_ND96asr_v4"}
    for name in sorted(set(azure) - with_spot):
        assert spot_saving(priced(workload(role(gpus=1, instance_type=name)), bundled)) is None, name
    h100 = bundled.instance_types["Standard_NC40ads_H100_v5"]
    assert (h100.on_demand, h100.spot, h100.spot_date) == (6.98, 1.289904, "2026-09-06")
    assert spot_saving(priced(workload(role(gpus=1, instance_type="Standard_NC40ads_H100_v5")), bundled)) == (
        pytest.approx((6.98 - 1.289904) * 730))
    g5 = bundled.instance_types["g5.xlarge"]
    assert g5.spot is not None and g5.spot_date == "2026-08-10"
    assert spot_saving(priced(workload(role(gpus=1, instance_type="g5.xlarge")), bundled)) == pytest.approx(
        (g5.on_demand - g5.spot) * 730)
