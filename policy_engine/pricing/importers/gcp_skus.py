"""GCP: Cloud Billing Catalog SKUs (``services/6F81-5844-456A/skus``, Compute Engine) composed into machine prices.

A saved page of ``GET https://cloudbilling.googleapis.com/v1/services/6F81-5844-456A/skus`` is
``{"skus": [...], "nextPageToken": "..."}``; each SKU has ``description``, ``category`` (``resourceFamily``
Compute, ``resourceGroup`` CPU / RAM / GPU, ``usageType`` OnDemand / Preemptible / Commit1Yr…),
``serviceRegions`` and ``pricingInfo[0].pricingExpression.tieredRates[].unitPrice`` (``units`` + ``nanos``)
per ``usageUnit`` (``h`` for a vCPU or a GPU, ``GiBy.h`` for memory).

GCP prices an accelerator-optimized machine as its vCPUs × the family's core price + its memory × the
family's RAM price + its GPUs × the GPU's price. The machine shapes (vCPUs, memory, GPUs, GPU model) come
from the base catalog (or the bundled one); the family from the machine type's prefix (``a2-…`` → "A2
Instance Core/Ram"); the GPU SKU from ``GPU_SKUS``. ``OnDemand`` SKUs give the on-demand price,
``Preemptible`` ("Spot Preemptible …", "… attached to Spot Preemptible VMs") the spot price; commitments
are skipped. A machine is priced in each region where all of its parts are. Each known GPU SKU's own price in
the reference region (us-central1) also becomes its ``attached_gpus`` entry (a GPU attached to an N1 or
general-purpose VM, GPU only), keyed by the GKE accelerator label; its Preemptible SKU gives the spot price.
TPU SKUs (``resourceGroup`` TPU) of the generations priced per chip-hour (v5e, v5p, v6e; ``TPU_MODELS``) become
their ``gpu_models`` entry (``TPU-v5e``…), the us-central1 price (else the first region's), spot likewise.
Local SSD a machine type bundles (a2-ultragpu, a3) is not included: the notes say so. The SKU pages carry
no date of their own: a page is dated as every undated format is (``common.fetched_date``: its top-level
``fetched_at``, else the file's modification time); each price's ``effectiveTime`` (when it took effect) is
kept in the source text.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from policy_engine.pricing.importers.common import (
    DEFAULT_REGIONS,
    Hardware,
    Imported,
    PriceRow,
    SourceInfo,
    fail,
    fetched_date,
    line_of,
    read_json,
    read_text,
    rounded,
)

#: The description a GPU's SKU starts with, per catalog model key (from the SKU descriptions GCP publishes).
GPU_SKUS = {
    "A100": "Nvidia Tesla A100 GPU",
    "A100-80GB": "Nvidia Tesla A100 80GB GPU",
    "L4": "Nvidia L4 GPU",
    "H100": "Nvidia H100 80GB GPU",
    "T4": "Nvidia Tesla T4 GPU",
    "V100": "Nvidia Tesla V100 GPU",
    "P100": "Nvidia Tesla P100 GPU",
    "P4": "Nvidia Tesla P4 GPU",
    "RTX-PRO-6000": "RTX 6000 96GB",
}
#: Catalog model key → the GKE accelerator label an attached GPU of that model is keyed by (``attached_gpus``).
ATTACHED_GPU_LABELS = {
    "A100": "nvidia-tesla-a100", "A100-80GB": "nvidia-a100-80gb", "L4": "nvidia-l4", "H100": "nvidia-h100-80gb",
    "T4": "nvidia-tesla-t4", "V100": "nvidia-tesla-v100", "P100": "nvidia-tesla-p100", "P4": "nvidia-tesla-p4",
}
#: Cloud TPU generations priced per chip-hour among the Compute Engine SKUs (``resourceGroup`` TPU), by the
#: version in the description's ``Tpu…`` token (``Tpu-v5e``, ``TpuV6e``: the token SkyPilot's and gpuhunt's
#: fetchers read) → catalog model key. v2–v4 are priced per device or pod (8 cores), not per chip: not taken.
TPU_MODELS = {"v5e": "TPU-v5e", "v5litepod": "TPU-v5e", "v5lite": "TPU-v5e", "v5p": "TPU-v5p", "v6e": "TPU-v6e"}
_TPU_TOKEN = re.compile(r"\bTpu[-\w]*", re.IGNORECASE)
_TPU_VERSION = re.compile(r"v\d+[a-z]*")
#: Machine types whose GPU has its own SKU name.
MACHINE_GPU_SKUS = {"a3-megagpu-8g": "Nvidia H100 80GB Mega GPU"}
_PRICE_KINDS = {"OnDemand": "on_demand", "Preemptible": "spot"}
REGION = DEFAULT_REGIONS["gcp"]


def import_skus(file: str, machines: dict[str, Hardware]) -> Imported:
    """Machine prices from a SKU page; ``machines``: GCP machine type → hardware (from the base catalog)."""
    text = read_text(file)
    data = read_json(file, text)
    skus = data.get("skus") if isinstance(data, dict) else None
    if not isinstance(skus, list):
        raise fail(file, 1, "not a Cloud Billing Catalog SKU page: no 'skus' list",
                   hint="save GET https://cloudbilling.googleapis.com/v1/services/6F81-5844-456A/skus (a page)")
    date, dated_by = fetched_date(file, text, data, "the API")
    out = Imported(file, "gcp billing skus", SourceInfo(f"gcp-skus:{Path(file).name}", str(Path(file)), date,
                                                         notes="Cloud Billing Catalog SKUs (Compute Engine); "
                                                               f"dated by {dated_by}"))
    # (kind, description prefix, resource group) → region → (price per unit, effectiveTime)
    rates: dict[tuple[str, str], dict[str, tuple[float, str]]] = defaultdict(dict)
    for i, sku in enumerate(skus):
        if not isinstance(sku, dict):
            raise fail(file, line_of(text, '"skus"'), f"skus[{i}] is not an object")
        _read_sku(sku, i, out, rates, file, text)
    regions_seen: set[str] = set()
    for name, hw in sorted(machines.items()):
        family = name.split("-", 1)[0].upper()
        gpu_sku = MACHINE_GPU_SKUS.get(name) or (GPU_SKUS.get(hw.gpu_model or "") if hw.gpus else None)
        if hw.gpus and gpu_sku is None:
            out.skip(f"no GPU SKU known for {hw.gpu_model} (GPU_SKUS)")
            continue
        parts = {"CPU": (f"{family} Instance Core", hw.vcpus), "RAM": (f"{family} Instance Ram", hw.memory_gib)}
        if gpu_sku is not None:
            parts["GPU"] = (gpu_sku, hw.gpus)
        for kind in ("on_demand", "spot"):
            found = [rates.get((kind, f"{group}:{prefix}"), {}) for group, (prefix, _) in parts.items()]
            regions = set.intersection(*(set(r) for r in found)) if found else set()
            for region in sorted(regions):
                hourly = sum(r[region][0] * amount for r, (_, amount) in zip(found, parts.values(), strict=True))
                since = max(r[region][1] for r in found)
                source = (f"Cloud Billing SKUs {Path(file).name}: {family} core × {hw.vcpus:g} + ram × "
                          f"{hw.memory_gib:g}" + (f" + {gpu_sku} × {hw.gpus:g}" if gpu_sku else "")
                          + (f", effective {since[:10]}" if since else "") + "; bundled local SSD not included")
                on_demand, spot = (rounded(hourly), None) if kind == "on_demand" else (None, rounded(hourly))
                out.rows.append(PriceRow("gcp", name, region, source, date, on_demand=on_demand, spot=spot,
                                         hardware=hw))
                regions_seen.add(region)
    out.source = SourceInfo(out.source.key, out.source.url, date, ",".join(sorted(regions_seen)) or None,
                            out.source.notes)
    out.attached = _attached(rates, Path(file).name, date)
    out.gpu_models = _tpu_models(rates, Path(file).name, date)
    return out


def _tpu_models(rates: Rates, page: str, date: str) -> dict[str, Any]:
    """``gpu_models`` entries of the TPU generations the page prices per chip-hour: the reference region's
    price (else the first region's, named in the source), its Preemptible SKU's as the spot price."""
    entries: dict[str, Any] = {}
    for model in sorted(set(TPU_MODELS.values())):
        on_demand = rates.get(("on_demand", f"TPU:{model}"), {})
        if not on_demand:
            continue
        region = REGION if REGION in on_demand else sorted(on_demand)[0]
        price, since = on_demand[region]
        entry: dict[str, Any] = {"on_demand": rounded(price)}
        source = (f"Cloud Billing SKUs {page}: {model} per chip-hour in {region}"
                  + (f", effective {since[:10]}" if since else ""))
        spot = rates.get(("spot", f"TPU:{model}"), {}).get(region)
        if spot is not None:
            entry["spot"] = rounded(spot[0])
            source += "; spot: its Preemptible SKU" + (f", effective {spot[1][:10]}" if spot[1] else "")
        entries[model] = {**entry, "accelerator": "tpu", "source": source, "date": date}
    return entries


def _attached(rates: Rates, page: str, date: str) -> dict[str, Any]:
    """``attached_gpus`` entries: each known GPU SKU's own price per GPU-hour in the reference region (the
    catalog holds one region per attached GPU), its Preemptible SKU's as the spot price."""
    entries: dict[str, Any] = {}
    for model, prefix in sorted(GPU_SKUS.items()):
        label = ATTACHED_GPU_LABELS.get(model)
        on_demand = rates.get(("on_demand", f"GPU:{prefix}"), {}).get(REGION)
        if label is None or on_demand is None:
            continue
        spot = rates.get(("spot", f"GPU:{prefix}"), {}).get(REGION)
        since = f", effective {on_demand[1][:10]}" if on_demand[1] else ""
        entry: dict[str, Any] = {"provider": "gcp", "region": REGION, "gpu_model": model,
                                 "on_demand": rounded(on_demand[0])}
        source = f"Cloud Billing SKUs {page}: \"{prefix}\" per GPU-hour in {REGION}{since}"
        if spot is not None:
            entry["spot"] = rounded(spot[0])
            source += "; spot: its Preemptible SKU" + (f", effective {spot[1][:10]}" if spot[1] else "")
        entries[label] = {**entry, "source": source, "date": date}
    return entries


