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
        "not a Compute CPU, RAM, GPU or TPU SKU": 1,
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


def test_tpu_skus_priced_per_chip_become_their_gpu_models_entry_dated_by_the_page() -> None:
    page = str(IMPORT_FIXTURES / "gcp-skus-tpu.json")
    imported = import_skus(page, {})
    # Tpu-v5e: units 1 + nanos 200000000 in us-central1; its Preemptible SKU nanos 480000000. Tpu-v6e: units 2 +
    # nanos 700000000, sold only in us-east5 here (named in the source). Tpu-v4 (per pod) and the commitment: not
    v5e, v6e = imported.gpu_models["TPU-v5e"], imported.gpu_models["TPU-v6e"]
    assert (v5e["on_demand"], v5e["spot"], v5e["accelerator"], v5e["date"]) == (1.2, 0.48, "tpu", "2026-11-30")
    assert "in us-central1, effective 2026-10-01" in v5e["source"] and "effective 2026-10-15" in v5e["source"]
    assert (v6e["on_demand"], "spot" in v6e) == (2.7, False) and "in us-east5" in v6e["source"]
    assert set(imported.gpu_models) == {"TPU-v5e", "TPU-v6e"}
    assert imported.skipped == {
        "a TPU SKU of a generation priced per device or pod, not per chip (only v5e, v5p, v6e are taken)": 1,
        "usageType Commit1Yr (commitments and reservations are not taken)": 1,
    }


def test_an_imported_tpu_price_replaces_the_bundled_undated_one() -> None:
    from policy_engine.pricing.catalog import bundled_catalog_path

    page = str(IMPORT_FIXTURES / "gcp-skus-tpu.json")
    outcome = run_import(ImportRequest(gcp_skus=(page,), base=str(bundled_catalog_path())))
    models = yaml.safe_load(outcome.text)["gpu_models"]
    assert (models["TPU-v5e"]["on_demand"], models["TPU-v5e"]["date"]) == (1.2, "2026-11-30")
    assert models["TPU-v5p"]["date"].startswith("undated")  # not in the page: kept as it was, and said so
    assert "catalog: gpu_models[TPU-v5e]: taken from" in "\n".join(outcome.lines)
