"""The one ``Engine.evaluate(items, options) -> Result`` that the CLI, the webhook and audit all call.

Per document: workload model → pricing → the policies indexed for its kind (compiled closures). Per set:
quota and budget rules over every workload scanned (``aggregate``). An exception inside one policy
never escapes: it becomes an error finding that follows that policy's failure mode.

``Options`` says what a caller needs beyond the findings: the webhook asks for no summaries, no matched
pairs and no sorting (``ADMISSION``); ``check`` keeps a light record per workload instead of the
workloads. A batch run evaluates in pieces (``evaluate_partial``, in worker processes: ``engine.batch``)
and decides quotas and budgets once over all of them (``finish``); ``evaluate`` is the two in one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from sys import intern
from typing import Any

from policy_engine.compiler.objects import bare_object, is_bare_object
from policy_engine.compiler.program import CompiledPolicy, Enforcement, FailureMode, PolicySet
from policy_engine.diagnostics import Diagnostic
from policy_engine.engine import aggregate
from policy_engine.engine.aggregate import Contribution, UsageProvider
from policy_engine.engine.findings import Finding, PolicySummary, ResourceRef, Result
from policy_engine.errors import WorkloadError
from policy_engine.model.build import build_workload
from policy_engine.model.config import ModelConfig
from policy_engine.model.documents import Document, LoadError
from policy_engine.model.workload import Workload
from policy_engine.pricing.catalog import Catalog
from policy_engine.pricing.cost import price


@dataclass(frozen=True, slots=True)
class Options:
    """What a caller needs from an evaluation beyond the findings (each costs time or memory)."""

    workloads: bool = False  # keep every Workload (and bare object) in ``Result.workloads`` / ``.objects``
    record: Callable[[Workload], Any] | None = None  # or keep only this light record of each (``Partial.records``)
    evaluations: bool = True  # keep the (policy, resource) pairs matched (JUnit, PolicyReport)
    summaries: bool = True  # per-policy summaries
    sort: bool = True  # findings by file, line, policy, name


#: The webhook's needs: one object's findings, nothing else.
ADMISSION = Options(evaluations=False, summaries=False, sort=False)
DEFAULT = Options()


@dataclass(slots=True)
class Partial:
    """A result whose quotas and budgets are not decided yet (one worker's share of a parallel run)."""

    result: Result
    contributions: list[Contribution] = field(default_factory=list)
    records: list[Any] = field(default_factory=list)  # ``Options.record`` of each workload


class Engine:
    """Compiled policies plus a pricing catalog: immutable once built, safe to share between threads."""

    def __init__(self, policies: PolicySet, catalog: Catalog) -> None:
        self.policies = policies
        self.catalog = catalog
        self._hours_per_month = float(catalog.hours_per_month)
        self._model_config = ModelConfig(hours_per_month=self._hours_per_month)
        #: Kinds that run no pods (Namespace, HorizontalPodAutoscaler, a CRD) meet only the policies naming them.
        self._object_policies: dict[str, tuple[CompiledPolicy, ...]] = {}
        for p in policies.policies:
            for kind in p.kinds or ():
                self._object_policies[kind] = (*self._object_policies.get(kind, ()), p)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        """Non-fatal diagnostics of the policies and the pricing catalog, for the front ends to show."""
        return tuple(self.policies.diagnostics) + tuple(self.catalog.warnings)

    def workload(self, doc: Document) -> Workload | None:
        """The workload model of a document, priced; None when the document is not a workload."""
        w = build_workload(doc, self._model_config)
        if w is not None:
            w.cost = price(w, self.catalog)
        return w

    def subject(self, doc: Document) -> Workload | None:
        """What policies evaluate for a document: its workload, else the bare object when a policy names
        its kind (a Namespace, a HorizontalPodAutoscaler, a CRD), else None."""
        w = self.workload(doc)
        if w is None and doc.kind in self._object_policies:
            return bare_object(doc)
        return w

    def evaluate(self, items: Iterable[Document | LoadError | Workload], *, usage: UsageProvider | None = None,
                 options: Options = DEFAULT) -> Result:
        """Documents (or workloads already built, as the webhook's) → findings, quotas decided over them all."""
        return self.finish([self.evaluate_partial(items, options)], usage=usage, options=options)

    def evaluate_partial(self, items: Iterable[Document | LoadError | Workload],
                         options: Options = DEFAULT) -> Partial:
        """Per-workload findings and aggregate contributions, without deciding quotas (see ``finish``)."""
        partial = Partial(Result())
        res = partial.result
        started = time.perf_counter()
        files: set[str] = set()
        for item in items:
            if isinstance(item, Workload):
                self._subject(item, partial, options)
                continue
            files.add(item.file)
            if isinstance(item, LoadError):
                res.errors.append(item)
                continue
            res.stats.documents += 1
            try:
                w = self.subject(item)
            except WorkloadError as exc:
                res.errors.append(exc.diagnostic)
                continue
            if w is not None:
                self._subject(w, partial, options)
        res.stats.files = len(files)
        res.stats.seconds = time.perf_counter() - started
        return partial

    def _subject(self, w: Workload, partial: Partial, options: Options) -> None:
        if not is_bare_object(w):
            self._workload(w, partial, options)
            return
        self._apply(w, self._object_policies.get(w.kind, ()), partial, None, options)
        if options.workloads:
            partial.result.objects.append(w)

    def _workload(self, w: Workload, partial: Partial, options: Options) -> None:
        res = partial.result
        stats = res.stats
        stats.workloads += 1
        if w.gpus > 0:
            stats.gpu_workloads += 1
        cost = w.cost
        if cost is not None and cost.priced and cost.monthly is not None:
            stats.monthly_cost += cost.monthly
        else:
            stats.unpriced_workloads += 1
        monthly = cost.monthly if cost is not None and cost.priced else None
        self._apply(w, self.policies.for_kind(w.kind), partial, monthly, options)
        if options.workloads:
            res.workloads.append(w)
        if options.record is not None:
            partial.records.append(options.record(w))

    def _apply(self, w: Workload, policies: Sequence[CompiledPolicy], partial: Partial, monthly: float | None,
               options: Options) -> None:
        res = partial.result
        ref = ResourceRef.of(w)
        for policy in policies:
            try:
                if not policy.applies(w):
                    continue
                if options.evaluations:
                    res.evaluations.append((policy.name, ref))
                violations = policy.check(w)
                if policy.aggregates:
                    for i, rule in enumerate(policy.aggregates):
                        c = aggregate.contribution(policy, i, rule, w, self._hours_per_month, ref)
                        if c is not None:
                            partial.contributions.append(c)
            except Exception as exc:  # one broken policy must never take the run (or the webhook) down
                res.findings.append(_failed(policy, ref, exc))
                continue
            for v in violations:
                res.findings.append(Finding(
                    policy=policy.name, rule=v.rule, severity=policy.severity, enforcement=policy.enforcement,
                    message=intern(v.message), resource=ref,
                    field_line=w.doc.line_of(v.path) if v.path else None, field_path=v.path,
                    monthly_cost=monthly, saving=v.saving,
                    facts=tuple(v.facts.items()) if v.facts else ()))

    def finish(self, partials: Sequence[Partial], *, usage: UsageProvider | None = None,
               options: Options = DEFAULT) -> Result:
        """Merge partial results, decide quotas and budgets over all of them, and summarise per policy."""
        res = Result()
        contributions: list[Contribution] = []
        for p in partials:
            r = p.result
            res.findings.extend(r.findings)
            res.errors.extend(r.errors)
            res.workloads.extend(r.workloads)
            res.objects.extend(r.objects)
            res.evaluations.extend(r.evaluations)
            contributions.extend(p.contributions)
            s = r.stats
            res.stats.files += s.files
            res.stats.documents += s.documents
            res.stats.workloads += s.workloads
            res.stats.gpu_workloads += s.gpu_workloads
            res.stats.seconds += s.seconds
            res.stats.monthly_cost += s.monthly_cost
            res.stats.unpriced_workloads += s.unpriced_workloads
        if contributions:
            res.findings.extend(aggregate.decide(self.policies, contributions, usage))
        res.stats.policies = len(self.policies.policies)
        if options.sort:
            res.findings.sort(key=lambda f: (f.resource.file, f.line, f.policy, f.resource.name))
        if options.summaries:
            res.summaries = summarise(self.policies, res.findings)
        return res


def summarise(policies: PolicySet, findings: Sequence[Finding]) -> list[PolicySummary]:
    """Per policy: findings, the spend it flags (each workload once) and the saving if fixed."""
    summaries = {p.name: PolicySummary(p.name, p.severity, p.enforcement, p.description)
                 for p in policies.policies}
    flagged: dict[tuple[str, ResourceRef], Finding] = {}
    savings: dict[tuple[str, ResourceRef | str], float] = {}
    for f in findings:
        s = summaries.get(f.policy)
        if s is None:
            continue
        s.findings += 1
        if f.group is None:
            key = (f.policy, f.resource)
            if key not in flagged:
                flagged[key] = f
                if f.monthly_cost is None:
                    s.unpriced_flagged += 1
                else:
                    s.flagged_monthly_cost += f.monthly_cost
        if f.saving:
            skey: tuple[str, ResourceRef | str] = (f.policy, f.group or f.resource)
            savings[skey] = max(savings.get(skey, 0.0), f.saving)
    for (name, _), value in savings.items():
        summaries[name].saving += value
    return list(summaries.values())


def _failed(policy: CompiledPolicy, ref: ResourceRef, exc: Exception) -> Finding:
    closed = policy.failure_mode is FailureMode.CLOSED
    return Finding(
        policy=policy.name, rule="error", severity=policy.severity,
        enforcement=Enforcement.DENY if closed else Enforcement.WARN,
        message=(f"policy failed while evaluating: {type(exc).__name__}: {exc}; failure mode "
                 f"{policy.failure_mode.value}: " + ("denied" if closed else "allowed")),
        resource=ref, error=True)