Rates = dict[tuple[str, str], dict[str, tuple[float, str]]]


def _read_sku(sku: dict[str, Any], i: int, out: Imported, rates: Rates, file: str, text: str) -> None:
    description, category = sku.get("description"), sku.get("category")
    if not isinstance(description, str) or not isinstance(category, dict):
        raise fail(file, line_of(text, str(sku.get("skuId", '"skus"'))),
                   f"skus[{i}] has no description or category")
    group, usage = category.get("resourceGroup"), category.get("usageType")
    if group != "TPU" and (category.get("resourceFamily") != "Compute" or group not in ("CPU", "RAM", "GPU")):
        out.skip("not a Compute CPU, RAM, GPU or TPU SKU")
        return
    kind = _PRICE_KINDS.get(str(usage))
    if kind is None:
        out.skip(f"usageType {usage} (commitments and reservations are not taken)")
        return
    key = _tpu_key(description) if group == "TPU" else (
        f"{group}:" + description.removeprefix("Spot Preemptible ").split(" running in")[0].split(" attached to")[0])
    if key is None:
        out.skip("a TPU SKU of a generation priced per device or pod, not per chip (only v5e, v5p, v6e are taken)")
        return
    price, since = _unit_price(sku, i, file, text)
    if price is None:
        out.skip("no hourly unit price")
        return
    for region in sku.get("serviceRegions") or ():
        rates[(kind, key)][str(region)] = (price, since)


