"""``policy-engine inspect``'s reports: every workload the engine sees, as JSON objects or a table."""

from __future__ import annotations

from typing import Any

from policy_engine.model.workload import Workload
from policy_engine.pricing.catalog import Catalog
from policy_engine.pricing.cost import gpu_model_of
from policy_engine.wording import count


def _num(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(value, 6)


def workload_json(w: Workload, catalog: Catalog) -> dict[str, Any]:
    """``gpu_model`` is the model pricing uses (the role's own, else its instance type's), as in ``cost``;
    ``team`` is the one team dimension (model/dimensions.py), as in ``check`` and ``cost``."""
    cost = w.cost
    return {
        "kind": w.kind,
        "api_version": w.api_version,
        "name": w.name,
        "namespace": w.namespace,
        "file": w.file,
        "line": w.line,
        "roles": [
            {
                "name": r.name,
                "replicas": r.replicas,
                "min_replicas": r.min_replicas,
                "max_replicas": r.max_replicas,
                "gpus_per_pod": _num(r.gpus_per_pod),
                "gpu_resource": r.gpu_resource,
                "gpu_model": gpu_model_of(r, catalog),
                "instance_type": r.instance_type,
                "instance_type_candidates": list(r.instance_type_candidates),
                "capacity_type": r.capacity_type.value,
            }
            for r in w.roles
        ],
        "labels": w.labels,
        "team": catalog.assumptions.dimensions().team.display(w.labels),
        "gpus": _num(w.gpus),
        "gpu_hours_per_month": _num(w.gpu_hours_per_month),
        "run_time": {
            "kind": w.run_time.kind.value,
            "hours_per_run": _num(w.run_time.hours_per_run),
            "runs_per_month": _num(w.run_time.runs_per_month),
            "reason": w.run_time.reason,
        },
        "idle_timeout_seconds": _num(w.idle_timeout_seconds),
        "hourly_cost": _num(cost.hourly) if cost else None,
        "monthly_cost": _num(cost.monthly) if cost else None,
        "priced": bool(cost and cost.priced),
        "unpriced_reason": (cost.unpriced_reason if cost else "not priced"),
    }


_HEADERS = ("KIND/NAME", "ROLES", "GPUS", "MODEL", "INSTANCE", "CAPACITY", "TEAM", "$/MONTH")


def render_table(workloads: list[Workload], catalog: Catalog) -> str:
    rows = [_HEADERS] + [_row(w, catalog) for w in workloads]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADERS))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    total_gpus = sum(w.gpus for w in workloads)
    lines.append(f"{count(len(workloads), 'workload')}, {count(float(total_gpus), 'GPU')}")
    for w in workloads:
        if w.cost is not None and not w.cost.priced and w.cost.unpriced_reason:
            lines.append(f"  unpriced {w.ref()}: {w.cost.unpriced_reason}")
    return "\n".join(lines)


def template_json(t: Workload) -> dict[str, Any]:
    """A runtime or serving config read as the pods it would give (``model/training_runtimes.py``)."""
    return {"kind": t.kind, "api_version": t.api_version, "name": t.name, "namespace": t.namespace,
            "file": t.file, "line": t.line,
            "roles": [{"name": r.name, "gpus_per_pod": _num(r.gpus_per_pod), "gpu_resource": r.gpu_resource,
                       "instance_type": r.instance_type, "replicas": r.replicas} for r in t.roles],
            "gpus_per_instance": _num(t.gpus)}


def render_templates(templates: list[Workload]) -> str:
    lines = ["templates (run nothing themselves; what each instance would hold):"]
    for t in templates:
        roles = ", ".join(f"{r.name}: {r.gpus_per_pod:g} GPU(s) per pod" for r in t.roles)
        lines.append(f"  {t.kind}/{t.name} ({t.file}:{t.line}): {roles}")
    return "\n".join(lines)


def _row(w: Workload, catalog: Catalog) -> tuple[str, ...]:
    ns = f"{w.namespace}/" if w.namespace else ""
    roles = ", ".join(f"{r.replicas} {r.name}" for r in w.roles)
    models = sorted({m for r in w.roles if r.gpus_per_pod > 0 and (m := gpu_model_of(r, catalog))})
    instances = sorted({r.instance_type for r in w.roles if r.instance_type})
    capacities = sorted({r.capacity_type.value for r in w.roles})
    cost = w.cost
    money = "unpriced"
    if cost is not None and cost.priced and cost.monthly is not None:
        money = f"{cost.monthly:,.2f}"
    return (
        f"{w.kind}/{ns}{w.name}",
        roles,
        f"{w.gpus:g}",
        ",".join(models) or "-",
        ",".join(instances) or "-",
        ",".join(capacities),
        catalog.assumptions.dimensions().team.display(w.labels),
        money,
    )
