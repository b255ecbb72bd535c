"""Quotas and budgets: rules over a set of workloads, grouped by a key, per period.

In CI the set is the scanned tree; at admission it is the one new workload plus the live usage the
cluster-state cache reports. Workers of a parallel ``check`` send back light ``Contribution`` records
(picklable, no closures), so the parent can decide aggregates over the whole tree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from operator import attrgetter
from sys import intern
from typing import Any, Protocol

from policy_engine.compiler.attributes import gpus
from policy_engine.compiler.program import (
    AggregateRule,
    CompiledPolicy,
    Enforcement,
    FailureMode,
    Period,
    PolicySet,
)
from policy_engine.engine.findings import Finding, ResourceRef
from policy_engine.model.workload import RunKind, Workload
from policy_engine.records import frozen_record
from policy_engine.wording import count

PERIOD_HOURS = {Period.DAY: 24.0, Period.WEEK: 168.0}


@frozen_record
class Usage:
    """Live usage of one group in the rule's metric for the current period."""

    used: float  # consumed since the period began
    running: float  # what pods running now will consume until the period ends


class UsageProvider(Protocol):
    def usage(self, rule: AggregateRule, key: str) -> Usage | None:
        """None means live state is unknown (not synced): the policy's failure mode decides."""
        ...


@frozen_record
class Contribution:
    """What one workload adds to one group of one aggregate rule in the rule's period."""

    policy: str
    rule_index: int
    key: str
    ref: ResourceRef
    amount: float | None  # None: cannot be projected (unpriced for a budget)
    unbounded: bool  # counted for the whole period because the job has no run-time bound
    gpu_hours: float  # the same workload's GPU-hours in the period (for pricing a quota's overage)
    cost: float | None  # the same workload's cost in the period

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # a worker returns one per workload and rule: a plain tuple each (see ``ResourceRef.__reduce__``)
        return Contribution, (self.policy, self.rule_index, self.key, self.ref, self.amount, self.unbounded,
                              self.gpu_hours, self.cost)




def period_hours(period: Period, hours_per_month: float) -> float:
    # ``PERIOD_HOURS.get(period, hours_per_month)`` by identity: an enum member hashes in Python (``Enum.__hash__``)
    # and ``project`` asks per workload and aggregate rule
    return _DAY_HOURS if period is _DAY else _WEEK_HOURS if period is _WEEK else hours_per_month


_DAY, _WEEK = Period.DAY, Period.WEEK
_DAY_HOURS, _WEEK_HOURS = PERIOD_HOURS[_DAY], PERIOD_HOURS[_WEEK]


