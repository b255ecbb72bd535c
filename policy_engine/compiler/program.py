"""What the compiler produces and the engine runs: compiled policies as plain closures.

This is the contract between ``policy_engine.compiler`` (which builds these once from checked ASTs) and
``policy_engine.engine`` (which calls them for every workload). Nothing here parses or walks a tree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import field
from enum import Enum
from functools import partial
from types import MappingProxyType
from typing import NamedTuple

from policy_engine.diagnostics import Diagnostic, Span
from policy_engine.model.documents import FieldPath
from policy_engine.model.workload import Workload
from policy_engine.records import frozen_record


class Severity(str, Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return ("low", "medium", "high", "critical").index(self.value)


class Enforcement(str, Enum):
    DENY = "deny"
    WARN = "warn"
    AUDIT = "audit"


class FailureMode(str, Enum):
    OPEN = "open"  # an internal error or missing live state lets the request through, with a warning
    CLOSED = "closed"  # ... or rejects it


class Period(str, Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Violation(NamedTuple):
    """One thing a per-workload rule found wrong, already rendered into words (a tuple: a large run makes
    hundreds of thousands, each turned into a ``Finding`` at once)."""

    rule: str  # the clause family: labels, annotations, instance_type, gpu_model, pin, spot, idle, deadline, ...
    message: str
    path: FieldPath = ()  # the offending field inside the object, for the finding's line
    saving: float | None = None  # estimated monthly saving if fixed
    facts: Mapping[str, object] = MappingProxyType({})  # attribute values the rule read


#: A ``Violation`` of its five fields as one tuple, built at C speed: ``NamedTuple``'s own ``__new__`` is a Python
#: function, a frame for every violation a rule finds (a large run finds hundreds of thousands).
new_violation: Callable[[tuple[str, str, FieldPath, float | None, Mapping[str, object]]], Violation] = \
    partial(tuple.__new__, Violation)

DEFAULT_ALERTS = (0.5, 0.8, 1.0)


@frozen_record
class AggregateRule:
    """A rule over a set of workloads: a GPU-hour quota or a money budget per group per period."""

    kind: str  # "quota" | "budget"
    metric: str  # "gpu_hours" | "cost"
    key: Callable[[Workload], str | None]  # the group a workload belongs to (None: not grouped, skipped)
    key_label: str  # how the key reads in messages, e.g. 'labels["team"]'
    period: Period
    default_limit: float | None  # None: only the keys in ``overrides`` are limited
    overrides: Mapping[str, float]
    thresholds: tuple[float, ...] = (1.0,)  # fractions of the limit that raise a finding (budgets: alerts)
    message: str | None = None  # the policy's own template, with {placeholders}
    span: Span | None = None
    # live alerts (docs/usage.md): each fires once per group per period, from the ledger's actual usage
    alert_thresholds: tuple[float, ...] = DEFAULT_ALERTS  # ``alert at``; 50/80/100% when not given
    forecast: bool = False  # ``alert forecast``: used + running rate × time left crosses the limit
    anomaly_factor: float | None = None  # ``alert anomaly F``: a day's use > trailing daily average × F
    anomaly_days: int = 7  # ``... over Nd``: the trailing window

    def limit_for(self, key: str) -> float | None:
        return self.overrides.get(key, self.default_limit)


@frozen_record
class LiveIdleRule:
    """The live form of idle shutdown (GPU utilisation below a threshold for a duration): kept for live state."""

    utilisation_below: float  # fraction, 0..1
    for_seconds: float
    span: Span | None = None
    action: str = "report"  # "report" (no `then`), "notify", "stop" (notify, then stop after the notice)
    notice_seconds: float = 0.0  # `then stop after D`: from the first notice to the stop
    delete_pods: bool = False  # bare Pods are deleted (they have no other way to stop)
    act: bool = False  # the policy turns actions on without the controller's --act


@frozen_record
class CompiledPolicy:
    """One policy as codegen built it: its settings, the kinds it applies to, and its closures."""

    name: str
    description: str
    severity: Severity
    enforcement: Enforcement
    span: Span
    kinds: frozenset[str] | None  # None: every kind the workload model knows
    applies: Callable[[Workload], bool]  # match + exclude + when
    violations: Callable[[Workload], list[Violation]]  # every per-workload rule of the policy
    aggregates: tuple[AggregateRule, ...] = ()
    live_idle: tuple[LiveIdleRule, ...] = ()
    failure_mode: FailureMode = FailureMode.OPEN
    allow_exemption: bool = False  # per-object exemption annotations honoured only when the policy says so
    help: str = ""
    file: str = ""


@frozen_record
class PolicySet:
    """Compiled policies indexed by kind, so a document only meets the policies that can match it."""

    policies: tuple[CompiledPolicy, ...]
    by_kind: Mapping[str, tuple[CompiledPolicy, ...]]
    any_kind: tuple[CompiledPolicy, ...]
    diagnostics: tuple[Diagnostic, ...] = ()  # warnings that did not stop compilation
    sources: Mapping[str, str] = field(default_factory=dict)  # file -> text, for rendering diagnostics

    def for_kind(self, kind: str, creates: str | None = None) -> tuple[CompiledPolicy, ...]:
        """The policies that can match ``kind``, and those of ``creates`` (``Workload.creates``) too."""
        own = self.by_kind.get(kind, self.any_kind)
        if creates is None:
            return own
        either = {id(p) for p in own} | {id(p) for p in self.by_kind.get(creates, self.any_kind)}
        return tuple(p for p in self.policies if id(p) in either)

    def get(self, name: str) -> CompiledPolicy | None:
        for p in self.policies:
            if p.name == name:
                return p
        return None

    @staticmethod
    def build(policies: tuple[CompiledPolicy, ...], known_kinds: frozenset[str],
              diagnostics: tuple[Diagnostic, ...] = (), sources: Mapping[str, str] | None = None) -> PolicySet:
        """Index policies: ``by_kind[k]`` holds, in declaration order, those that can match kind ``k``."""
        any_kind = tuple(p for p in policies if p.kinds is None)
        kinds = set(known_kinds)
        for p in policies:
            kinds.update(p.kinds or ())
        by_kind = {k: tuple(p for p in policies if p.kinds is None or k in p.kinds) for k in kinds}
        return PolicySet(policies, by_kind, any_kind, diagnostics, dict(sources or {}))
