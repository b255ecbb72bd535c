"""``usage``'s figures: per quota/budget group, or per dimension values, with limits, percentages and
(given GPU utilisation) actual cost split into used and idle.

Pure computation over a history (the ledger or Prometheus); ``render.py`` turns it into text, JSON or
Markdown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from policy_engine.compiler.program import Period, PolicySet
from policy_engine.engine.aggregate import period_bounds
from policy_engine.ledger.db import LedgerError
from policy_engine.ledger.observe import LedgerRule, ledger_rules
from policy_engine.ledger.store import Figures

if TYPE_CHECKING:
    from policy_engine.ledger.unit_costs import UnitCosts

PodFigures = tuple[str, str, tuple[str, ...], float, float]  # namespace, pod, group, GPU-hours, cost


class UnknownRule(LedgerError):
    """The history cannot group by this rule's key (the ledger's writer never keyed pods by it)."""


class ReportHistory(Protocol):
    def group_figures(self, rule: LedgerRule, now: datetime) -> Mapping[str, Figures]: ...

    def usage_by(self, dimensions: Sequence[str], period: Period, now: datetime) -> list[Figures]: ...

    def pod_figures(self, period: Period, now: datetime, *, rule: str | None = None,
                    dimensions: Sequence[str] = ()) -> list[PodFigures]: ...


@dataclass(frozen=True, slots=True)
class Split:
    """Actual cost of GPU pods split by their measured GPU utilisation (DCGM_FI_DEV_GPU_UTIL)."""

    used: float  # cost × utilisation
    idle: float  # cost × (1 - utilisation): paid for, not used
    unmeasured: float  # cost of pods with no utilisation series

    @property
    def idle_share(self) -> float | None:
        measured = self.used + self.idle
        return self.idle / measured if measured else None


@dataclass(frozen=True, slots=True)
class GroupLine:
    policy: str
    rule: str  # policy#index
    kind: str  # quota | budget
    metric: str  # gpu_hours | cost
    key_label: str
    key: str
    figures: Figures
    limit: float | None
    split: Split | None = None

    @property
    def used(self) -> float:
        return self.figures.used(self.metric)

    @property
    def running(self) -> float:
        return self.figures.running(self.metric)

    @property
    def projected(self) -> float:
        """Used so far plus what pods running now commit until the period ends."""
        return self.used + self.running

    def percent(self, value: float) -> float | None:
        return 100.0 * value / self.limit if self.limit else None


@dataclass(frozen=True, slots=True)
class Row:
    figures: Figures
    split: Split | None = None
    limits: tuple[tuple[str, str, float], ...] = ()  # (policy, metric, limit) of rules grouping by this key


@dataclass(slots=True)
class UsageReport:
    period: Period
    start: datetime
    end: datetime
    now: datetime
    source: str
    currency: str
    groups: list[GroupLine] = field(default_factory=list)
    dimensions: tuple[str, ...] = ()
    rows: list[Row] = field(default_factory=list)
    utilisation: bool = False  # whether actual cost was split by measured GPU utilisation
    notes: list[str] = field(default_factory=list)  # rules the history cannot group by, and why
    unit_costs: UnitCosts | None = None  # from the ledger: serving workloads' unit costs, finished training runs


def split(pods: Sequence[PodFigures], utilisation: Mapping[tuple[str, str], float] | None
          ) -> dict[tuple[str, ...], Split]:
    """Used/idle cost per group from per-pod cost and per-pod mean utilisation (0..1)."""
    if utilisation is None:
        return {}
    sums: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for namespace, pod, group, _, cost in pods:
        util = utilisation.get((namespace, pod))
        s = sums[group]
        if util is None:
            s[2] += cost
        else:
            util = min(max(util, 0.0), 1.0)
            s[0] += cost * util
            s[1] += cost * (1.0 - util)
    return {g: Split(*v) for g, v in sums.items()}


def usage_report(history: ReportHistory, policies: PolicySet, period: Period, now: datetime, *,
                 by: Sequence[str] = (), source: str = "", currency: str = "USD",
                 utilisation: Mapping[tuple[str, str], float] | None = None) -> UsageReport:
    start, end = period_bounds(period, now)
    report = UsageReport(period, start, end, now, source, currency, dimensions=tuple(by),
                         utilisation=utilisation is not None)
    rules = [r for r in ledger_rules(policies) if r.rule.period is period]
    if by:
        # --by team shows the limits of the rules that group by that label too
        matching = [r for r in rules if len(by) == 1 and r.id in (f'labels["{by[0]}"]', by[0])]
        splits = split(history.pod_figures(period, now, dimensions=by), utilisation) if utilisation else {}
        for f in history.usage_by(by, period, now):
            limits = tuple((r.policy, r.rule.metric, limit) for r in matching
                           if (limit := r.rule.limit_for(f.key[0])) is not None)
            report.rows.append(Row(f, splits.get(f.key), limits))
        report.rows.sort(key=lambda row: (-row.figures.cost - row.figures.cost_running, row.figures.key))
        return report
    seen: dict[str, tuple[Mapping[str, Figures], dict[tuple[str, ...], Split]]] = {}
    for r in rules:
        if r.id not in seen:  # rules grouping the same way share one query
            try:
                figures = history.group_figures(r, now)
            except UnknownRule as exc:
                report.notes.append(f"{r.name}: {exc}")
                continue
            seen[r.id] = (figures, split(history.pod_figures(period, now, rule=r.id), utilisation)
                          if utilisation is not None else {})
        figures, splits = seen[r.id]
        for key in sorted(_keys_with_limits(r, figures)):
            f = figures.get(key) or Figures((key,), 0, 0.0, 0.0, 0.0, 0.0, 0)
            report.groups.append(GroupLine(r.policy, r.name, r.rule.kind, r.rule.metric, r.key_label, key, f,
                                           r.rule.limit_for(key), splits.get((key,))))
    return report


def _keys_with_limits(r: LedgerRule, figures: Mapping[str, Figures]) -> set[str]:
    """Groups with usage, plus groups with an explicit limit (an unused budget is worth seeing)."""
    return set(figures) | set(r.rule.overrides)


@dataclass(frozen=True, slots=True)
class WorkloadActual:
    """One workload's actual use this period (its pods in the history) and, given utilisation, the split."""

    figures: Figures
    split: Split | None


WORKLOAD = ("namespace", "workload")


def workload_actuals(history: ReportHistory, period: Period, now: datetime,
                     utilisation: Mapping[tuple[str, str], float] | None = None
                     ) -> dict[tuple[str, str], WorkloadActual]:
    """(namespace, ``Kind/name`` of the pods' owner) -> actual use so far and the used/idle split."""
    splits = split(history.pod_figures(period, now, dimensions=WORKLOAD), utilisation) if utilisation is not None \
        else {}
    return {(f.key[0], f.key[1]): WorkloadActual(f, splits.get(f.key)) for f in history.usage_by(WORKLOAD, period, now)}
