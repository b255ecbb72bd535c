"""The showback report's numbers: spend per dimension, savings per rule family, the costliest workloads.

One pure function, ``build_report(result, catalog)``, turns an evaluated ``Result`` (kept workloads and
findings) into a ``ShowbackReport``; the HTML page (``html_report``) and ``report --format json`` both
render that one value, so the numbers a person reads under a chart are the numbers a script reads.

Savings are counted once per policy and workload (or quota group), the largest a policy reports, the same
way the per-policy summaries of ``check`` count them, then summed per rule family.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from policy_engine.engine.findings import Finding, ResourceRef, Result
from policy_engine.model.workload import Workload
from policy_engine.pricing.catalog import Catalog
from policy_engine.pricing.showback import GroupTotal, group_value, showback

#: The dimensions the report breaks spend down by, in page order: (title, showback key).
DIMENSIONS: tuple[tuple[str, str], ...] = (
    ("team", "team"), ("GPU model", "model"), ("namespace", "namespace"), ("environment", "environment"),
)
#: Rule families for savings: a finding's ``rule`` → the family it belongs to.
FAMILIES: dict[str, str] = {
    "spot": "spot", "instance_type": "allowlist", "gpu_model": "allowlist", "idle": "idle shutdown",
    "quota": "quota overage", "budget": "quota overage",
}
OTHER_FAMILY = "other rules"
TOP_WORKLOADS = 10


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a breakdown: a group's workloads, GPUs, GPU-hours and monthly spend."""

    label: str
    workloads: int
    gpus: float
    gpu_hours: float
    monthly: float
    unpriced: int

    @staticmethod
    def of(label: str, g: GroupTotal) -> Row:
        return Row(label, g.workloads, g.gpus, g.gpu_hours, g.monthly, g.unpriced)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "workloads": self.workloads, "gpus": round(self.gpus, 3),
                "gpu_hours_per_month": round(self.gpu_hours, 1), "monthly_cost": round(self.monthly, 2),
                "unpriced": self.unpriced}


@dataclass(frozen=True, slots=True)
class Breakdown:
    title: str
    key: str
    rows: tuple[Row, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "key": self.key, "rows": [r.to_dict() for r in self.rows]}


@dataclass(frozen=True, slots=True)
class Saving:
    family: str
    monthly: float
    findings: int

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "monthly_saving": round(self.monthly, 2), "findings": self.findings}


@dataclass(frozen=True, slots=True)
class WorkloadLine:
    """A workload with its spend, the saving its findings report, and the policies that flagged it."""

    ref: ResourceRef
    team: str
    monthly: float | None
    saving: float
    policies: tuple[str, ...]
    reason: str | None = None  # why it could not be priced

    def to_dict(self) -> dict[str, Any]:
        return {"workload": self.ref.display(), "file": self.ref.file, "line": self.ref.line,
                "team": self.team,
                "monthly_cost": None if self.monthly is None else round(self.monthly, 2),
                "monthly_saving": round(self.saving, 2), "policies": list(self.policies),
                "unpriced_reason": self.reason}


@dataclass(slots=True)
class ShowbackReport:
    currency: str
    catalog_as_of: str
    total: Row
    breakdowns: list[Breakdown] = field(default_factory=list)
    savings: list[Saving] = field(default_factory=list)
    top: list[WorkloadLine] = field(default_factory=list)
    by_saving: list[WorkloadLine] = field(default_factory=list)
    unpriced: list[WorkloadLine] = field(default_factory=list)

    @property
    def total_saving(self) -> float:
        return sum(s.monthly for s in self.savings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency, "catalog_as_of": self.catalog_as_of, "total": self.total.to_dict(),
            "total_monthly_saving": round(self.total_saving, 2),
            "breakdowns": [b.to_dict() for b in self.breakdowns],
            "savings_by_family": [s.to_dict() for s in self.savings],
            "top_workloads": [w.to_dict() for w in self.top],
            "workloads_by_saving": [w.to_dict() for w in self.by_saving],
            "unpriced": [w.to_dict() for w in self.unpriced],
        }


def build_report(result: Result, catalog: Catalog) -> ShowbackReport:
    """The report of an evaluation that kept its workloads (``evaluate(..., options=Options(workloads=True))``)."""
    workloads = result.workloads
    totals = showback(workloads, ["team"], catalog)
    report = ShowbackReport(catalog.currency, catalog.as_of, Row.of("total", totals.total))
    for title, key in DIMENSIONS:
        sb = totals if key == "team" else showback(workloads, [key], catalog)
        report.breakdowns.append(Breakdown(title, key, tuple(Row.of(g.key[0], g) for g in sb.groups)))
    per_workload, per_family = _savings(result.findings)
    report.savings = sorted(per_family.values(), key=lambda s: (-s.monthly, s.family))
    lines = [_line(w, group_value(w, "team", catalog), per_workload) for w in workloads]
    priced = [ln for ln in lines if ln.monthly is not None]
    report.top = sorted(priced, key=lambda ln: (-(ln.monthly or 0.0), ln.ref.display()))[:TOP_WORKLOADS]
    report.by_saving = sorted((ln for ln in lines if ln.saving > 0),
                              key=lambda ln: (-ln.saving, ln.ref.display()))[:TOP_WORKLOADS]
    report.unpriced = [ln for ln in lines if ln.monthly is None]
    return report


@dataclass(slots=True)
class _Flags:
    saving: float = 0.0
    policies: list[str] = field(default_factory=list)


def _savings(findings: Sequence[Finding]) -> tuple[dict[ResourceRef, _Flags], dict[str, Saving]]:
    """Savings per workload and per rule family, each (policy, workload-or-group) counted once."""
    best: dict[tuple[str, ResourceRef | str], tuple[float, str]] = {}
    per_workload: dict[ResourceRef, _Flags] = {}
    counts: dict[str, int] = {}
    for f in findings:
        family = FAMILIES.get(f.rule, OTHER_FAMILY)
        counts[family] = counts.get(family, 0) + 1
        flags = per_workload.setdefault(f.resource, _Flags())
        if f.policy not in flags.policies:
            flags.policies.append(f.policy)
        if f.saving:
            key: tuple[str, ResourceRef | str] = (f.policy, f.group or f.resource)
            if f.saving > best.get(key, (0.0, family))[0]:
                best[key] = (f.saving, family)
    amounts: dict[str, float] = {}
    for (_, subject), (value, family) in best.items():
        amounts[family] = amounts.get(family, 0.0) + value
        if isinstance(subject, ResourceRef):
            per_workload.setdefault(subject, _Flags()).saving += value
    families = {name: Saving(name, amounts.get(name, 0.0), n) for name, n in counts.items()}
    return per_workload, families


def _line(w: Workload, team: str, flags: dict[ResourceRef, _Flags]) -> WorkloadLine:
    ref = ResourceRef.of(w)
    f = flags.get(ref, _Flags())
    cost = w.cost
    priced = cost is not None and cost.priced and cost.monthly is not None
    reason = None if priced else (cost.unpriced_reason if cost is not None and cost.unpriced_reason
                                  else "not priced")
    return WorkloadLine(ref, team, cost.monthly if priced and cost is not None else None, f.saving,
                        tuple(f.policies), reason)
