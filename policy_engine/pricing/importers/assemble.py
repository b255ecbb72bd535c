"""Imported price rows (+ a base catalog) → catalog data in the bundled schema, and what was done and why.

Rows are grouped by machine type (the AWS instance type, the Azure ``armSkuName``, the GCP machine type).
A type's entry is priced in its default region — the base entry's region, else the provider's reference
region (``DEFAULT_REGIONS``), else the first region it is priced in — and every other region it is priced
in goes under ``regions``. On-demand and spot figures of one region may come from different files; each
keeps its own ``source``/``date`` (``spot_source``/``spot_date``). A spot price is only ever one read from
a file: a region with no spot row has no spot price (a base entry's spot is kept only when it is dated).

``gpu_models`` follows the catalog's one definition — the all-in price per GPU of the cheapest whole-GPU
instance of that model, divided by its GPUs — recomputed for every model an import touched.
"""

from __future__ import annotations

import fnmatch
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from policy_engine.pricing.importers.common import DEFAULT_REGIONS, Hardware, Imported, PriceRow, rounded

NEURON_MODELS = frozenset({"Inferentia", "Inferentia2", "Trainium", "Trainium2"})


@dataclass
class Assembly:
    data: dict[str, Any]
    taken: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)


def assemble(imports: list[Imported], base: dict[str, Any] | None, *, only: tuple[str, ...] = (),
             include_cpu: bool = False) -> Assembly:
    data: dict[str, Any] = dict(base or {})
    instances: dict[str, Any] = {k: dict(v) for k, v in (data.get("instance_types") or {}).items()}
    result = Assembly(data)
    rows: dict[str, list[PriceRow]] = defaultdict(list)
    for imported in imports:
        for row in imported.rows:
            if only and not any(fnmatch.fnmatchcase(row.name, p) for p in only):
                result.skipped["not matched by --only"] += 1
                continue
            rows[row.name].append(row)
    unpriced: dict[str, Any] = dict(data.get("unpriced_types") or {})
    touched_models: set[str] = set()
    for name, group in sorted(rows.items()):
        entry = _entry(name, group, instances.get(name) or _as_base(unpriced.get(name)), include_cpu, result)
        if entry is not None:
            instances[name] = entry
            if unpriced.pop(name, None) is not None:
                result.notes.append(f"{name}: priced by the import (was listed unpriced in the base catalog)")
            result.taken[group[0].provider] += 1
            if entry.get("gpu_model"):
                touched_models.add(entry["gpu_model"])
    data["instance_types"] = instances
    if unpriced or "unpriced_types" in data:
        data["unpriced_types"] = unpriced
    data["gpu_models"] = _gpu_models(dict(data.get("gpu_models") or {}), instances, touched_models, result)
    for imported in imports:
        for model, entry in imported.gpu_models.items():  # priced per chip by the file itself (Cloud TPU)
            data["gpu_models"][model] = dict(entry)
            result.notes.append(f"gpu_models[{model}]: taken from {imported.file}")
    unpriced_models = {k: v for k, v in (data.get("unpriced_gpu_models") or {}).items() if k not in data["gpu_models"]}
    if unpriced_models or "unpriced_gpu_models" in data:
        data["unpriced_gpu_models"] = unpriced_models
    sources = dict(data.get("sources") or {})
    for imported in imports:
        s = imported.source
        sources[s.key] = {"url": s.url, "date": s.date, **({"region": s.region} if s.region else {}),
                          **({"notes": s.notes} if s.notes else {})}
    data["sources"] = sources
    attached = dict(data.get("attached_gpus") or {})
    for imported in imports:
        for label, entry in imported.attached.items():
            attached[label] = dict(entry)  # whole: the base entry's figure is replaced, not patched
            result.notes.append(f"attached_gpus[{label}]: taken from {imported.file}")
    if attached:
        data["attached_gpus"] = attached
    for imported in imports:
        if imported.cpu:
            data["cpu"] = dict(imported.cpu)  # whole: a spot rate of another source would not match these
            result.notes.append(f"cpu: rates taken from {imported.file}: {imported.cpu['source']}")
    dates = [i.source.date for i in imports if i.source.date]
    if dates and (not data.get("as_of") or _iso_dated(str(data["as_of"]))):
        data["as_of"] = max([*dates, *([str(data["as_of"])] if data.get("as_of") else [])])
    # a base whose as_of is a description (mixed dates, entry by entry) keeps it: one date would overstate
    return result


