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
from dataclasses import field, fields, replace
from functools import lru_cache
from sys import intern
from typing import Any

from policy_engine.compiler.attributes import gpus
from policy_engine.compiler.objects import bare_object, is_bare_object
from policy_engine.compiler.program import CompiledPolicy, Enforcement, FailureMode, PolicySet, Severity
from policy_engine.diagnostics import Diagnostic
from policy_engine.engine import aggregate
from policy_engine.engine.aggregate import Contribution, UsageProvider
from policy_engine.engine.exemptions import EXEMPT_ANNOTATION, ExemptionRule
from policy_engine.engine.findings import Finding, PolicySummary, ResourceRef, Result
from policy_engine.engine.packed import Block, sort_key
from policy_engine.errors import WorkloadError
from policy_engine.model.config import ModelConfig
from policy_engine.model.documents import Document, LoadError
from policy_engine.model.references import Key, needs_references, reference_key
from policy_engine.model.unread import gpu_requests, unread
from policy_engine.model.workload import Workload
from policy_engine.pricing.catalog import Catalog
from policy_engine.pricing.cost import model_config, priced_workload
from policy_engine.records import frozen_record, record


@frozen_record
class Options:
    """What a caller needs from an evaluation beyond the findings (each costs time or memory)."""

    workloads: bool = False  # keep every Workload (and bare object) in ``Result.workloads`` / ``.objects``
    record: Callable[[Workload], Any] | None = None  # or keep only this light record of each (``Partial.records``)
    evaluations: bool = True  # keep the (policy, resource) pairs matched (JUnit, PolicyReport)
    summaries: bool = True  # per-policy summaries
    sort: bool = True  # findings by file, line, policy, name
    #: ``check``: the one object-exemption rule (``engine/exemptions.py``) applied to each workload's
    #: findings; the webhook and the audit apply it to their own decisions instead.
    exemptions: ExemptionRule | None = None


#: The webhook's needs: one object's findings, nothing else.
ADMISSION = Options(evaluations=False, summaries=False, sort=False)
DEFAULT = Options()


@record
class Partial:
    """A result whose quotas and budgets are not decided yet (one worker's share of a parallel run)."""

    result: Result
    contributions: list[Contribution] = field(default_factory=list)
    records: list[Any] = field(default_factory=list)  # ``Options.record`` of each workload
    #: Documents workloads may name (a TrainJob's runtime, a pod's ResourceClaimTemplate), and the
    #: workloads that name one, judged in ``finish`` against those of every partial (``model/references``).
    references: dict[Key, Document] = field(default_factory=dict)
    deferred: list[Document] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # ``result.findings``, as the list it is here
    block: Block | None = None  # or, packed by the worker that evaluated them (``engine.batch``), the findings
    evaluations: list[tuple[str, ResourceRef]] = field(default_factory=list)  # ``result.evaluations`` likewise

    def __post_init__(self) -> None:
        self.result.findings = self.findings
        self.result.evaluations = self.evaluations


