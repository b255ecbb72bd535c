"""Per-workload spend as light records: cost by team, and the PR cost diff against a base revision.

Workers of a parallel ``check`` send these back instead of whole workloads (no parsed documents cross
process boundaries), and ``--base`` compares two lists of them — the Infracost PR comment, for Kubernetes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

from policy_engine.engine.findings import ResourceRef
from policy_engine.model.dimensions import DEFAULT_DIMENSIONS, UNTAGGED, Dimension
from policy_engine.model.workload import Workload
from policy_engine.records import frozen_record, record

#: Spend without a team (the one ``team`` dimension, model/dimensions.py) reads the same in every report.
NO_TEAM = UNTAGGED


@frozen_record
class WorkloadCost:
    """One workload's projected monthly cost and GPUs, for showback and the cost diff."""

    ref: ResourceRef
    team: str
    gpus: float
    monthly: float | None  # None: could not be priced (never counted as $0)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # a worker returns one per workload: a plain tuple each (see ``ResourceRef.__reduce__``)
        return WorkloadCost, (self.ref, self.team, self.gpus, self.monthly)

    @staticmethod
    def of(w: Workload, team_dimension: Dimension = DEFAULT_DIMENSIONS.team) -> WorkloadCost:
        team = team_dimension.display(w.labels)
        cost = w.cost
        monthly = cost.monthly if cost is not None and cost.priced else None
        return WorkloadCost(ResourceRef.of(w), team, w.gpus, monthly)

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """What makes a workload the same one at the base and head revisions (not its line)."""
        r = self.ref
        return (r.file, r.kind, r.namespace or "", r.name)


@frozen_record
class TeamShare:
    """What spend per team (``by_team``) reads of a workload: its team, GPUs and monthly cost. A run that
    compares no base revision keeps only this of each workload: a parallel run's workers send thousands back,
    and a ``WorkloadCost``'s reference is most of its bytes and of the time to rebuild it."""

    team: str
    gpus: float
    monthly: float | None  # None: could not be priced (never counted as $0)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return TeamShare, (self.team, self.gpus, self.monthly)

    @staticmethod
    def of(w: Workload, team_dimension: Dimension = DEFAULT_DIMENSIONS.team) -> TeamShare:
        cost = w.cost
        return TeamShare(team_dimension.display(w.labels), w.gpus,
                         cost.monthly if cost is not None and cost.priced else None)


#: A workload's spend as a report reads it: all of it, or (no base revision to compare) its team's share.
Spend = WorkloadCost | TeamShare


@record
class TeamCost:
    """A team's workloads, GPUs and projected monthly spend."""

    team: str
    workloads: int = 0
    gpus: float = 0.0
    monthly: float = 0.0
    unpriced: int = 0


def by_team(costs: Iterable[Spend]) -> list[TeamCost]:
    """Spend per team, most expensive first."""
    teams: dict[str, TeamCost] = {}
    for c in costs:
        t = teams.setdefault(c.team, TeamCost(c.team))
        t.workloads += 1
        t.gpus += c.gpus
        if c.monthly is None:
            t.unpriced += 1
        else:
            t.monthly += c.monthly
    return sorted(teams.values(), key=lambda t: (-t.monthly, t.team))


class Change(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@frozen_record
class WorkloadDelta:
    """How one workload's projected monthly cost changed since the base revision."""

    change: Change
    ref: ResourceRef  # the head side's location (the base side's for a removed workload)
    team: str
    before: float | None
    after: float | None

    @property
    def delta(self) -> float | None:
        """None when a side that exists could not be priced: the change is unknown, not zero."""
        if (self.change is not Change.REMOVED and self.after is None) or (
                self.change is not Change.ADDED and self.before is None):
            return None
        return (self.after or 0.0) - (self.before or 0.0)


@frozen_record
class TeamDelta:
    """How a team's projected monthly spend changed since the base revision."""

    team: str
    before: float
    after: float

    @property
    def delta(self) -> float:
        return self.after - self.before


@frozen_record
class CostDiff:
    """The projected monthly spend at the base revision and at the head, per team and per workload."""

    base_ref: str
    base_sha: str
    before: float
    after: float
    teams: tuple[TeamDelta, ...]
    workloads: tuple[WorkloadDelta, ...]  # only the added, removed and changed ones, biggest change first
    base_fingerprints: frozenset[str]

    @property
    def delta(self) -> float:
        return self.after - self.before

    def to_dict(self) -> dict[str, object]:
        return {
            "base_ref": self.base_ref, "base_sha": self.base_sha,
            "monthly_before": round(self.before, 2), "monthly_after": round(self.after, 2),
            "monthly_delta": round(self.delta, 2),
            "teams": [{"team": t.team, "monthly_before": round(t.before, 2),
                       "monthly_after": round(t.after, 2), "monthly_delta": round(t.delta, 2)}
                      for t in self.teams],
            "workloads": [{"change": w.change.value, "resource": w.ref.to_dict(), "team": w.team,
                           "monthly_before": _round(w.before), "monthly_after": _round(w.after),
                           "monthly_delta": _round(w.delta)} for w in self.workloads],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def compare(base: Sequence[WorkloadCost], head: Sequence[WorkloadCost], *, base_ref: str, base_sha: str,
            base_fingerprints: Iterable[str] = ()) -> CostDiff:
    """Match workloads by identity (file, kind, namespace, name) and diff their projected monthly spend."""
    before_by_id = {c.identity: c for c in base}
    after_by_id = {c.identity: c for c in head}
    deltas: list[WorkloadDelta] = []
    for ident, new in after_by_id.items():
        old = before_by_id.get(ident)
        if old is None:
            deltas.append(WorkloadDelta(Change.ADDED, new.ref, new.team, None, new.monthly))
        elif old.monthly != new.monthly or old.team != new.team:
            deltas.append(WorkloadDelta(Change.CHANGED, new.ref, new.team, old.monthly, new.monthly))
    for ident, old in before_by_id.items():
        if ident not in after_by_id:
            deltas.append(WorkloadDelta(Change.REMOVED, old.ref, old.team, old.monthly, None))
    deltas.sort(key=lambda d: (d.delta is None, -abs(d.delta or 0.0), d.ref.file, d.ref.name))
    before_teams = {t.team: t.monthly for t in by_team(base)}
    after_teams = {t.team: t.monthly for t in by_team(head)}
    teams = [TeamDelta(name, before_teams.get(name, 0.0), after_teams.get(name, 0.0))
             for name in sorted(set(before_teams) | set(after_teams))]
    teams = [t for t in teams if abs(t.delta) >= 0.005]
    teams.sort(key=lambda t: (-abs(t.delta), t.team))
    return CostDiff(base_ref, base_sha,
                    before=sum(c.monthly or 0.0 for c in base), after=sum(c.monthly or 0.0 for c in head),
                    teams=tuple(teams), workloads=tuple(deltas),
                    base_fingerprints=frozenset(base_fingerprints))
