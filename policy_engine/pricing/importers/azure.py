"""Azure: pages of the Retail Prices API (``https://prices.azure.com/api/retail/prices``), saved as JSON.

A page is ``{"BillingCurrency", "Items": [...], "NextPageLink", "Count"}``; each item has ``serviceName``,
``armSkuName`` (the catalog key, e.g. ``Standard_NC24ads_A100_v4``), ``armRegionName``, ``retailPrice``,
``unitOfMeasure``, ``type`` (``Consumption``, ``Reservation``, ``DevTestConsumption``), ``meterName``,
``skuName``, ``productName`` and ``isPrimaryMeterRegion``. Taken: Virtual Machines, ``Consumption``, USD,
per hour, Linux (a ``productName`` ending in "Windows" carries the Windows licence and is skipped); a meter
whose name ends in "Spot" is the spot price, one ending in "Low Priority" (Batch) is skipped.

The API gives prices, not hardware: vCPUs, memory and GPUs come from the bundled table
``azure_hardware.yaml`` (or the base catalog's entry). The pages carry no date of their own: a page is
dated as every undated format is (``common.fetched_date``), by its top-level ``fetched_at`` (the time it was
fetched, or the generation time of the dataset it was rebuilt from), else by the file's modification time,
which a copy or a git checkout resets — so a committed page carries its ``fetched_at``. A meter's
``effectiveStartDate`` is when that price took effect, not when it was read: never used as the date.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from policy_engine.pricing.importers.common import (
    Hardware,
    Imported,
    PriceRow,
    SourceInfo,
    fail,
    fetched_date,
    line_of,
    number,
    read_json,
    read_text,
    rounded,
)

HARDWARE_TABLE = Path(__file__).resolve().parent / "azure_hardware.yaml"


@functools.lru_cache(maxsize=1)
def hardware_table() -> dict[str, Hardware]:
    """armSkuName → hardware, from the bundled table (Microsoft's VM size pages, see the file's header)."""
    data = yaml.load(HARDWARE_TABLE.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return {name: Hardware(float(h["vcpus"]), float(h["memory_gib"]), float(h["gpus"]), h.get("gpu_model"))
            for name, h in data["sizes"].items()}


def import_retail_prices(file: str) -> Imported:
    """Prices of one saved page; see the module docstring for what is taken and how it is dated."""
    text = read_text(file)
    data = read_json(file, text)
    items = _items(data)
    if items is None:
        raise fail(file, 1, "not a Retail Prices API page: no 'Items' list",
                   hint="save the JSON of https://prices.azure.com/api/retail/prices?$filter=serviceName eq "
                        "'Virtual Machines' and armRegionName eq 'eastus' (one file per page)")
    date, dated_by = fetched_date(file, text, data, "the API")
    dating = f"dated by {dated_by}"
    out = Imported(file, "azure retail prices",
                   SourceInfo(f"azure:{Path(file).name}", str(Path(file)), date,
                              notes=f"Azure Retail Prices API page; {dating}"))
    table = hardware_table()
    regions: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise fail(file, line_of(text, '"Items"'), f"Items[{i}] is not an object")
        row = _row(item, i, out, table, file, text, date)
        if row is not None:
            out.rows.append(row)
            regions.add(row.region)
    out.source = SourceInfo(out.source.key, out.source.url, date, ",".join(sorted(regions)) or None,
                            out.source.notes)
    return out


def _items(data: Any) -> list[Any] | None:
    if isinstance(data, dict) and isinstance(data.get("Items"), list):
        return list(data["Items"])
    if isinstance(data, list) and all(isinstance(p, dict) and isinstance(p.get("Items"), list) for p in data):
        return [item for page in data for item in page["Items"]]  # several pages saved as one array
    return None


def _row(item: dict[str, Any], i: int, out: Imported, table: dict[str, Hardware], file: str, text: str,
         date: str) -> PriceRow | None:
    for key in ("armSkuName", "armRegionName", "retailPrice", "type", "meterName"):
        if key not in item:
            meter = item.get("meterId")
            line = line_of(text, f'"{meter}"') if isinstance(meter, str) else line_of(text, '"Items"')
            raise fail(file, line, f"Items[{i}] has no '{key}'", hint="is this a Retail Prices API page?")
    if item.get("serviceName", "Virtual Machines") != "Virtual Machines":
        out.skip(f"serviceName {item.get('serviceName')} (only Virtual Machines is taken)")
        return None
    kind = item["type"]
    if kind != "Consumption":
        out.skip(f"type {kind} (only Consumption, pay-as-you-go, is taken)")
        return None
    if str(item.get("currencyCode", "USD")) != "USD":
        out.skip(f"currency {item.get('currencyCode')} (the catalog is in USD)")
        return None
    if item.get("unitOfMeasure", "1 Hour") != "1 Hour":
        out.skip(f"unitOfMeasure {item.get('unitOfMeasure')} (only hourly prices are taken)")
        return None
    if str(item.get("productName", "")).rstrip().endswith("Windows"):
        out.skip("Windows licence included (only Linux prices are taken)")
        return None
    if item.get("isPrimaryMeterRegion") is False:
        out.skip("not the primary meter region (a duplicate meter)")
        return None
    meter = f"{item['meterName']} {item.get('skuName', '')}"
    if "Low Priority" in meter:
        out.skip("Low Priority meter (Azure Batch, not a VM price)")
        return None
    spot = str(item["meterName"]).rstrip().endswith("Spot") or str(item.get("skuName", "")).rstrip().endswith("Spot")
    name, region = str(item["armSkuName"]), str(item["armRegionName"])
    if not name or not region:
        out.skip("no armSkuName or armRegionName")
        return None
    price = number(item["retailPrice"])
    if price is None:
        raise fail(file, line_of(text, f'"{name}"'), f"Items[{i}].retailPrice is not a number")
    if price <= 0:
        out.skip("retailPrice 0")
        return None
    since = item.get("effectiveStartDate")
    source = f"Azure Retail Prices API {Path(file).name}, meter '{item['meterName']}'" + (
        f", effective since {str(since)[:10]}" if since else "")
    if spot:
        return PriceRow("azure", name, region, source, date, spot=rounded(price), hardware=table.get(name))
    return PriceRow("azure", name, region, source, date, on_demand=rounded(price), hardware=table.get(name))