def _entry(name: str, rows: list[PriceRow], base: dict[str, Any] | None, include_cpu: bool,
           result: Assembly) -> dict[str, Any] | None:
    provider = rows[0].provider
    if all(r.on_demand is None for r in rows) and (base is None or "on_demand" not in base):
        # spot prices alone (a spot file lists every type it sells): a type is priced from its on-demand price
        result.skipped[f"{provider}: a spot price without an on-demand price in the same region"] += len(rows)
        return None
    hardware = next((r.hardware for r in rows if r.hardware is not None), None)
    if hardware is None and base is not None:
        hardware = Hardware(base["vcpus"], base["memory_gib"], base["gpus"], base.get("gpu_model"))
    if hardware is None:
        result.skipped[f"{provider}: no hardware known for the type (vCPUs, memory, GPUs)"] += 1
        where = " or policy_engine/pricing/importers/azure_hardware.yaml" if provider == "azure" else ""
        result.notes.append(f"{name}: priced in the file but its hardware is unknown; add it to the base catalog"
                            + where)
        return None
    if not hardware.gpus and not include_cpu:
        result.skipped[f"{provider}: no accelerator (CPU pods are priced from their requests; "
                       "--include-cpu takes them)"] += 1
        return None
    if base is not None and base.get("gpu_model") and hardware.gpus and not hardware.gpu_model:
        hardware = Hardware(hardware.vcpus, hardware.memory_gib, hardware.gpus, base["gpu_model"])
    regions: dict[str, dict[str, Any]] = defaultdict(dict)
    for row in rows:
        price = regions[row.region]
        if row.on_demand is not None:
            price.update(on_demand=row.on_demand, source=row.source, date=row.date)
        if row.spot is not None:
            price.update(spot=row.spot, spot_source=row.source, spot_date=row.date)
    if base is not None and "on_demand" in base:  # the base's own figures stay where the files say nothing new
        here = regions.get(base["region"], {})
        if "on_demand" not in here:
            kept: dict[str, Any] = {k: base[k] for k in ("on_demand", "source", "date") if k in base}
            regions[base["region"]] = {**kept, **here}
        if "spot" not in regions[base["region"]] and base.get("spot") is not None:
            if base.get("spot_date"):
                regions[base["region"]].update({k: base[k] for k in ("spot", "spot_source", "spot_date") if k in base})
            else:
                result.notes.append(f"{name}: the base catalog's undated spot price {base['spot']} was dropped")
        for region, price in (base.get("regions") or {}).items():
            regions.setdefault(region, dict(price))
    for region, price in list(regions.items()):
        if "on_demand" not in price:
            result.skipped[f"{provider}: a spot price without an on-demand price in the same region"] += 1
            del regions[region]
    if not regions:
        return None
    default = _default_region(provider, base, regions)
    top = regions.pop(default)
    entry: dict[str, Any] = {"provider": provider, "region": default, "gpus": hardware.gpus}
    if hardware.gpu_model:
        entry["gpu_model"] = hardware.gpu_model
    entry.update(vcpus=hardware.vcpus, memory_gib=hardware.memory_gib)
    entry.update(top)
    if base is not None and base.get("notes"):
        entry["notes"] = base["notes"]
    if regions:
        entry["regions"] = {r: regions[r] for r in sorted(regions)}
    return entry


def _as_base(unpriced: dict[str, Any] | None) -> dict[str, Any] | None:
    """A base catalog's unpriced type as a base entry: its hardware, no price (the import brings one)."""
    if unpriced is None:
        return None
    keys = ("provider", "gpus", "gpu_model", "vcpus", "memory_gib")
    return {**{k: unpriced[k] for k in keys if k in unpriced}, "region": unpriced.get("region") or ""}


def _default_region(provider: str, base: dict[str, Any] | None, regions: dict[str, Any]) -> str:
    if base is not None and base["region"] in regions:
        return str(base["region"])
    reference = DEFAULT_REGIONS.get(provider)
    if reference in regions:
        return str(reference)
    return sorted(regions)[0]


def _iso_dated(date: Any) -> bool:
    return isinstance(date, str) and len(date) >= 10 and date[4] == "-" and date[:4].isdigit()


def _gpu_models(models: dict[str, Any], instances: dict[str, Any], touched: set[str],
                result: Assembly) -> dict[str, Any]:
    """Each touched model: its cheapest whole-GPU instance (default-region on-demand) per GPU, all-in."""
    for model in sorted(touched):
        whole = [(n, e) for n, e in instances.items()
                 if e.get("gpu_model") == model and e["gpus"] >= 1 and float(e["gpus"]).is_integer()]
        if not whole:
            result.notes.append(f"gpu_models[{model}] not derived: no whole-GPU instance of it")
            continue
        # cheapest per GPU; at equal price a figure read from a dated file before one that is not
        name, entry = min(whole, key=lambda item: (item[1]["on_demand"] / item[1]["gpus"],
                                                   not _iso_dated(item[1].get("date")), item[0]))
        n = entry["gpus"]
        old = models.get(model, {})
        new: dict[str, Any] = {"on_demand": rounded(entry["on_demand"] / n)}
        if entry.get("spot") is not None:
            new["spot"] = rounded(entry["spot"] / n)
        new["accelerator"] = old.get("accelerator", "neuron" if model in NEURON_MODELS else "gpu")
        new["source"] = f"{name} / {n:g} ({entry['region']}, all-in per GPU)"
        if entry.get("date"):
            new["date"] = entry["date"]
        models[model] = new
    return models
