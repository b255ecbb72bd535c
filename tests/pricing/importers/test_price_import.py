"""Each fixture through ``prices import``: the catalog entries written, compared with ones computed by hand."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from policy_engine.pricing.catalog import bundled_catalog_path, load_catalog
from policy_engine.pricing.price_import import ImportRequest, run_import

from .paths import IMPORT_FIXTURES

OFFER_EAST = str(IMPORT_FIXTURES / "aws-offer-us-east-1.json")
OFFER_WEST = str(IMPORT_FIXTURES / "aws-offer-us-west-2.json")
SPOT = str(IMPORT_FIXTURES / "aws-spot.json")
OFFER_SOURCE = "AWS Price List AmazonEC2 offer, published 2025-11-20T19:24:13Z; sku "


def catalog_of(request: ImportRequest) -> dict[str, Any]:
    data = yaml.safe_load(run_import(request).text)
    assert isinstance(data, dict)
    return data


def test_aws_on_demand_and_spot_join_per_region_each_with_its_own_file_and_date() -> None:
    data = catalog_of(ImportRequest(aws=(OFFER_EAST, OFFER_WEST), aws_spot=(SPOT,)))
    assert data["instance_types"]["g5.xlarge"] == {
        "provider": "aws", "region": "us-east-1", "gpus": 1, "gpu_model": "A10G", "vcpus": 4, "memory_gib": 16,
        "on_demand": 1.006, "source": OFFER_SOURCE + "GT8VJ3AQJ9F7Y6UU", "date": "2025-11-20",
        "spot": 0.4512,
        "spot_source": "describe-spot-price-history aws-spot.json (median of the latest prices in 3 zone(s), "
                       "0.4021–0.5003)",
        "spot_date": "2025-11-28",
        "regions": {"us-west-2": {
            "on_demand": 1.006, "date": "2025-11-21",
            "source": "AWS Price List AmazonEC2 offer, published 2025-11-21T00:44:10Z; sku W5NQ2ZR8D3JX7K6P",
            "spot": 0.401, "spot_date": "2025-11-28",
            "spot_source": "describe-spot-price-history aws-spot.json (median of the latest prices in 2 zone(s), "
                           "0.3894–0.4126)"}},
    }
    # p5.48xlarge has a us-west-2 spot price but no us-west-2 on-demand price: not taken, and no spot
    # price in us-east-1 (none was read), so none is written
    assert data["instance_types"]["p5.48xlarge"] == {
        "provider": "aws", "region": "us-east-1", "gpus": 8, "gpu_model": "H100", "vcpus": 192,
        "memory_gib": 2048, "on_demand": 55.04, "source": OFFER_SOURCE + "Q3RZ6WMC8T2HJV7B", "date": "2025-11-20"}
    assert "m5.large" not in data["instance_types"]  # no accelerator
    # gpu_models: the cheapest whole-GPU instance per GPU, all-in
    assert data["gpu_models"]["H100"] == {"on_demand": 6.88, "accelerator": "gpu", "date": "2025-11-20",
                                          "source": "p5.48xlarge / 8 (us-east-1, all-in per GPU)"}
    assert data["gpu_models"]["A10G"]["spot"] == 0.4512
    assert data["sources"]["aws-offer:aws-offer-us-east-1.json"]["date"] == "2025-11-20"
    assert data["as_of"] == "2025-11-28"


def test_azure_pages_with_the_hardware_table(fixture_copy: Callable[[str], str]) -> None:
    page1, page2 = fixture_copy("azure-retail-page1.json"), fixture_copy("azure-retail-page2.json")
    data = catalog_of(ImportRequest(azure=(page1, page2)))
    nc = data["instance_types"]["Standard_NC24ads_A100_v4"]
    assert nc == {
        "provider": "azure", "region": "eastus", "gpus": 1, "gpu_model": "A100-80GB", "vcpus": 24,
        "memory_gib": 220, "on_demand": 3.673, "date": "2025-11-29",
        "source": "Azure Retail Prices API azure-retail-page1.json, meter 'NC24ads A100 v4', effective since "
                  "2022-06-01",
        "spot": 1.0521, "spot_date": "2025-11-29",
        "spot_source": "Azure Retail Prices API azure-retail-page1.json, meter 'NC24ads A100 v4 Spot', effective "
                       "since 2025-11-01",
        "regions": {"westeurope": {
            "on_demand": 4.0403, "date": "2025-11-29",
            "source": "Azure Retail Prices API azure-retail-page1.json, meter 'NC24ads A100 v4', effective since "
                      "2022-06-01"}},
    }
    nd = data["instance_types"]["Standard_ND96isr_H100_v5"]
    assert (nd["on_demand"], nd["gpus"], nd.get("spot")) == (98.32, 8, None)
    assert "Standard_D2s_v3" not in data["instance_types"]  # priced, but its hardware is unknown


def test_gcp_table_sets_us_central1_as_the_default_region() -> None:
    data = catalog_of(ImportRequest(gcp=(str(IMPORT_FIXTURES / "gcp-pricing.yml"),
                                         str(IMPORT_FIXTURES / "gcp-prices.csv"))))
    source = "GCP machine-type price table gcp-pricing.yml (pricing.yml layout), generated 2025-03-06"
    assert data["instance_types"]["a2-highgpu-1g"] == {
        "provider": "gcp", "region": "us-central1", "gpus": 1, "gpu_model": "A100", "vcpus": 12, "memory_gib": 85,
        "on_demand": 3.673385, "source": source, "date": "2025-03-06",
        "spot": 1.293355, "spot_source": source, "spot_date": "2025-03-06",
        "regions": {"europe-west4": {"on_demand": 3.747972, "source": source, "date": "2025-03-06",
                                     "spot": 1.44587, "spot_source": source, "spot_date": "2025-03-06"}},
    }
    g2 = data["instance_types"]["g2-standard-4"]
    assert g2["region"] == "us-central1" and "spot" not in g2  # the CSV's empty spot cell: no spot price
    assert g2["regions"]["europe-west4"]["spot"] == 0.30911


def test_merged_into_the_bundled_catalog_the_result_loads_and_keeps_what_the_files_do_not_touch(tmp_path: Path) -> None:
    outcome = run_import(ImportRequest(aws=(OFFER_EAST,), aws_spot=(SPOT,), base=str(bundled_catalog_path())))
    out = tmp_path / "catalog.yaml"
    out.write_text(outcome.text)
    merged = load_catalog(str(out))
    g5 = merged.instance_types["g5.xlarge"]
    assert (g5.on_demand, g5.spot, g5.date, g5.spot_date) == (1.006, 0.4512, "2025-11-20", "2025-11-28")
    bundled = load_catalog()
    assert merged.instance_types["a2-highgpu-1g"] == bundled.instance_types["a2-highgpu-1g"]
    assert merged.cpu == bundled.cpu


def test_only_globs_restrict_the_types_taken() -> None:
    data = catalog_of(ImportRequest(aws=(OFFER_EAST,), only=("p5*",)))
    assert set(data["instance_types"]) == {"p5.48xlarge"}


def test_include_cpu_takes_machine_types_without_accelerators() -> None:
    data = catalog_of(ImportRequest(aws=(OFFER_EAST,), include_cpu=True))
    assert data["instance_types"]["m5.large"]["gpus"] == 0
    assert data["instance_types"]["m5.large"]["on_demand"] == 0.096


def test_every_bad_file_is_reported_at_once() -> None:
    from policy_engine.pricing.importers.common import ImportFailure

    with pytest.raises(ImportFailure) as info:
        run_import(ImportRequest(aws=(str(IMPORT_FIXTURES / "aws-not-json.json"),),
                                 gcp=(str(IMPORT_FIXTURES / "gcp-bad.csv"),)))
    assert [(e.span.file.rsplit("/", 1)[-1], e.span.line) for e in info.value.errors] == [
        ("aws-not-json.json", 5), ("gcp-bad.csv", 3)]


def test_the_observed_spot_catalog_used_by_the_docs_is_exactly_what_the_importer_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pricing = IMPORT_FIXTURES.parent
    monkeypatch.chdir(pricing)
    fresh = run_import(ImportRequest(aws=("import/aws-offer-us-east-1.json",), aws_spot=("import/aws-spot.json",)))
    assert (pricing / "catalogs" / "observed-spot.yaml").read_text() == fresh.text
