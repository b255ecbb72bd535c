"""One audit: every live workload through the same compiled policies as ``check`` and the webhook.

Inputs are the inventory's objects (``Inventory.top_level``), the engine, and (optionally) one cycle's
GPU telemetry; the output is an ``Audit``: the engine's ``Result`` (findings and the (policy, resource)
pairs evaluated, for pass results), skips with their reason (exempted, or "no data" for an idle rule),
the idle judgements, and the money: projected spend and savings by team and GPU model, and idle waste.

Each object's workload is built once per version of the object (and of the namespace labels it inherits),
and kept on its inventory entry, so a cycle over an unchanged cluster re-evaluates policies only.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from policy_engine.cluster.pods import CLUSTER_FILE, PodRecord
from policy_engine.compiler.program import CompiledPolicy, LiveIdleRule
from policy_engine.controller.actions import IDLE_SINCE, annotations_of, parse_stamp
from policy_engine.controller.idle import IDLE, NO_DATA, Judgement, judge
from policy_engine.controller.inventory import Entry, Inventory
from policy_engine.controller.telemetry import Telemetry
from policy_engine.engine import Engine
from policy_engine.engine.exemptions import DEFAULT_MAX_DAYS, ExemptionRule
from policy_engine.engine.findings import Finding, ResourceRef, Result
from policy_engine.model.build import WorkloadError
from policy_engine.model.dimensions import DEFAULT_DIMENSIONS, UNTAGGED
from policy_engine.model.documents import Document
from policy_engine.model.inherit import inherit_labels
from policy_engine.model.workload import Workload
from policy_engine.pricing.showback import group_value
from policy_engine.webhook.exemptions import Globs

if TYPE_CHECKING:
    from policy_engine.controller.settings import ControllerSettings

LOG = logging.getLogger("policy_engine.controller")
HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Skip:
    """A (policy, resource) pair not judged this cycle, and why (PolicyReport result ``skip``)."""

    policy: str
    rule: str
    resource: ResourceRef
    message: str
    severity: str


@dataclass(slots=True)
class IdleCase:
    """A workload an idle rule applies to, and what the telemetry says about it."""

    entry: Entry
    workload: Workload
    policy: CompiledPolicy
    rule: LiveIdleRule
    judgement: Judgement
    pods: list[PodRecord]
    team: str
    hourly: float | None  # what its running GPU pods cost per hour, priced on their nodes
    idle_hours: float = 0.0

    @property
    def waste(self) -> float | None:
        """Money spent on idle GPUs so far: hourly price × idle hours."""
        return None if self.hourly is None else self.hourly * self.idle_hours


@dataclass(slots=True)
class Audit:
    result: Result
    skips: list[Skip] = field(default_factory=list)
    idle: list[IdleCase] = field(default_factory=list)
    spend: dict[tuple[str, str], float] = field(default_factory=dict)  # (team, model) -> projected monthly
    savings: dict[tuple[str, str], float] = field(default_factory=dict)  # (team, model) -> monthly saving
    waste: dict[str, float] = field(default_factory=dict)  # team -> idle GPU money so far
    errors: list[str] = field(default_factory=list)  # objects the model could not read
    telemetry: Telemetry | None = None
    seconds: float = 0.0
    entries: dict[ResourceRef, Entry] = field(default_factory=dict)


def build(engine: Engine, entries: Iterable[Entry], namespace_labels: Callable[[str], dict[str, str] | None],
          inherit_keys: Sequence[str], exempt: Globs, errors: list[str],
          authoritative: Sequence[str] = ()) -> list[tuple[Entry, Workload]]:
    """The priced workload of every entry outside exempt namespaces, with its namespace's labels applied by
    the one inheritance rule (``model/inherit.py``); cached on the entry per version of the object, of the
    engine and of the namespace labels it inherits."""
    out = []
    labels_of: dict[str, tuple[dict[str, str] | None, tuple[tuple[str, str], ...]]] = {}
    for e in entries:
        ns = e.namespace
        if ns and exempt.match(ns):
            continue
        if ns not in labels_of:
            labels = namespace_labels(ns) if ns else None
            labels_of[ns] = (labels, tuple(sorted((k, v) for k, v in (labels or {}).items() if k in inherit_keys)))
        labels, relevant = labels_of[ns]
        key = (e.obj.get("metadata", {}).get("resourceVersion"), id(engine), relevant)
        if e.built is not None and e.built[0] == key:
            w = e.built[1]
        else:
            try:
                w = engine.workload(Document(e.obj, CLUSTER_FILE, 1))
                if w is not None:
                    inherit_labels(w, labels, inherit_keys, authoritative)
            except WorkloadError as exc:
                errors.append(f"{e.resource.kind} {ns}/{e.name}: {exc.diagnostic.message}")
                w = None
            e.built = (key, w)
        if w is not None:
            out.append((e, w))
    return out


def run(engine: Engine, inventory: Inventory, *, now: datetime | None = None, inherit_keys: Sequence[str],
        exempt_namespaces: Sequence[str], require_expiry: bool = True,
        exemption_max_days: int = DEFAULT_MAX_DAYS, authoritative: Sequence[str] = (),
        telemetry: Callable[[float], Telemetry] | None = None, stale_seconds: float = 300.0) -> Audit:
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    errors: list[str] = []
    store = inventory.state.store
    built = build(engine, inventory.top_level(), store.namespace_labels, inherit_keys, Globs(exempt_namespaces),
                  errors, authoritative)
    workloads = [w for _, w in built]
    result = engine.evaluate(workloads, usage=inventory.state if inventory.state.synced else None)
    result.workloads = workloads  # for the reporters' cost tables (a reference, not a copy)
    audit = Audit(result, errors=errors)
    audit.entries = {ResourceRef.of(w): e for e, w in built}
    _exemptions(audit, engine, built, ExemptionRule(now.date(), exemption_max_days, require_expiry))
    _money(audit, engine, built)
    cases = _idle_cases(engine, inventory, built)
    if cases:
        # a stop rule looks back over its notice period too, to see the GPUs stayed idle since the notice
        window = max(c.rule.for_seconds + (c.rule.notice_seconds if c.rule.action == "stop" else 0.0) for c in cases)
        tel = telemetry(window) if telemetry is not None else Telemetry(0, 0, 60, error="telemetry not queried")
        audit.telemetry = tel
        for c in cases:
            c.judgement = judge(c.pods, tel, c.rule, now.timestamp(), stale_seconds)
            _idle_finding(audit, c, now)
        audit.idle = cases
    audit.seconds = time.perf_counter() - started
    return audit


def run_as_set(engine: Engine, inventory: Inventory, settings: ControllerSettings, *, now: datetime,
               telemetry: Callable[[float], Telemetry] | None) -> Audit:
    """``run`` as the settings ask: the controller's cycle and ``policy-engine audit`` alike."""
    return run(engine, inventory, now=now, inherit_keys=settings.inherit_labels,
               authoritative=settings.authoritative_labels, exempt_namespaces=settings.exempt_namespaces,
               require_expiry=settings.require_exemption_expiry, exemption_max_days=settings.exemption_max_days,
               telemetry=telemetry, stale_seconds=settings.prometheus.stale_seconds)