class Engine:
    """Compiled policies plus a pricing catalog: immutable once built, safe to share between threads."""

    def __init__(self, policies: PolicySet, catalog: Catalog, *,
                 unread_gpu: Enforcement = Enforcement.WARN) -> None:
        self.policies = policies
        self.catalog = catalog
        #: What the built-in ``unread-gpu-kind`` finding does (warn by default; ``deny`` when configured).
        self.unread_gpu = unread_gpu
        self._hours_per_month = float(catalog.hours_per_month)
        self._model_config = model_config(catalog)
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
        return priced_workload(doc, self.catalog, self._model_config)

    def subject(self, doc: Document) -> Workload | None:
        """What policies evaluate for a document: its workload, else the bare object when a policy names
        its kind (a Namespace, a HorizontalPodAutoscaler, a CRD), else None."""
        w = self.workload(doc)
        if w is None and doc.kind in self._object_policies:
            return bare_object(doc)
        return w

    def unread_gpu_findings(self, doc: Document, enforcement: Enforcement | None = None) -> list[Finding]:
        """The built-in finding for a document of a kind the model does not read that asks for GPUs
        anywhere (``model/unread.py``): in CI and at admission alike, never a silent pass."""
        if not unread(doc):
            return []
        found = gpu_requests(doc.obj, self._model_config)
        if not found:
            return []
        raw = doc.obj.get("metadata")
        meta: dict[str, Any] = raw if isinstance(raw, dict) else {}
        ref = ResourceRef(doc.kind, str(meta.get("name") or meta.get("generateName") or ""),
                          str(meta["namespace"]) if meta.get("namespace") else None, doc.file, doc.line,
                          doc.api_version)
        where = "; ".join(f"{_dotted(r.path)} ({r.resource}: {r.amount})" for r in found[:3])
        message = (f"{doc.kind} asks for GPUs at {where}, but the workload model does not read kind "
                   f"{doc.kind} ({doc.api_version}): no policy and no price sees them. Put the pods under a "
                   f"conventional pod template (spec.template) or have the kind supported")
        return [Finding(policy=UNREAD_GPU_POLICY, rule="unread-kind", severity=Severity.MEDIUM,
                        enforcement=enforcement or self.unread_gpu, message=message, resource=ref,
                        field_line=doc.line_of(found[0].path), field_path=found[0].path,
                        facts=(("kind", doc.kind), ("resource", found[0].resource)))]

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
            found = reference_key(item)
            if found is not None:
                partial.references[found] = item
            self._document(item, partial, options, None)
        res.stats.files = len(files)
        res.stats.seconds = time.perf_counter() - started
        return partial

    def _document(self, item: Document, partial: Partial, options: Options, config: ModelConfig | None) -> None:
        """Judge one document; with no ``config`` (the set's references) one that names another is deferred."""
        res = partial.result
        try:
            w = (priced_workload(item, self.catalog, config) if config is not None else None) \
                or self.subject(item)
        except WorkloadError as exc:
            res.errors.append(exc.diagnostic)
            return
        if config is None and w is not None and not is_bare_object(w) and needs_references(w):
            partial.deferred.append(item)
            return
        if w is not None:
            self._subject(w, partial, options)
        else:
            partial.findings.extend(self.unread_gpu_findings(item))

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
        if gpus(w) > 0:
            stats.gpu_workloads += 1
        cost = w.cost
        if cost is not None and cost.priced and cost.monthly is not None:
            stats.monthly_cost += cost.monthly
            if cost.assumptions:
                stats.assumed_workloads += 1
                kinds = _assumption_kinds(cost.assumptions)
                if not kinds.issubset(stats.assumptions):  # (one or two kinds, met by most workloads again)
                    stats.assumptions = tuple(sorted(set(stats.assumptions) | kinds))
        else:
            stats.unpriced_workloads += 1
        monthly = cost.monthly if cost is not None and cost.priced else None
        self._apply(w, self.policies.for_kind(w.kind, w.creates), partial, monthly, options)
        if options.workloads:
            res.workloads.append(w)
        if options.record is not None:
            partial.records.append(options.record(w))

    def _apply(self, w: Workload, policies: Sequence[CompiledPolicy], partial: Partial, monthly: float | None,
               options: Options) -> None:
        findings = partial.findings
        ref = ResourceRef.of(w)
        start = len(findings)
        self._policies(w, policies, partial, monthly, options, ref)
        # (an object asks for an exemption by its annotation: without it, ``in_ci`` leaves its findings as they are)
        if options.exemptions is not None and len(findings) > start and EXEMPT_ANNOTATION in w.annotations:
            findings[start:] = options.exemptions.in_ci(findings[start:], w.annotations, self.policies.get)

    def _policies(self, w: Workload, policies: Sequence[CompiledPolicy], partial: Partial, monthly: float | None,
                  options: Options, ref: ResourceRef) -> None:
        append = partial.findings.append
        evaluations = partial.evaluations if options.evaluations else None
        for policy in policies:
            try:
                if not policy.applies(w):
                    continue
                if evaluations is not None:
                    evaluations.append((policy.name, ref))
                violations = policy.violations(w)
                if policy.aggregates:
                    for i, rule in enumerate(policy.aggregates):
                        c = aggregate.contribution(policy, i, rule, w, self._hours_per_month, ref)
                        if c is not None:
                            partial.contributions.append(c)
            except Exception as exc:  # one broken policy must never take the run (or the webhook) down
                append(_failed(policy, ref, exc))
                continue
            if not violations:
                continue
            name, severity, enforcement, line_of = policy.name, policy.severity, policy.enforcement, w.doc.line_of
            for clause, message, path, saving, facts in violations:  # a large run makes hundreds of thousands
                append(Finding(name, clause, severity, enforcement, intern(message), ref,
                               line_of(path) if path else None, path, monthly, saving, None, (),
                               tuple(facts.items()) if facts else (), False))

    def settle(self, partials: Sequence[Partial], options: Options = DEFAULT) -> list[Partial]:
        """The partials plus one judging their deferred workloads against the references of all of them:
        a TrainJob's runtime or a pod's ResourceClaimTemplate may be in any file, any worker's share."""
        deferred = [doc for p in partials for doc in p.deferred]
        if not deferred:
            return list(partials)
        config = replace(self._model_config, references={k: d for p in partials for k, d in p.references.items()})
        late = Partial(Result())
        for doc in deferred:
            self._document(doc, late, options, config)
        for p in partials:
            p.deferred = []
        return [*partials, late]

    def finish(self, partials: Sequence[Partial], *, usage: UsageProvider | None = None,
               options: Options = DEFAULT) -> Result:
        """Merge partial results (``settle`` first), decide quotas and budgets over all of them, and
        summarise per policy."""
        findings: list[Finding] = []
        evaluations: list[tuple[str, ResourceRef]] = []
        res = Result(findings=findings, evaluations=evaluations)
        contributions: list[Contribution] = []
        for p in self.settle(partials, options):
            r = p.result
            findings.extend(r.findings)
            res.errors.extend(r.errors)
            res.workloads.extend(r.workloads)
            res.objects.extend(r.objects)
            evaluations.extend(r.evaluations)
            contributions.extend(p.contributions)
            s = r.stats
            res.stats.files += s.files
            res.stats.documents += s.documents
            res.stats.workloads += s.workloads
            res.stats.gpu_workloads += s.gpu_workloads
            res.stats.seconds += s.seconds
            res.stats.monthly_cost += s.monthly_cost
            res.stats.unpriced_workloads += s.unpriced_workloads
            res.stats.assumed_workloads += s.assumed_workloads
            res.stats.assumptions = tuple(sorted(set(res.stats.assumptions) | set(s.assumptions)))
        if contributions:
            findings.extend(aggregate.decide(self.policies, contributions, usage))
        res.stats.policies = len(self.policies.policies)
        if options.sort:
            findings.sort(key=sort_key)
        if options.summaries:
            res.summaries = summarise(self.policies, res.findings)
        return res