def period_bounds(period: Period, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the calendar period holding ``now`` (UTC): a day from midnight, a week from Monday,
    a month from the 1st. The live cache, the ledger and Prometheus history all count in these periods."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period is Period.DAY:
        return day, day + timedelta(days=1)
    if period is Period.WEEK:
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    start = day.replace(day=1)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


#: The run kinds ``project`` tells apart, read once: on Python 3.11 each read of an enum member through its
#: class goes through ``EnumType.__getattr__`` (~0.1 µs), and ``project`` runs per workload and aggregate rule.
_UNBOUNDED, _CONTINUOUS, _SCHEDULED = RunKind.UNBOUNDED, RunKind.CONTINUOUS, RunKind.SCHEDULED


def project(w: Workload, period: Period, hours_per_month: float) -> tuple[float, bool]:
    """Hours the workload's pods run within one period, and whether that is the unbounded upper bound.

    Continuous kinds run the whole period; a one-off bounded job is assumed to run once within the
    period (capped at the period); a scheduled job runs its per-period share of runs; an unbounded
    job is counted for the whole period, and the finding says so.
    """
    span = period_hours(period, hours_per_month)
    rt = w.run_time
    kind = rt.kind
    if kind is _UNBOUNDED or rt.hours_per_run is None:
        return span, True
    if kind is _CONTINUOUS:
        return span, False
    if kind is _SCHEDULED:
        return min(rt.hours_per_run * rt.runs_per_month * span / hours_per_month, span), False
    return min(rt.hours_per_run, span), False


def contribution(policy: CompiledPolicy, index: int, rule: AggregateRule, w: Workload,
                 hours_per_month: float, ref: ResourceRef | None = None) -> Contribution | None:
    key = rule.key(w)
    if not key:  # an empty label is a missing one (model/dimensions.py)
        return None
    hours, unbounded = project(w, rule.period, hours_per_month)
    gpu_hours = gpus(w) * hours
    hourly = w.cost.hourly if w.cost is not None else None
    cost = hourly * hours if hourly is not None else None
    amount = gpu_hours if rule.metric == "gpu_hours" else cost
    return Contribution(policy.name, index, intern(key), ref or ResourceRef.of(w), amount, unbounded,
                        gpu_hours, cost)


def _fmt(value: float, metric: str) -> str:
    return f"${value:,.2f}" if metric == "cost" else f"{value:,.0f} GPU-hours"


def decide(policies: PolicySet, contributions: Iterable[Contribution],
           usage: UsageProvider | None = None) -> list[Finding]:
    """One finding per group whose projected use crosses a threshold of its limit."""
    groups: dict[tuple[str, int, str], list[Contribution]] = defaultdict(list)
    for c in contributions:
        groups[(c.policy, c.rule_index, c.key)].append(c)
    by_name = {p.name: p for p in policies.policies}
    findings: list[Finding] = []
    for (name, index, key), members in sorted(groups.items(), key=lambda kv: kv[0]):
        policy = by_name.get(name)
        if policy is None:
            continue
        rule = policy.aggregates[index]
        limit = rule.limit_for(key)
        if limit is None:
            continue
        members.sort(key=_ORDER)
        finding = _decide_group(policy, rule, key, limit, members, usage)
        if finding is not None:
            findings.append(finding)
    return findings


def _decide_group(policy: CompiledPolicy, rule: AggregateRule, key: str, limit: float,
                  members: Sequence[Contribution], usage: UsageProvider | None) -> Finding | None:
    baseline = 0.0
    live_note = ""
    if usage is not None:
        live = usage.usage(rule, key)
        if live is None:
            return _unknown_usage(policy, rule, key, members[0])
        baseline = live.used + live.running
        live_note = (f" ({_fmt(live.used, rule.metric)} used, {_fmt(live.running, rule.metric)} committed by "
                     f"running pods, {_fmt(sum(c.amount or 0.0 for c in members), rule.metric)} requested)")
    total = baseline
    crossing: list[Contribution] = []
    first = limit * min(rule.thresholds)  # (a team's quota has thousands of members)
    for c in members:
        if c.amount is None:
            continue
        total += c.amount
        if total > first or crossing:
            crossing.append(c)
    crossed = [t for t in sorted(rule.thresholds) if _over(total, limit, t)]
    if not crossed:
        return None
    threshold = crossed[-1]
    over = max(total - limit, 0.0)
    enforcement = policy.enforcement if threshold >= 1.0 else Enforcement.WARN
    unpriced = sum(1 for c in members if c.amount is None)
    unbounded = sum(1 for c in members if c.unbounded)
    label = f"{rule.key_label}={key}"
    percent = 100.0 * total / limit if limit else float("inf")
    notes = []
    if unbounded:
        notes.append(f"{count(unbounded, 'job')} with no run-time bound counted for the whole {rule.period.value}")
    if unpriced:
        notes.append(f"{count(unpriced, 'unpriced workload')} not counted")
    names = ", ".join(c.ref.display() for c in crossing[:5]) + (" …" if len(crossing) > 5 else "")
    values = {
        "group": label, "key": key, "used": _fmt(total, rule.metric), "limit": _fmt(limit, rule.metric),
        "percent": f"{percent:.0f}%", "over": _fmt(over, rule.metric), "period": rule.period.value,
        "workloads": names, "threshold": f"{threshold * 100:.0f}%",
    }
    if rule.message:
        message = _fill(rule.message, values)
    elif rule.kind == "budget":
        message = (f"{label} projects {values['used']} per {rule.period.value}{live_note}, {values['percent']} of "
                   f"its {values['limit']} budget (alert at {values['threshold']})")
    else:
        message = (f"{label} projects {values['used']} per {rule.period.value}{live_note} against a quota of "
                   f"{values['limit']} ({values['percent']})" + (f", over by {values['over']}" if over else ""))
    if not rule.message:
        if notes:
            message += "; " + "; ".join(notes)
        if names:
            message += f"; taken over by: {names}"
        if threshold >= 1.0:
            message += ". Reduce replicas, GPUs or run time, or raise the group's limit"
    saving = _overage_cost(rule, over, members) if over else None
    anchor = crossing[0] if crossing else members[-1]
    return Finding(policy=policy.name, rule=rule.kind, severity=policy.severity, enforcement=enforcement,
                   message=message, resource=anchor.ref, saving=saving, group=label,
                   monthly_cost=sum(c.cost for c in members if c.cost is not None) or None,
                   related=tuple(c.ref for c in crossing))


#: The order a group's members are read in: by file, line and name.
_ORDER = attrgetter("ref.file", "ref.line", "ref.name")


def _over(total: float, limit: float, threshold: float) -> bool:
    bound = limit * threshold
    return total > bound if threshold >= 1.0 else total >= bound


def _overage_cost(rule: AggregateRule, over: float, members: Sequence[Contribution]) -> float | None:
    if rule.metric == "cost":
        return over
    priced = [c for c in members if c.cost is not None and c.gpu_hours > 0]
    hours = sum(c.gpu_hours for c in priced)
    if not hours:
        return None
    return over * sum(c.cost or 0.0 for c in priced) / hours


def _unknown_usage(policy: CompiledPolicy, rule: AggregateRule, key: str, anchor: Contribution) -> Finding:
    closed = policy.failure_mode is FailureMode.CLOSED
    message = (f"live {rule.metric.replace('_', '-')} usage of {rule.key_label}={key} is unknown (cluster state "
               f"not synced); failure mode {policy.failure_mode.value}: "
               + ("request denied until the cache syncs" if closed else "allowed without the quota check"))
    return Finding(policy=policy.name, rule=rule.kind, severity=policy.severity,
                   enforcement=Enforcement.DENY if closed else Enforcement.WARN, message=message,
                   resource=anchor.ref, group=f"{rule.key_label}={key}", error=True)


def _fill(template: str, values: dict[str, str]) -> str:
    out = template
    for name, value in values.items():
        out = out.replace("{" + name + "}", value)
    return out
