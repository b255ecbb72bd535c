"""GCP: a machine-type price table, as YAML in the ``pricing.yml`` layout or as CSV.

YAML — the layout of the Apache-2.0 google-cloud-pricing-cost-calculator's ``pricing.yml``, which composes
the Cloud Billing Catalog's per-SKU prices into per-machine-type hourly prices::

    about: {generated: "Thu Mar  6 03:53:56 2025", timestamp: 1741233236, url: ...}
    compute:
      instance:
        a2-highgpu-1g:
          a100: 1                 # accelerator label → count (a100, a100-80gb, h100, l4, …)
          cpu: 12
          ram: 85                 # GB as GCP lists it
          cost:
            us-central1: {hour: 3.673385, hour_spot: 1.293355, month: …}

``about.timestamp`` (else ``about.generated``) dates every figure. Only machine types with an accelerator
are taken unless ``include_cpu`` is set (a CPU-only pod is priced from its requests).

The catalog's CPU rates (``cpu.vcpu_hour``, ``cpu.memory_gib_hour``: what a CPU-only pod's requests are
priced at) are *solved* from the table when it holds CPU-only ``n2-`` types of at least two vCPU:memory
ratios in us-central1: GCP prices a predefined N2 machine as vCPUs × a vCPU rate + GB × a memory rate, so
two shapes give both rates, and every other N2 row must then agree to the cent's ten-thousandth or nothing
is derived (the report says which). Only on-demand rates are taken: the catalog's CPU rates price CPU pods
of every provider, and a spot rate of one provider's family is not another's. The attached-GPU prices a
family's rows determine exactly (G2: the L4's) are solved the same way, in ``gcp_attached``.

CSV — one row per machine type and region, with a header::

    machine_type,region,vcpus,memory_gib,gpus,gpu_model,hour,hour_spot,date

``hour_spot`` may be empty (no spot price known); ``date`` is the date the prices were taken.
"""

from __future__ import annotations

import csv
import datetime
import io
from pathlib import Path
from typing import Any

import yaml

from policy_engine.model.gpu_models import normalise_gpu_model
from policy_engine.pricing.importers import gcp_attached
from policy_engine.pricing.importers.common import (
    Hardware,
    Imported,
    PriceRow,
    SourceInfo,
    fail,
    line_of,
    number,
    read_text,
    rounded,
)

#: Keys of a ``compute.instance`` entry that are not accelerators.
_NOT_ACCELERATORS = {"cpu", "ram", "cost", "local-ssd", "sud", "cud", "bandwidth", "network"}
#: The family and region the catalog's CPU rates are solved from (see the module docstring).
CPU_FAMILY, CPU_REGION = "n2-", "us-central1"
CSV_COLUMNS = ("machine_type", "region", "vcpus", "memory_gib", "gpus", "gpu_model", "hour", "hour_spot", "date")


def import_price_table(file: str, *, include_cpu: bool = False) -> Imported:
    text = read_text(file)
    if file.lower().endswith(".csv"):
        return _import_csv(file, text)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise fail(file, mark.line + 1 if mark else 1, f"not YAML: {exc.problem or exc.context}",
                   column=mark.column + 1 if mark else 1) from exc
    instances = (data.get("compute") or {}).get("instance") if isinstance(data, dict) else None
    if not isinstance(instances, dict):
        raise fail(file, 1, "not a pricing.yml machine-type table: no 'compute.instance' mapping",
                   hint="see docs/cost-model.md, 'GCP price table'; a CSV needs the .csv extension")
    date = _generated(data.get("about"), file, text)
    what = f"GCP machine-type price table {Path(file).name} (pricing.yml layout), generated {date}"
    out = Imported(file, "gcp price table", SourceInfo(f"gcp:{Path(file).name}", str(Path(file)), date,
                                                       notes=what))
    regions: set[str] = set()
    cpu_only: list[tuple[str, float, float, float]] = []
    accelerated: dict[str, list[gcp_attached.Row]] = {}
    with_ssd: set[str] = set()
    for name, entry in instances.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("cost"), dict):
            raise fail(file, line_of(text, f"{name}:"), f"compute.instance.{name} has no 'cost' mapping")
        vcpus, memory = number(entry.get("cpu")), number(entry.get("ram"))
        if not vcpus or not memory:
            raise fail(file, line_of(text, f"{name}:"), f"compute.instance.{name} needs cpu and ram figures")
        accelerators = {k: v for k, v in entry.items() if k not in _NOT_ACCELERATORS and number(v)}
        reference = entry["cost"].get(CPU_REGION)
        if not accelerators and str(name).startswith(CPU_FAMILY) and isinstance(reference, dict):
            hour = number(reference.get("hour"))
            if hour is not None:
                cpu_only.append((str(name), vcpus, memory, hour))
        if len(accelerators) > 1:
            out.skip("more than one accelerator kind on one machine type")
            continue
        gpus, model = 0.0, None
        if accelerators:
            label, count = next(iter(accelerators.items()))
            gpus, model = float(number(count) or 0), normalise_gpu_model(str(label)) or str(label)
            _attached_row(str(name), str(label), vcpus, memory, gpus, entry, accelerated, with_ssd)
        elif not include_cpu:
            out.skip("machine type without an accelerator (CPU pods are priced from their requests)")
            continue
        hardware = Hardware(vcpus, memory, gpus, model)
        for region, cost in entry["cost"].items():
            hour = number(cost.get("hour")) if isinstance(cost, dict) else None
            if hour is None:
                out.skip("region without an hourly price")
                continue
            spot = number(cost.get("hour_spot"))
            out.rows.append(PriceRow("gcp", str(name), str(region), what, date, on_demand=rounded(hour),
                                     spot=None if spot is None else rounded(spot), hardware=hardware))
            regions.add(str(region))
    out.source = SourceInfo(out.source.key, out.source.url, date, ",".join(sorted(regions)) or None, what)
    out.cpu = cpu_rates(cpu_only, f"{Path(file).name} (pricing.yml, generated {date})")
    out.attached, out.notes = gcp_attached.solve_attached(accelerated, f"{Path(file).name} (pricing.yml, "
                                                          f"generated {date})", date)
    out.notes.extend(f"attached_gpus[{gcp_attached.ATTACHED_LABELS[key][0]}] not derived: its machine types "
                     "bundle local SSD, whose price the table does not separate"
                     for key in sorted(with_ssd - set(accelerated)) if key in gcp_attached.ATTACHED_LABELS)
    return out