#: The name the built-in finding for GPUs in an unread kind carries (not a policy file: it cannot be removed).
UNREAD_GPU_POLICY = "unread-gpu-kind"


@lru_cache(maxsize=256)
def _assumption_kinds(assumptions: tuple[str, ...]) -> frozenset[str]:
    """The kinds of assumption a workload's cost made (``...: unbounded run time (assumed 24/7)`` → the last
    parenthesis); a run repeats a handful of assumption texts."""
    return frozenset(a.split(": ", 1)[-1].rsplit("(", 1)[-1].rstrip(")") for a in assumptions)


def _dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path).replace(".[", "[")


def summarise(policies: PolicySet, findings: Sequence[Finding]) -> list[PolicySummary]:
    """Per policy: findings, the spend it flags (each workload once) and the saving if fixed."""
    summaries = {p.name: PolicySummary(p.name, p.severity, p.enforcement, p.description)
                 for p in policies.policies}
    flagged: set[tuple[str, int]] = set()
    flagged_groups: set[tuple[str, str]] = set()
    savings: dict[tuple[str, int | str], float] = {}
    unknown: set[tuple[str, int | str]] = set()
    #: Each resource flagged, by a number: a workload's findings come together and share one ``ResourceRef``,
    #: hashed (in Python) once here rather than in each of its findings' keys.
    numbers: dict[ResourceRef, int] = {}
    last: ResourceRef | None = None
    number = -1
    for f in findings:  # (a large run's hundreds of thousands: each key made and hashed only when needed)
        s = summaries.get(f.policy)
        if s is None:
            continue
        s.findings += 1
        group = f.group
        if group:
            if (f.policy, group) not in flagged_groups:
                flagged_groups.add((f.policy, group))  # a quota/budget row: the group's projected spend
                if f.monthly_cost is not None:
                    s.flagged_monthly_cost += f.monthly_cost
            skey: tuple[str, int | str] = (f.policy, group)
        else:
            resource = f.resource
            if resource is not last:
                number = numbers.setdefault(resource, len(numbers))
                last = resource
            if group is None:
                key = (f.policy, number)
                if key not in flagged:
                    flagged.add(key)
                    if f.monthly_cost is None:
                        s.unpriced_flagged += 1
                    else:
                        s.flagged_monthly_cost += f.monthly_cost
            elif (f.policy, group) not in flagged_groups:  # an empty group: a row of its own, keyed by the resource
                flagged_groups.add((f.policy, group))
                if f.monthly_cost is not None:
                    s.flagged_monthly_cost += f.monthly_cost
            skey = (f.policy, number)
        saving = f.saving
        if saving:
            savings[skey] = max(savings.get(skey, 0.0), saving)
        elif f.facts and f.saving_unknown is not None:  # (no facts: no reason the saving is unknown)
            unknown.add(skey)
    for (name, _), value in savings.items():
        summaries[name].saving += value
    for name, _ in unknown - savings.keys():  # a subject with a known saving is counted once, known
        summaries[name].saving_unknown += 1
    return list(summaries.values())


def add_summaries(total: Sequence[PolicySummary], more: Sequence[PolicySummary]) -> None:
    """Add ``more`` into ``total`` (the same policies in the same order): summaries of findings about
    different resources add up (a resource's findings are all in one unit of a batch run)."""
    for t, m in zip(total, more, strict=True):
        for name in _SUMMED:
            setattr(t, name, getattr(t, name) + getattr(m, name))


#: The counts and sums of a ``PolicySummary`` (every number in it).
_SUMMED = tuple(f.name for f in fields(PolicySummary) if f.type in ("int", "float"))


def _failed(policy: CompiledPolicy, ref: ResourceRef, exc: Exception) -> Finding:
    closed = policy.failure_mode is FailureMode.CLOSED
    return Finding(
        policy=policy.name, rule="error", severity=policy.severity,
        enforcement=Enforcement.DENY if closed else Enforcement.WARN,
        message=(f"policy failed while evaluating: {type(exc).__name__}: {exc}; failure mode "
                 f"{policy.failure_mode.value}: " + ("denied" if closed else "allowed")),
        resource=ref, error=True)
