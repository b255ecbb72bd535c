"""``policy-engine explain``: why one policy decided what it did for each workload of a manifest.

For every workload: the clause that decided (with its policy file:line), each value a clause read and
where in the manifest it came from, the cost arithmetic behind ``monthly_cost``, and, for quotas and
budgets, the workload's share of its group and the group's decision over the whole manifest.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policy_engine.authoring.facts import at
from policy_engine.authoring.trace import PolicyTracer, Trace
from policy_engine.bundled import bundled_policies_dir
from policy_engine.compiler import compile_policies
from policy_engine.compiler.messages import render_value
from policy_engine.diagnostics import Diagnostic
from policy_engine.engine import Engine
from policy_engine.engine.aggregate import contribution
from policy_engine.errors import DiagnosticError, PolicyEngineError, WorkloadError
from policy_engine.model.dimensions import Dimension
from policy_engine.model.documents import Document, LoadError, load_paths
from policy_engine.model.workload import Workload
from policy_engine.pricing.catalog import load_catalog


@dataclass(slots=True)
class WorkloadExplanation:
    resource: str
    location: str
    trace: Trace | None  # None: the document is not a workload
    cost: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "location": self.location, "note": self.note or None,
                "trace": self.trace.to_dict() if self.trace else None, "cost": self.cost, "groups": self.groups}


@dataclass(slots=True)
class Explanation:
    policy: str
    workloads: list[WorkloadExplanation] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    group_findings: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return all(w.trace.agrees for w in self.workloads if w.trace is not None)

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "workloads": [w.to_dict() for w in self.workloads],
                "group_findings": self.group_findings, "errors": [e.to_dict() for e in self.errors],
                "agrees_with_compiled": self.agrees}


def _shown(path: Path) -> str:
    """The bundled library's path relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _cost_lines(w: Workload, team: Dimension) -> list[str]:
    run = w.run_time
    where = f" ({at(w, run.provenance.path, run.provenance.note)})" if run.provenance else ""
    lines = [f"team: {team.display(w.labels)} (labels {', '.join(team.keys)}, the first set; as check and cost "
             f"report it)", f"run time: {run.kind.value}: {run.reason}{where}"]
    cost = w.cost
    if cost is None or not cost.priced:
        lines.append(f"monthly_cost = null: {cost.unpriced_reason if cost else 'not priced'}")
        return lines
    lines.extend(cost.breakdown)
    lines.append(f"hourly_cost = {render_value(cost.hourly, 'money')}; monthly_cost = "
                 f"{render_value(cost.monthly, 'money')}")
    if cost.spot_monthly is not None and cost.on_demand_monthly is not None:
        lines.append(f"on-demand {render_value(cost.on_demand_monthly, 'money')}/month; spot "
                     f"{render_value(cost.spot_monthly, 'money')}/month")
    return lines



class UnknownPolicy(PolicyEngineError):
    """``--policy NAME`` names no policy of the compiled set (an argument error, not a located one)."""

    code = "E903"

    def __init__(self, name: str, known: list[str]) -> None:
        close = difflib.get_close_matches(name, known, n=1)
        guess = f" (did you mean {close[0]}?)" if close else ""
        super().__init__(f"no policy {name}{guess}; known: {', '.join(known) or 'none'}")
        self.name, self.known = name, known


def explain(manifests: Sequence[str], policy: str, policy_paths: Sequence[str] | None = None,
            pricing: str | None = None) -> Explanation:
    """Trace ``policy`` over every workload of ``manifests``. Raises ``DiagnosticError`` when the policies or
    the pricing file do not load, or when no policy has that name."""
    catalog = load_catalog(pricing)
    paths = list(policy_paths) if policy_paths else [_shown(bundled_policies_dir())]
    compiled = compile_policies(paths, catalog=catalog)
    if compiled.policy_set is None:
        raise DiagnosticError(compiled.diagnostics, compiled.sources)
    checked = next((c for c in compiled.checked if c.instance.name == policy), None)
    full = compiled.policy_set.get(policy)
    if checked is None or full is None:
        raise UnknownPolicy(policy, sorted(p.name for p in compiled.policy_set.policies))
    engine = Engine(compiled.policy_set, catalog)
    tracer = PolicyTracer(checked, full, catalog)
    out = Explanation(policy)
    documents: list[Document] = []
    for item in load_paths(list(manifests)):
        if isinstance(item, LoadError):
            out.errors.append(item.diagnostic)
            continue
        documents.append(item)
        out.workloads.append(_one(item, engine, tracer, out))
    if full.aggregates and documents:
        result = engine.evaluate(documents)
        out.group_findings = [f"{f.group}: [{f.enforcement.value}] {f.message}" for f in result.findings
                              if f.policy == policy and f.group is not None]
    return out


