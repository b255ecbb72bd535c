"""Findings: what every reporter, the webhook and the test runner consume."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from sys import intern
from typing import Any

from policy_engine.compiler.program import Enforcement, Severity
from policy_engine.diagnostics import Diagnostic
from policy_engine.frozen import builder
from policy_engine.model.documents import FieldPath, LoadError
from policy_engine.model.workload import Workload
from policy_engine.records import frozen_record, record


@dataclass(frozen=True, slots=True)  # its own __eq__ and __hash__: hashed several times per finding
class ResourceRef:
    """The object a finding is about, and the file and line it was read from."""

    kind: str
    name: str
    namespace: str | None
    file: str
    line: int
    api_version: str = ""

    @staticmethod
    def of(w: Workload) -> ResourceRef:
        """The workload's reference; its repeated strings interned (a large run keeps one per finding)."""
        return new_ref(intern(w.kind), w.name, intern(w.namespace) if w.namespace else w.namespace,
                       intern(w.file), w.line, intern(w.api_version))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # a plain tuple between processes: half the time of the generated dataclass state, both ways
        return new_ref, (self.kind, self.name, self.namespace, self.file, self.line, self.api_version)

    def display(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {ns}{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "api_version": self.api_version, "name": self.name,
                "namespace": self.namespace, "file": self.file, "line": self.line}


_sha256 = hashlib.sha256


@frozen_record
class Finding:
    """One policy rule violated by one resource."""

    policy: str
    rule: str  # clause family that fired (labels, instance_type, spot, quota, ...)
    severity: Severity
    enforcement: Enforcement
    message: str
    resource: ResourceRef
    field_line: int | None = None  # line of the offending field when the rule names one
    field_path: FieldPath = ()
    monthly_cost: float | None = None  # the workload's projected monthly spend (None: could not be priced)
    saving: float | None = None  # estimated monthly saving if fixed
    group: str | None = None  # quota/budget findings: the group, e.g. 'team=nlp'
    related: tuple[ResourceRef, ...] = ()  # quota/budget findings: the workloads that take the group over
    facts: tuple[tuple[str, object], ...] = ()  # what the rule read and decided (the saving's reason, idle hours…)
    error: bool = False  # the policy failed internally; ``message`` says how and the failure mode decided

    @property
    def line(self) -> int:
        return self.field_line or self.resource.line

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # a worker returns tens of thousands: a plain tuple each (see ``ResourceRef.__reduce__``)
        return Finding, (self.policy, self.rule, self.severity, self.enforcement, self.message, self.resource,
                         self.field_line, self.field_path, self.monthly_cost, self.saving, self.group,
                         self.related, self.facts, self.error)

    @property
    def saving_unknown(self) -> str | None:
        """Why the saving could not be known (a spot rule without a spot price), or None."""
        if self.saving is not None:
            return None
        why = None
        for key, value in self.facts:  # a few pairs: no dict built (every finding of a report asks)
            if key == "saving":
                why = value
        return why if isinstance(why, str) and why.startswith("unknown") else None

    def fingerprint(self) -> str:
        """Stable across runs and line shifts: policy, rule, resource identity and group — not the line."""
        return fingerprint_of(rule_basis(self.policy, self.rule), resource_basis(self.resource), self.group)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "rule": self.rule,
            "severity": self.severity.value,
            "enforcement": self.enforcement.value,
            "message": self.message,
            "resource": self.resource.to_dict(),
            "line": self.line,
            "field": ".".join(map(str, self.field_path)) or None,
            "monthly_cost": _round(self.monthly_cost),
            "saving": _round(self.saving),
            "saving_unknown": self.saving_unknown,
            "group": self.group,
            "related": [r.to_dict() for r in self.related],
            "fingerprint": self.fingerprint(),
            "error": self.error,
        }


#: ``ResourceRef(...)`` with every field given in order, built as a plain object is (``policy_engine.frozen``).
new_ref: Callable[[str, str, str | None, str, int, str], ResourceRef] = builder(ResourceRef, "new_ref")



