"""Types and GPU models the catalog recognises without a published price: reported unpriced with the reason,
priced as soon as a user file or an import gives a price — never priced from a guess."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from policy_engine.pricing.catalog import load_catalog
from policy_engine.pricing.cost import price
from policy_engine.pricing.price_import import ImportRequest, run_import
from tests.workloads import priced, role, workload


def test_a_pod_on_a_recognised_type_without_a_price_is_unpriced_and_says_why() -> None:
    cost = price(workload(role(gpus=8, instance_type="p6-b300.48xlarge")), load_catalog())
    assert not cost.priced and cost.monthly is None
    assert ("no published price in the catalog for instance type 'p6-b300.48xlarge' (8 × B300, 192 vCPU, "
            "4096 GiB): no on-demand price in the AWS price table of 2026-01-19") in (cost.unpriced_reason or "")


def test_a_pod_naming_only_a_recognised_gpu_model_without_a_price_is_unpriced_and_says_why() -> None:
    cost = price(workload(role(gpus=4, gpu_model="mi300x")), load_catalog())  # matched case-insensitively
    assert not cost.priced
    assert "no published price in the catalog for GPU model 'MI300X': its only instance here" in (
        cost.unpriced_reason or "")


def test_a_user_price_for_a_recognised_type_prices_it(tmp_path: Path) -> None:
    user = tmp_path / "prices.yaml"
    user.write_text("instance_types:\n  p6-b300.48xlarge: {provider: aws, region: us-east-1, gpus: 8, "
                    "gpu_model: B300, vcpus: 192, memory_gib: 4096, on_demand: 100.0, source: our contract}\n")
    w = priced(workload(role(gpus=8, instance_type="p6-b300.48xlarge")), load_catalog(str(user)))
    assert w.cost is not None and w.cost.priced and w.cost.monthly == 100.0 * 730


def test_an_import_prices_a_recognised_type_with_its_base_hardware_and_takes_it_off_the_unpriced_list(
        tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({
        "cpu": {"vcpu_hour": 0.03, "memory_gib_hour": 0.004}, "as_of": "2026-01-01",
        "unpriced_types": {"Standard_NC8ads_A10_v9": {  # a (made-up) size not in the bundled Azure hardware table
            "provider": "azure", "region": "eastus", "gpus": 0.3333, "gpu_model": "A10", "vcpus": 8,
            "memory_gib": 100, "reason": "no price yet"}},
        "unpriced_gpu_models": {"A10": {"reason": "no whole-A10 instance priced yet"}}}))
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"BillingCurrency": "USD", "NextPageLink": None, "Count": 1, "Items": [{
        "currencyCode": "USD", "retailPrice": 0.908, "armRegionName": "eastus", "meterName": "NC8ads A10 v9",
        "productName": "Virtual Machines NCads A10 v9 Series", "skuName": "NC8ads A10 v9",
        "serviceName": "Virtual Machines", "unitOfMeasure": "1 Hour", "type": "Consumption",
        "isPrimaryMeterRegion": True, "armSkuName": "Standard_NC8ads_A10_v9"}]}))
    outcome = run_import(ImportRequest(azure=(str(page),), base=str(base)))
    data = yaml.safe_load(outcome.text)
    entry = data["instance_types"]["Standard_NC8ads_A10_v9"]
    assert (entry["gpus"], entry["vcpus"], entry["memory_gib"], entry["gpu_model"], entry["on_demand"]) == (
        0.3333, 8, 100, "A10", 0.908)
    assert "unpriced_types" not in data  # the only recognised type is now priced
    assert "catalog: Standard_NC8ads_A10_v9: priced by the import (was listed unpriced in the base catalog)" in (
        outcome.lines)
    # a fraction of a GPU does not define the model's per-GPU price: A10 stays recognised and unpriced
    assert "A10" not in data.get("gpu_models", {}) and data["unpriced_gpu_models"]["A10"]["reason"]


def test_the_bundled_catalogs_regional_prices_follow_the_manifests_region_and_say_the_default() -> None:
    """topology.kubernetes.io/region from a nodeSelector or a required affinity selects the regional price
    the bundled catalog has (GCP's europe-west4, from the pricing.yml excerpt); else the default region, said."""
    from policy_engine.model.build import build_workload
    from policy_engine.model.config import ModelConfig
    from policy_engine.model.documents import Document, load_paths

    catalog = load_catalog()
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "pricing" / "spot" / "regional.yaml"
    costs = {}
    for doc in load_paths([str(fixture)]):
        if isinstance(doc, Document):
            w = build_workload(doc, ModelConfig(hours_per_month=catalog.hours_per_month))
            assert w is not None
            costs[w.name] = price(w, catalog)
    eu, asia = costs["eu-train"], costs["asia-train"]
    assert eu.monthly == 1.48734  # one 1-hour run at the europe-west4 spot price, not us-central1's 1.80385
    assert "$1.4873/h spot as of 2026-02-12" in eu.breakdown[0] and "europe-west4 price" in eu.breakdown[0]
    assert asia.monthly == 3.673385
    assert "no asia-south1 price in the catalog: priced at us-central1, its default region" in asia.breakdown[0]


def test_among_candidates_a_recognised_type_without_a_price_is_named_apart_from_an_unknown_one() -> None:
    cost = price(workload(role(gpus=8, candidates=("p5.48xlarge", "p5e.48xlarge", "p9.huge"))), load_catalog())
    assert cost.priced and cost.hourly == 55.04  # the only candidate with a price
    assert "(not in catalog: p9.huge) (no published price: p5e.48xlarge)" in cost.breakdown[0]
