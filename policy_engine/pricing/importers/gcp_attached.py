"""GCP attached-GPU prices (``attached_gpus``) solved exactly from a pricing.yml table's accelerator rows.

The pricing.yml build composes each accelerator machine type from the Cloud Billing SKUs: vCPUs × the
family's core price + GB × its RAM price + GPUs × the GPU's price. It publishes no GPU price on its own, but a
family whose machine types all have one memory:vCPU ratio (G2: 4 GB per vCPU) reduces that to
``price = vCPUs × u + GPUs × g``, and two shapes with different GPU:vCPU ratios (g2-standard-4 and -8: one L4
each) determine the GPU price ``g`` — the GPU SKU's price, i.e. what ``attached_gpus`` holds. Every other row of
the family must then agree to a millionth of a dollar, or nothing is derived (the report says which). A
family whose memory:vCPU ratio varies (A2: high- and mega-GPU shapes) leaves three unknowns with too few
independent rows; one whose types bundle local SSD (A2 ultra, A3) mixes in the disk's price: neither is
solved. On-demand from ``hour``, spot from ``hour_spot``, both from one region (the catalog's reference region
for GCP), dated by the table.
"""

from __future__ import annotations

from typing import Any

from policy_engine.pricing.importers.common import DEFAULT_REGIONS, rounded

#: pricing.yml accelerator key → the GKE accelerator label (the ``attached_gpus`` key) and the catalog model.
ATTACHED_LABELS = {
    "l4": ("nvidia-l4", "L4"),
    "a100": ("nvidia-tesla-a100", "A100"),
    "a100-80gb": ("nvidia-a100-80gb", "A100-80GB"),
    "h100-80gb": ("nvidia-h100-80gb", "H100"),
    "h100-80gb-mega": ("nvidia-h100-mega-80gb", "H100"),
}
REGION = DEFAULT_REGIONS["gcp"]
#: A derived price must reproduce every row of its family to this many dollars.
TOLERANCE = 1e-6

#: (machine type, vCPUs, GB, GPUs, hourly on-demand, hourly spot or None), the reference region's row.
Row = tuple[str, float, float, float, float, float | None]


def solve_attached(rows_by_key: dict[str, list[Row]], what: str, date: str) -> tuple[dict[str, Any], list[str]]:
    """``attached_gpus`` entries for the accelerator keys the rows determine, and a note per key they do not."""
    entries: dict[str, Any] = {}
    notes: list[str] = []
    for key, rows in sorted(rows_by_key.items()):
        if key not in ATTACHED_LABELS:
            continue
        label, model = ATTACHED_LABELS[key]
        on_demand = _solve([(r[1], r[2], r[3], r[4]) for r in rows])
        if isinstance(on_demand, str):
            notes.append(f"attached_gpus[{label}] not derived from {what}: {on_demand}")
            continue
        spot_rows = [(r[1], r[2], r[3], r[5]) for r in rows if r[5] is not None]
        spot = _solve(spot_rows) if len(spot_rows) == len(rows) else "not every row has a spot price"
        names = ", ".join(sorted(r[0] for r in rows))
        source = (f"the {model} GPU's price per GPU-hour, solved from {names} in {REGION} in {what}: each is "
                  f"vCPUs × {on_demand[0]} (a vCPU with its memory) + GPUs × {on_demand[1]}")
        entry: dict[str, Any] = {"provider": "gcp", "region": REGION, "gpu_model": model,
                                 "on_demand": on_demand[1]}
        if isinstance(spot, tuple):
            entry["spot"] = spot[1]
            source += f"; spot: vCPUs × {spot[0]} + GPUs × {spot[1]} (hour_spot)"
        else:
            notes.append(f"attached_gpus[{label}] spot not derived from {what}: {spot}")
        entry["source"] = source
        entry["date"] = date
        entries[label] = entry
    return entries, notes


def _solve(rows: list[tuple[float, float, float, float]]) -> tuple[float, float] | str:
    """(price per vCPU with its memory, price per GPU) fitting every row exactly, or why there is none."""
    if any(memory / vcpus != rows[0][1] / rows[0][0] for vcpus, memory, _, _ in rows):
        return "its machine types' memory per vCPU differs (vCPU, memory and GPU prices cannot be separated)"
    if len({gpus / vcpus for vcpus, _, gpus, _ in rows}) < 2:
        return "every machine type has the same GPUs per vCPU (the GPU's share cannot be separated)"
    per_vcpu, per_gpu = (rounded(x) for x in fit_two([(v, g, p) for v, _, g, p in rows]))
    worst = max(abs(v * per_vcpu + g * per_gpu - p) for v, _, g, p in rows)
    if worst > TOLERANCE:
        return f"no single vCPU and GPU price fits every machine type (off by up to ${worst:.6f})"
    return per_vcpu, per_gpu


def fit_two(rows: list[tuple[float, float, float]]) -> tuple[float, float]:
    """Least-squares ``(a, b)`` of ``price = x × a + y × b`` over ``(x, y, price)`` rows (exact when they fit one
    pair, which the callers then check row by row); the rows must not all have one x:y ratio."""
    sxx = sum(x * x for x, _, _ in rows)
    sxy = sum(x * y for x, y, _ in rows)
    syy = sum(y * y for _, y, _ in rows)
    sxp = sum(x * p for x, _, p in rows)
    syp = sum(y * p for _, y, p in rows)
    det = sxx * syy - sxy * sxy
    return (sxp * syy - syp * sxy) / det, (syp * sxx - sxp * sxy) / det