def _one(doc: Document, engine: Engine, tracer: PolicyTracer, out: Explanation) -> WorkloadExplanation:
    location = f"{doc.file}:{doc.line}"
    name = (doc.obj.get("metadata") or {}).get("name") if isinstance(doc.obj.get("metadata"), dict) else None
    try:
        w = engine.subject(doc)
    except WorkloadError as exc:
        out.errors.append(exc.diagnostic)
        return WorkloadExplanation(f"{doc.kind} {name}", location, None, note="not read: see the error")
    if w is None:
        return WorkloadExplanation(f"{doc.kind} {name}", location, None, note="not a workload: nothing to explain")
    explained = WorkloadExplanation(w.ref(), location, tracer.trace(w),
                                    _cost_lines(w, engine.catalog.assumptions.dimensions().team))
    full = tracer.full
    if explained.trace is not None and explained.trace.verdict != "skip":
        for index, rule in enumerate(full.aggregates):
            c = contribution(full, index, rule, w, float(getattr(engine.catalog, "hours_per_month", 730.0)))
            if c is None:
                explained.groups.append(f"{rule.kind}: {rule.key_label} is not set: not counted in any group")
                continue
            limit = rule.limit_for(c.key)
            unit = "money" if rule.metric == "cost" else ""
            amount = (render_value(c.amount, unit) if unit else f"{c.amount:,.0f}") if c.amount is not None \
                else "unpriced (not counted)"
            suffix = " GPU-hours" if rule.metric == "gpu_hours" and c.amount is not None else ""
            shown_limit = "no limit" if limit is None else render_value(limit, unit) if unit else f"{limit:,.0f}"
            explained.groups.append(
                f"{rule.kind}: group {rule.key_label}={c.key} gets {amount}{suffix} per {rule.period.value} from "
                f"this workload ({'counted for the whole period: no run-time bound' if c.unbounded else 'projected'})"
                f"; limit {shown_limit}{suffix if limit is not None else ''}")
    return explained


# ---- text -------------------------------------------------------------------------------------------------


def render_text(explanation: Explanation) -> str:
    out: list[str] = []
    for item in explanation.workloads:
        out.append(f"{item.resource} ({item.location})")
        trace = item.trace
        if trace is None:
            out.append(f"  {item.note}")
            out.append("")
            continue
        out.append(f"  policy {trace.policy} ({trace.policy_location}): {trace.verdict.upper()}: {trace.decided_by}")
        for step in trace.steps:
            out.append(f"  {step.clause:<7} {step.text}")
            out.append(f"          at {step.location}: {step.outcome}")
            out.extend(f"          · {f.describe()}" for f in step.facts)
            out.extend(f"          · {n}" for n in step.notes)
            out.extend(f"          ✗ {v}" for v in step.violations)
        if item.cost:
            out.append("  cost")
            out.extend(f"          {line}" for line in item.cost)
        for group in item.groups:
            out.append(f"  group   {group}")
        if not trace.agrees:
            out.append(f"  WARNING: the compiled policy decided {trace.compiled}; this trace disagrees (a bug: "
                       "please report it)")
        out.append("")
    if explanation.group_findings:
        out.append("groups over every workload of the manifests:")
        out.extend(f"  {g}" for g in explanation.group_findings)
        out.append("")
    if not explanation.workloads:
        out.append("no documents found")
    return "\n".join(out).rstrip("\n") + "\n"