def team_of(w: Workload) -> str:
    """The one definition of team (``model/dimensions.py``), untagged spend under its one name."""
    return DEFAULT_DIMENSIONS.team.display(w.labels)


def _exemptions(audit: Audit, engine: Engine, built: list[tuple[Entry, Workload]], rule: ExemptionRule) -> None:
    """Findings the one exemption rule lifts (read on what the pods carry, as at admission) become skips."""
    annotations = {ResourceRef.of(w): w.annotations for _, w in built}
    kept: list[Finding] = []
    for f in audit.result.findings:
        decided = rule.sort([f], annotations.get(f.resource, {}), engine.policies.get)
        if decided.lifted:
            note = decided.notes[f.policy]
            audit.skips.append(Skip(f.policy, f.rule, f.resource, f"{f.message} ({note})", f.severity.value))
        else:
            kept.append(f)
    audit.result.findings = kept


def _money(audit: Audit, engine: Engine, built: list[tuple[Entry, Workload]]) -> None:
    catalog = engine.catalog
    by_ref: dict[ResourceRef, tuple[str, str]] = {}
    for _, w in built:
        key = (team_of(w), group_value(w, "model", catalog))
        by_ref[ResourceRef.of(w)] = key
        if w.cost is not None and w.cost.priced and w.cost.monthly is not None:
            audit.spend[key] = audit.spend.get(key, 0.0) + w.cost.monthly
    best: dict[tuple[str, ResourceRef], float] = {}
    for f in audit.result.findings:
        if f.saving and f.group is None:
            k = (f.policy, f.resource)
            best[k] = max(best.get(k, 0.0), f.saving)
    for (_, ref), saving in best.items():
        key = by_ref.get(ref, (UNTAGGED, UNTAGGED))
        audit.savings[key] = audit.savings.get(key, 0.0) + saving


