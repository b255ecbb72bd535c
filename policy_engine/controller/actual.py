"""Actual next to projected in the PolicyReports: each audited workload's spend this period.

From the usage ledger the leader writes (docs/usage.md), per workload: what its pods cost so far this
month (``actualCost``, ``actualGpuHours``), what they will have cost by the month's end at the current rate
(``forecastCost``), and, with DCGM utilisation, that cost split into ``actualUsedCost`` (cost × mean GPU
utilisation) and ``actualIdleCost`` (the rest, paid for and not used; pods without a series are
``actualUnmeasuredCost``; the month's mean is queried at most every ``UTILISATION_TTL``); beside it
``projectedMonthlyCost``, what the manifest projects for a month. They are added to the properties of
every result about the workload, so Policy Reporter and ``kubectl get policyreport -o yaml`` show actual
and projected side by side.

The ledger records a pod's owning controller (a ReplicaSet reads as its Deployment); the audited resource
is the top-level workload, found through the inventory as the pods' own owner chain is
(``Inventory.owner_of``): a Deployment an InferenceService controls reports under the InferenceService.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from policy_engine.compiler.program import Period
from policy_engine.controller.inventory import Entry, Inventory
from policy_engine.engine.aggregate import period_bounds
from policy_engine.engine.findings import ResourceRef
from policy_engine.ledger.report import Split, WorkloadActual, workload_actuals
from policy_engine.ledger.snapshot import LedgerHistory
from policy_engine.ledger.store import Figures, Ledger
from policy_engine.model.workload import Workload

PERIOD = Period.MONTH
UTILISATION_TTL = 900.0  # seconds the month's mean GPU utilisation is reused before it is queried again
Key = tuple[str, str, str]  # (kind, namespace, name) of a report result's resource


def _owner_source(namespace: str, workload: str) -> dict[str, Any]:
    """A pod owned by the ledger's ``Kind/name``, for the inventory to follow up to the top-level workload."""
    kind, _, name = workload.partition("/")
    meta: dict[str, Any] = {"namespace": namespace, "name": name}
    if kind != "Pod":
        meta["ownerReferences"] = [{"kind": kind, "name": name, "controller": True}]
    return {"metadata": meta}


def _add(a: WorkloadActual, b: WorkloadActual) -> WorkloadActual:
    f, g = a.figures, b.figures
    figures = Figures(f.key, f.pods + g.pods, f.gpu_hours + g.gpu_hours, f.gpu_hours_running + g.gpu_hours_running,
                      f.cost + g.cost, f.cost_running + g.cost_running, f.unpriced + g.unpriced,
                      f.gpu_rate + g.gpu_rate, f.cost_rate + g.cost_rate)
    s: Split | None = a.split or b.split
    if a.split is not None and b.split is not None:
        s = Split(a.split.used + b.split.used, a.split.idle + b.split.idle, a.split.unmeasured + b.split.unmeasured)
    return WorkloadActual(figures, s)


def by_workload(actuals: Mapping[tuple[str, str], WorkloadActual], inventory: Inventory,
                entries: Mapping[ResourceRef, Entry]) -> dict[ResourceRef, WorkloadActual]:
    """The ledger's figures per audited (top-level) workload; owners the inventory no longer has are left out."""
    refs = {id(e): ref for ref, e in entries.items()}
    out: dict[ResourceRef, WorkloadActual] = {}
    for (namespace, workload), actual in actuals.items():
        top = inventory.owner_of(_owner_source(namespace, workload))
        ref = refs.get(id(top)) if top is not None else None
        if ref is not None:
            out[ref] = _add(out[ref], actual) if ref in out else actual
    return out


def properties(actual: WorkloadActual, workload: Workload | None, start: datetime) -> dict[str, str]:
    f, s = actual.figures, actual.split
    props = {"actualPeriodStart": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "actualCost": f"{f.cost:.2f}",
             "actualGpuHours": f"{f.gpu_hours:.2f}", "forecastCost": f"{f.cost + f.cost_running:.2f}"}
    if f.unpriced:
        props["actualUnpricedPods"] = str(f.unpriced)
    if s is not None:
        props |= {"actualUsedCost": f"{s.used:.2f}", "actualIdleCost": f"{s.idle:.2f}",
                  "actualUnmeasuredCost": f"{s.unmeasured:.2f}"}
    cost = workload.cost if workload is not None else None
    if cost is not None and cost.priced and cost.monthly is not None:
        props["projectedMonthlyCost"] = f"{cost.monthly:.2f}"
    return props


def report_properties(ledger: Ledger, inventory: Inventory, entries: Mapping[ResourceRef, Entry],
                      workloads: Mapping[ResourceRef, Workload], now: datetime,
                      utilisation: Mapping[tuple[str, str], float] | None = None) -> dict[Key, dict[str, str]]:
    """What ``reports.build`` adds to the properties of the results about each workload with pods in the ledger."""
    start, _ = period_bounds(PERIOD, now)
    actuals = workload_actuals(LedgerHistory(ledger), PERIOD, now, utilisation)
    return {(ref.kind, ref.namespace or "", ref.name): properties(actual, workloads.get(ref), start)
            for ref, actual in by_workload(actuals, inventory, entries).items()}