def _tpu_key(description: str) -> str | None:
    """``TPU:<model key>`` of a TPU SKU priced per chip, by its ``Tpu…`` token; None for another generation."""
    token = _TPU_TOKEN.search(description)
    version = _TPU_VERSION.search(token.group().lower()) if token else None
    model = TPU_MODELS.get(version.group()) if version else None
    return f"TPU:{model}" if model else None


def _unit_price(sku: dict[str, Any], i: int, file: str, text: str) -> tuple[float | None, str]:
    infos = sku.get("pricingInfo")
    if not isinstance(infos, list) or not infos or not isinstance(infos[0], dict):
        return None, ""
    expression = infos[0].get("pricingExpression") or {}
    if expression.get("usageUnit") not in ("h", "GiBy.h"):
        return None, ""
    tiers = expression.get("tieredRates") or []
    if not tiers or not isinstance(tiers[-1], dict):
        return None, ""
    unit = tiers[-1].get("unitPrice") or {}
    try:
        value = float(unit.get("units") or 0) + float(unit.get("nanos") or 0) / 1e9
    except (TypeError, ValueError) as exc:
        raise fail(file, line_of(text, str(sku.get("skuId", '"skus"'))),
                   f"skus[{i}] unitPrice is not a number") from exc
    if unit.get("currencyCode", "USD") != "USD":
        return None, ""
    return value, str(infos[0].get("effectiveTime") or "")
