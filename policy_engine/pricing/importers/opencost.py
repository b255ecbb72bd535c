"""OpenCost / Kubecost custom pricing (``default.json``-style hourly rates) as a pricing catalog.

The file is the one OpenCost's custom provider reads (``provider: custom``; Helm ``customPricing.costModel``)::

    {"provider": "custom", "description": "...", "CPU": "0.031611", "spotCPU": "0.006655",
     "RAM": "0.004237", "spotRAM": "0.000892", "GPU": "0.95", "spotGPU": "0.308", "storage": "0.00005479452"}

``CPU`` is per vCPU-hour, ``RAM`` per GiB-hour, ``GPU`` per GPU-hour (numbers or numeric strings). OpenCost
prices a node as vCPUs × CPU + GiB × RAM + GPUs × GPU, so the catalog built from it does the same: the CPU and
memory rates are replaced, every instance type of the base catalog is repriced from its hardware, each GPU
model's per-GPU price is the cheapest whole-GPU instance of that model repriced (the catalog's one
definition: all-in per GPU), and attached GPUs cost the GPU rate. Spot prices exist only where the file gives
all of the spot rates a figure needs; otherwise there is none. Storage and network rates are not used
(reported). Every figure says it came from this file, dated as every undated format is
(``common.fetched_date``): by a top-level ``fetched_at`` (when the rates were agreed or taken), else by the
file's modification time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from policy_engine.pricing.importers.common import fail, fetched_date, line_of, number, read_json, read_text, rounded

RATE_KEYS = ("CPU", "spotCPU", "RAM", "spotRAM", "GPU", "spotGPU")
KNOWN_KEYS = {*RATE_KEYS, "provider", "description", "storage", "zoneNetworkEgress", "regionNetworkEgress",
              "internetNetworkEgress", "firstFiveForwardingRulesCost", "additionalForwardingRuleCost",
              "LBIngressDataCost", "spotLabel", "spotLabelValue", "gpuLabel", "gpuLabelValue", "awsServiceKeyName",
              "customPricesEnabled", "defaultIdle", "shareTenancyCosts", "clusterName", "currencyCode",
              "azureSubscriptionID", "projectID", "zoneNetworkEgressCost", "internetNetworkEgressCost",
              "fetched_at"}


def looks_like_opencost(text: str) -> bool:
    """A JSON object with OpenCost's CPU/RAM rate keys and none of a catalog's sections."""
    head = text.lstrip()
    return head.startswith("{") and '"CPU"' in text and '"RAM"' in text and '"instance_types"' not in text


def opencost_catalog(file: str, base: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The catalog data ``base`` becomes under the file's rates, and lines saying what was not used."""
    text = read_text(file)
    data = read_json(file, text)
    if not isinstance(data, dict):
        raise fail(file, 1, "not OpenCost custom pricing: the file is not a JSON object")
    rates: dict[str, float | None] = {}
    for key in RATE_KEYS:
        raw = data.get(key)
        value = None if raw in (None, "") else number(raw)
        if raw not in (None, "") and (value is None or value < 0):
            raise fail(file, line_of(text, f'"{key}"'), f"{key} is not a non-negative number: {raw!r}")
        rates[key] = value
    for key in ("CPU", "RAM"):
        if rates[key] is None:
            raise fail(file, line_of(text, "{"), f"OpenCost custom pricing needs {key} (per hour)")
    cpu, ram, gpu = float(rates["CPU"] or 0), float(rates["RAM"] or 0), rates["GPU"]
    spot_cpu, spot_ram, spot_gpu = rates["spotCPU"], rates["spotRAM"], rates["spotGPU"]
    date, dated_by = fetched_date(file, text, data, "the custom pricing file")
    source = f"OpenCost custom pricing {Path(file).name} (dated {date}, by {dated_by.split(':')[0]})"
    notes = [f"{k} is not used (the catalog prices compute only)" for k in data
             if k not in RATE_KEYS and k in KNOWN_KEYS and k not in ("provider", "description", "fetched_at")]
    notes += [f"unknown key {k!r} ignored" for k in data if k not in KNOWN_KEYS]
    out = dict(base)
    out["cpu"] = {"vcpu_hour": cpu, "memory_gib_hour": ram, "source": source,
                  **({"vcpu_hour_spot": spot_cpu, "memory_gib_hour_spot": spot_ram}
                     if spot_cpu is not None and spot_ram is not None else {})}
    instances: dict[str, Any] = {}
    unpriced: list[str] = []
    recognised = base.get("unpriced_types") or {}
    # every machine type the catalog knows the hardware of, priced or not: the rates price them all alike
    for name, entry in {**recognised, **base.get("instance_types", {})}.items():
        if entry.get("gpus", 0) and gpu is None:
            unpriced.append(name)
            continue
        gpus = float(entry.get("gpus", 0))
        on_demand = entry["vcpus"] * cpu + entry["memory_gib"] * ram + gpus * (gpu or 0.0)
        spot = None
        if spot_cpu is not None and spot_ram is not None and (not gpus or spot_gpu is not None):
            spot = entry["vcpus"] * spot_cpu + entry["memory_gib"] * spot_ram + gpus * (spot_gpu or 0.0)
        kept = {"region": "any", **{k: v for k, v in entry.items() if k in ("provider", "region", "gpus", "gpu_model",
                                                                              "vcpus", "memory_gib")}}
        spot_figures = {"spot": rounded(spot), "spot_source": source, "spot_date": date} if spot is not None else {}
        instances[name] = {**kept, "on_demand": rounded(on_demand), "source": source, "date": date, **spot_figures}
    if unpriced:
        notes.append(f"{len(unpriced)} GPU instance type(s) dropped: the file has no GPU rate")
    out["instance_types"] = instances
    out["unpriced_types"] = {n: e for n, e in recognised.items() if n not in instances}
    unpriced_models = base.get("unpriced_gpu_models") or {}
    models = {**{k: {"accelerator": v.get("accelerator", "gpu")} for k, v in unpriced_models.items()},
              **base.get("gpu_models", {})}
    out["gpu_models"] = _gpu_models(models, instances, source, date, gpu)
    out["unpriced_gpu_models"] = {k: v for k, v in unpriced_models.items() if k not in out["gpu_models"]}
    out["attached_gpus"] = {} if gpu is None else {
        label: {**{k: v for k, v in entry.items() if k in ("provider", "region", "gpu_model")},
                "on_demand": gpu, "source": source, "date": date,
                **({"spot": spot_gpu} if spot_gpu is not None else {})}
        for label, entry in base.get("attached_gpus", {}).items()}
    out["sources"] = {**base.get("sources", {}), "opencost": {"url": str(Path(file)), "date": date,
                                                               "notes": source}}
    out["as_of"] = date
    return out, notes


def _gpu_models(models: dict[str, Any], instances: dict[str, Any], source: str, date: str,
                gpu: float | None) -> dict[str, Any]:
    """Each model: the cheapest whole-GPU instance of that model, repriced, per GPU (else the GPU rate)."""
    out: dict[str, Any] = {}
    for key, model in models.items():
        whole = [(n, e) for n, e in instances.items()
                 if e.get("gpu_model") == key and e["gpus"] >= 1 and float(e["gpus"]).is_integer()]
        base = {"accelerator": model.get("accelerator", "gpu"), "date": date}
        if whole:
            name, entry = min(whole, key=lambda item: item[1]["on_demand"] / item[1]["gpus"])
            spot = entry.get("spot")
            out[key] = {**base, "on_demand": rounded(entry["on_demand"] / entry["gpus"]),
                        "source": f"{name} / {entry['gpus']:g} under {source}",
                        **({"spot": rounded(spot / entry["gpus"])} if spot is not None else {})}
        elif gpu is not None and base["accelerator"] == "gpu":
            out[key] = {**base, "on_demand": gpu, "source": f"the GPU rate of {source}"}
    return out
