"""OpenCost/Kubecost custom pricing as a --pricing file: nodes priced as vCPUs × CPU + GiB × RAM + GPUs × GPU."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from policy_engine.pricing.catalog import load_catalog
from policy_engine.pricing.importers.common import ImportFailure

CPU, RAM, GPU, SPOT_CPU, SPOT_RAM = 0.031611, 0.004237, 0.95, 0.006655, 0.000892


def test_the_rates_reprice_every_instance_from_its_hardware(fixture_copy: Callable[[str], str]) -> None:
    catalog = load_catalog(fixture_copy("opencost-default.json"))
    g5 = catalog.instance_types["g5.xlarge"]  # 4 vCPU, 16 GiB, 1 GPU
    assert g5.on_demand == pytest.approx(4 * CPU + 16 * RAM + 1 * GPU)
    assert g5.spot is None  # the file has no spotGPU: no spot price for a GPU node
    assert g5.date == "2025-11-29" and "opencost-default.json" in (g5.source or "")
    assert catalog.cpu.vcpu_hour == CPU and catalog.cpu.memory_gib_hour == RAM
    assert catalog.cpu.vcpu_hour_spot == SPOT_CPU and catalog.cpu.memory_gib_hour_spot == SPOT_RAM
    # the per-GPU price is still all-in: the cheapest whole-GPU A10G instance repriced, per GPU
    assert catalog.gpu_models["A10G"].on_demand == pytest.approx(4 * CPU + 16 * RAM + GPU)
    assert catalog.attached_gpus["nvidia-tesla-t4"].on_demand == GPU
    assert catalog.sources["opencost"].date == "2025-11-29"
    # the rates price every type whose hardware the catalog knows, also those it has no published price for
    b300 = catalog.instance_types["p6-b300.48xlarge"]  # 192 vCPU, 4096 GiB, 8 GPUs
    assert b300.on_demand == pytest.approx(192 * CPU + 4096 * RAM + 8 * GPU)
    assert "p6-b300.48xlarge" not in catalog.unpriced_types and not catalog.unpriced_types
    assert catalog.gpu_models["B300"].on_demand == pytest.approx((192 * CPU + 4096 * RAM + 8 * GPU) / 8)
    assert "B300" not in catalog.unpriced_gpu_models


def test_a_rate_that_is_not_a_number_is_located(tmp_path: Path) -> None:
    bad = tmp_path / "default.json"
    bad.write_text('{\n  "provider": "custom",\n  "CPU": "0.03",\n  "RAM": "cheap"\n}\n')
    with pytest.raises(ImportFailure) as info:
        load_catalog(str(bad))
    (error,) = info.value.errors
    assert error.span.line == 4 and "RAM" in error.message



def test_custom_pricing_is_dated_by_its_fetched_at_like_every_undated_file(tmp_path: Path) -> None:
    rates = tmp_path / "default.json"
    rates.write_text(json.dumps({"provider": "custom", "CPU": "0.03", "RAM": "0.004", "GPU": "0.95",
                                 "fetched_at": "2026-07-01"}))
    catalog = load_catalog(str(rates))
    assert catalog.sources["opencost"].date == "2026-07-01"
    assert catalog.instance_types["g5.xlarge"].date == "2026-07-01"
    assert "by its fetched_at 2026-07-01" in (catalog.instance_types["g5.xlarge"].source or "")