def pods_by_workload(inventory: Inventory) -> dict[tuple[str, str, str], list[PodRecord]]:
    """Running GPU pods (the cache's records) grouped by the top-level workload that owns each."""
    out: dict[tuple[str, str, str], list[PodRecord]] = defaultdict(list)
    for record in inventory.state.store.records():
        if not record.running:
            continue
        owner = inventory.owner_of(record.source)
        if owner is not None:
            out[owner.key].append(record)
    return out


def _idle_cases(engine: Engine, inventory: Inventory, built: list[tuple[Entry, Workload]]) -> list[IdleCase]:
    live = [p for p in engine.policies.policies if p.live_idle]
    if not live:
        return []
    kinds_with_rules = {k for p in live for k in (p.kinds or ())} if all(p.kinds for p in live) else None
    pods: dict[tuple[str, str, str], list[PodRecord]] | None = None
    cases = []
    for e, w in built:
        if kinds_with_rules is not None and w.kind not in kinds_with_rules:
            continue
        for policy in live:
            if (policy.kinds is not None and w.kind not in policy.kinds) or not _applies(policy, w):
                continue
            if pods is None:
                pods = pods_by_workload(inventory)
            mine = pods.get(e.key, [])
            priced = [p.hourly for p in mine if p.running]
            hourly = sum(h for h in priced if h is not None) if priced and None not in priced else (
                w.cost.hourly if w.cost is not None and w.cost.priced else None)
            for rule in policy.live_idle:
                cases.append(IdleCase(e, w, policy, rule, Judgement(NO_DATA, "not judged"), mine,
                                      team_of(w), hourly))
    return cases


def _applies(policy: CompiledPolicy, w: Workload) -> bool:
    try:
        return bool(policy.applies(w))
    except Exception:  # a broken match is reported by the evaluation already
        return False


def _idle_finding(audit: Audit, c: IdleCase, now: datetime) -> None:
    ref = ResourceRef.of(c.workload)
    j = c.judgement
    if j.state == NO_DATA:
        audit.skips.append(Skip(c.policy.name, "idle", ref, f"not judged idle: {j.reason}", c.policy.severity.value))
        return
    if j.state != IDLE:
        return
    since = j.idle_since or now.timestamp()
    noted = parse_stamp(annotations_of(c.entry.obj).get(IDLE_SINCE))
    if noted is not None:
        since = min(since, noted.timestamp())
    c.idle_hours = max(now.timestamp() - since, 0.0) / HOUR
    waste = c.waste
    if waste is not None:
        audit.waste[c.team] = audit.waste.get(c.team, 0.0) + waste
    cost = c.workload.cost
    monthly = cost.monthly if cost is not None and cost.priced else None
    money = f"; {c.judgement.gpus:g} GPU(s) idle {c.idle_hours:.1f} h ≈ ${waste:,.2f} wasted" if waste is not None \
        else f"; {c.judgement.gpus:g} GPU(s) idle {c.idle_hours:.1f} h (not priced)"
    findings = audit.result.findings
    if not isinstance(findings, list):
        audit.result.findings = findings = list(findings)
    findings.append(Finding(
        policy=c.policy.name, rule="idle", severity=c.policy.severity, enforcement=c.policy.enforcement,
        message=f"{ref.display()}: {j.reason}{money}", resource=ref, monthly_cost=monthly, saving=monthly,
        facts=(("idle_hours", round(c.idle_hours, 2)), ("idle_waste", round(waste or 0.0, 2)),
               ("gpus", c.judgement.gpus))))


def describe(audit: Audit) -> dict[str, Any]:
    """Counts for logs."""
    return {"workloads": audit.result.stats.workloads, "findings": len(audit.result.findings),
            "skips": len(audit.skips), "idle_candidates": len(audit.idle),
            "idle": sum(1 for c in audit.idle if c.judgement.state == IDLE), "errors": len(audit.errors),
            "seconds": round(audit.seconds, 3)}