def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@record
class PolicySummary:
    """Per policy: how many findings, and the spend and saving of what they flag."""

    policy: str
    severity: Severity
    enforcement: Enforcement
    description: str = ""
    findings: int = 0
    flagged_monthly_cost: float = 0.0  # projected monthly spend of the workloads it flags (priced ones)
    unpriced_flagged: int = 0
    saving: float = 0.0  # estimated monthly saving if every finding were fixed (the known part)
    saving_unknown: int = 0  # findings whose saving cannot be known (a spot rule without a spot price)

    @property
    def known_saving(self) -> float | None:
        """The saving, or None when nothing of it is known (every finding that has one is unknown)."""
        return None if self.saving_unknown and not self.saving else self.saving

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "severity": self.severity.value, "enforcement": self.enforcement.value,
                "description": self.description, "findings": self.findings,
                "flagged_monthly_cost": round(self.flagged_monthly_cost, 2),
                "unpriced_flagged": self.unpriced_flagged, "saving": _round(self.known_saving),
                "saving_unknown": self.saving_unknown}


def total_saving(summaries: list[PolicySummary]) -> tuple[float | None, int]:
    """The summed known saving (None when nothing is known but something is unknown) and the unknown count."""
    unknown = sum(s.saving_unknown for s in summaries)
    known = sum(s.saving for s in summaries)
    return (None if unknown and not known else known), unknown


@record
class Stats:
    """Counts and totals of one evaluation."""

    files: int = 0
    documents: int = 0
    workloads: int = 0
    gpu_workloads: int = 0
    policies: int = 0
    seconds: float = 0.0
    monthly_cost: float = 0.0  # projected monthly spend of all priced workloads scanned
    unpriced_workloads: int = 0
    assumed_workloads: int = 0  # priced under a stated assumption (unbounded run, idle shutdown)
    assumptions: tuple[str, ...] = ()  # the distinct assumptions used, in words

    def to_dict(self) -> dict[str, Any]:
        return {"files": self.files, "documents": self.documents, "workloads": self.workloads,
                "gpu_workloads": self.gpu_workloads, "policies": self.policies,
                "seconds": round(self.seconds, 4), "monthly_cost": round(self.monthly_cost, 2),
                "unpriced_workloads": self.unpriced_workloads, "assumed_workloads": self.assumed_workloads,
                "assumptions": list(self.assumptions)}


@record
class Result:
    """An evaluation's findings, per-policy summaries, errors and stats."""

    # a list; a large batch run's may be packed (``engine.packed``): iterate it, take its len, do not index it
    findings: Sequence[Finding] = field(default_factory=list)
    summaries: list[PolicySummary] = field(default_factory=list)
    errors: list[LoadError | Diagnostic] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    workloads: list[Workload] = field(default_factory=list)  # kept only when asked (cost diff, showback)
    objects: list[Workload] = field(default_factory=list)  # objects running no pods that policies named (kept likewise)
    # (policy, resource) pairs matched; a large batch run's may be packed likewise
    evaluations: Sequence[tuple[str, ResourceRef]] = field(default_factory=list)


def rule_basis(policy: str, rule: str) -> str:
    """The part of a fingerprint's basis a finding's (policy, rule) makes (``fingerprint_of``)."""
    return f"{policy}\x1f{rule}\x1f"


def resource_basis(r: ResourceRef) -> str:
    """The part of a fingerprint's basis a finding's resource makes (``fingerprint_of``)."""
    return f"{r.file}\x1f{r.kind}\x1f{r.namespace or ''}\x1f{r.name}\x1f"


def fingerprint_of(rule_part: str, resource_part: str, group: str | None) -> str:
    """``Finding.fingerprint`` from its parts, which a reporter keeps per rule and per resource: policy, rule, file,
    kind, namespace, name and group joined by ``\x1f``, hashed."""
    return _sha256(f"{rule_part}{resource_part}{group or ''}".encode()).hexdigest()[:32]