def _attached_row(name: str, label: str, vcpus: float, memory: float, gpus: float, entry: dict[str, Any],
                  accelerated: dict[str, list[gcp_attached.Row]], with_ssd: set[str]) -> None:
    """Keep a reference-region accelerator row for the attached-GPU solve (``gcp_attached``)."""
    if "local-ssd" in entry:
        with_ssd.add(label)
        return
    cost = entry["cost"].get(gcp_attached.REGION)
    hour = number(cost.get("hour")) if isinstance(cost, dict) else None
    if hour is not None and isinstance(cost, dict):
        accelerated.setdefault(label, []).append((name, vcpus, memory, gpus, hour, number(cost.get("hour_spot"))))


def cpu_rates(rows: list[tuple[str, float, float, float]], what: str) -> dict[str, Any] | None:
    """Per-vCPU and per-GB on-demand rates solved from (name, vCPUs, GB, hourly price) of one family, or None
    when the rows do not determine them (one shape only) or do not fit one pair of rates."""
    shapes = {round(memory / vcpus, 6) for _, vcpus, memory, _ in rows}
    if len(shapes) < 2:
        return None
    # least squares over every row (exact when GCP's composition holds, which the check below requires)
    vcpu_rate, memory_rate = (round(x, 6) for x in gcp_attached.fit_two([(v, m, p) for _, v, m, p in rows]))
    if any(abs(v * vcpu_rate + m * memory_rate - p) > 1e-4 for _, v, m, p in rows):
        return None
    names = ", ".join(sorted(n for n, _, _, _ in rows))
    return {"vcpu_hour": vcpu_rate, "memory_gib_hour": memory_rate,
            "source": f"GCP N2 on-demand rates in {CPU_REGION}, solved from {names} in {what}: "
                      f"vCPUs × {vcpu_rate:g} + GB × {memory_rate:g} gives each of them"}


def _generated(about: Any, file: str, text: str) -> str:
    if isinstance(about, dict):
        stamp = about.get("timestamp")
        if isinstance(stamp, int | float) and not isinstance(stamp, bool):
            return datetime.datetime.fromtimestamp(stamp, tz=datetime.UTC).date().isoformat()
        generated = about.get("generated")
        if isinstance(generated, str):
            try:
                when = datetime.datetime.strptime(" ".join(generated.split()), "%a %b %d %H:%M:%S %Y")
                return when.date().isoformat()
            except ValueError:
                pass
    raise fail(file, line_of(text, "about:"), "the price table has no about.timestamp or about.generated date",
               hint="the figures must be dated by the file they come from")


def _import_csv(file: str, text: str) -> Imported:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise fail(file, 1, f"the CSV header lacks {', '.join(missing)}",
                   hint="columns: " + ",".join(CSV_COLUMNS))
    out = Imported(file, "gcp price table", SourceInfo(f"gcp:{Path(file).name}", str(Path(file)), ""))
    dates: set[str] = set()
    regions: set[str] = set()
    for row in reader:
        line = reader.line_num
        values = {c: number(row.get(c)) for c in ("vcpus", "memory_gib", "gpus", "hour")}
        bad = [c for c, v in values.items() if v is None]
        if bad:
            raise fail(file, line, f"{', '.join(bad)} not a number")
        date = (row.get("date") or "").strip()
        try:
            datetime.date.fromisoformat(date)
        except ValueError as exc:
            raise fail(file, line, f"date {date!r} is not YYYY-MM-DD") from exc
        spot_text = (row.get("hour_spot") or "").strip()
        spot = number(spot_text) if spot_text else None
        if spot_text and spot is None:
            raise fail(file, line, f"hour_spot {spot_text!r} is not a number")
        gpus = float(values["gpus"] or 0)
        model = (row.get("gpu_model") or "").strip() or None
        hardware = Hardware(float(values["vcpus"] or 0), float(values["memory_gib"] or 0), gpus, model)
        out.rows.append(PriceRow("gcp", row["machine_type"].strip(), row["region"].strip(),
                                 f"GCP price table {Path(file).name}, line {line}", date,
                                 on_demand=rounded(float(values["hour"] or 0)),
                                 spot=None if spot is None else rounded(spot), hardware=hardware))
        dates.add(date)
        regions.add(row["region"].strip())
    newest = max(dates) if dates else ""
    out.source = SourceInfo(out.source.key, out.source.url, newest, ",".join(sorted(regions)) or None,
                            f"GCP machine-type price table {Path(file).name} (CSV)")
    return out
