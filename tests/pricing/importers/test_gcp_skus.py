"""GCP Cloud Billing Catalog SKUs composed into machine prices: vCPUs × core + memory × RAM + GPUs × GPU."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from policy_engine.pricing.importers.common import Hardware, ImportFailure
from policy_engine.pricing.importers.gcp_skus import import_skus
from policy_engine.pricing.price_import import ImportRequest, run_import

from .paths import IMPORT_FIXTURES

MACHINES = {"a2-highgpu-1g": Hardware(12, 85, 1, "A100"), "a2-highgpu-8g": Hardware(96, 680, 8, "A100"),
            "g2-standard-4": Hardware(4, 16, 1, "L4"), "a3-ultragpu-8g": Hardware(224, 2952, 8, "H200")}


def test_machine_prices_are_composed_from_core_ram_and_gpu_skus_per_region(fixture_copy: Callable[[str], str]) -> None:
    imported = import_skus(fixture_copy("gcp-skus.json"), MACHINES)
    rows = {(r.name, r.region, "spot" if r.spot is not None else "od"): r for r in imported.rows}
    a2 = rows[("a2-highgpu-1g", "us-central1", "od")]
    # 12 × 0.031611 + 85 × 0.004237 + 1 × 2.933908: GCP's published a2-highgpu-1g price
    assert a2.on_demand == pytest.approx(3.673385)
    assert a2.date == "2025-11-29" and "effective 2025-11-01" in a2.source
    assert rows[("a2-highgpu-8g", "us-east1", "od")].on_demand == pytest.approx(96 * 0.031611 + 680 * 0.004237
                                                                               + 8 * 2.933908)
    spot = rows[("a2-highgpu-1g", "us-central1", "spot")]  # the Preemptible SKUs: spot
    assert spot.spot == pytest.approx(12 * 0.00951 + 85 * 0.001275 + 0.88) and spot.on_demand is None
    assert rows[("g2-standard-4", "us-central1", "od")].on_demand == pytest.approx(0.70683)
    assert ("g2-standard-4", "us-east1", "od") not in rows  # the G2 SKUs are not sold there
    assert ("g2-standard-4", "us-central1", "spot") not in rows  # no G2 spot SKU in the page: no spot price
    assert imported.skipped == {
        "usageType Commit1Yr (commitments and reservations are not taken)": 1,
        "not a Compute CPU, RAM or GPU SKU": 1,
        "no GPU SKU known for H200 (GPU_SKUS)": 1,
    }


def test_a_file_that_is_not_a_sku_page_is_refused() -> None:
    with pytest.raises(ImportFailure, match="no 'skus' list"):
        import_skus(str(IMPORT_FIXTURES / "azure-not-a-page.json"), MACHINES)


def test_a_page_is_dated_by_its_fetched_at_like_every_undated_format(
        fixture_copy: Callable[[str], str], tmp_path: Path) -> None:
    page = tmp_path / "skus.json"
    page.write_text(json.dumps({**json.loads(Path(fixture_copy("gcp-skus.json")).read_text()),
                                "fetched_at": "2025-12-01T08:00:00Z"}))
    imported = import_skus(str(page), MACHINES)
    assert {r.date for r in imported.rows} == {"2025-12-01"} and imported.source.date == "2025-12-01"
    assert "fetched_at 2025-12-01T08:00:00Z" in (imported.source.notes or "")
    assert "modification" in (import_skus(fixture_copy("gcp-skus.json"), MACHINES).source.notes or "")


def test_each_gpu_skus_own_price_is_its_attached_gpu_entry_in_the_reference_region(
        fixture_copy: Callable[[str], str]) -> None:
    imported = import_skus(fixture_copy("gcp-skus.json"), MACHINES)
    # "Nvidia Tesla A100 GPU running in Americas": units 2 + nanos 933908000; its "attached to Spot Preemptible
    # VMs" SKU: nanos 880000000. "Nvidia L4 GPU": nanos 560046000, no Preemptible SKU in the page: no spot
    a100, l4 = imported.attached["nvidia-tesla-a100"], imported.attached["nvidia-l4"]
    assert (a100["on_demand"], a100["spot"], a100["region"], a100["gpu_model"]) == (2.933908, 0.88, "us-central1",
                                                                                     "A100")
    assert a100["date"] == "2025-11-29" and "effective 2025-11-01" in a100["source"]  # the page's date; when it
    assert "effective 2025-11-15" in a100["source"]                                    # took effect, kept apart
    assert (l4["on_demand"], "spot" in l4) == (0.560046, False)
    assert set(imported.attached) == {"nvidia-tesla-a100", "nvidia-l4"}  # the commitment SKU gives none
    written = yaml.safe_load(run_import(ImportRequest(gcp_skus=(fixture_copy("gcp-skus.json"),))).text)
    assert written["attached_gpus"]["nvidia-tesla-a100"]["spot"] == 0.88
