"""Live usage of one quota or budget group: what its pods used since the period began and what the pods
running now will use until it ends.

Periods are calendar periods in UTC: a day from midnight, a week from Monday, a month from the 1st.
``used`` = Σ over the group's pods seen this period of (GPUs, or the pod's hourly price for a budget) ×
the hours the pod ran inside the period; ``running`` = Σ over pods running now of the same rate × the hours
left in the period (or until the pod's ``activeDeadlineSeconds`` stops it, if sooner).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from policy_engine.cluster.pods import PodRecord
from policy_engine.compiler.program import Period
from policy_engine.engine import Usage
from policy_engine.engine.aggregate import period_bounds  # the one period arithmetic

__all__ = ["GroupUsage", "group_usage", "oldest_period_start", "period_bounds"]
HOUR = 3600.0


def oldest_period_start(now: datetime) -> datetime:
    """The earliest start of any current period: records that ended before it can be forgotten."""
    return min(period_bounds(p, now)[0] for p in Period)


def _hours(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0) / HOUR


@dataclass(frozen=True, slots=True)
class GroupUsage:
    usage: Usage
    pods: int
    unpriced: int  # pods left out of a budget because they could not be priced


def group_usage(records: Iterable[PodRecord], metric: str, period: Period, now: datetime) -> GroupUsage:
    start, end = period_bounds(period, now)
    used = running = 0.0
    pods = unpriced = 0
    for r in records:
        rate = r.gpus if metric == "gpu_hours" else r.hourly
        if rate is None:
            unpriced += 1
            continue
        if r.started is not None:
            stop = min(r.ended or now, now)
            if r.deadline is not None:
                stop = min(stop, r.deadline)
            if stop > start:
                used += rate * _hours(max(r.started, start), stop)
                pods += 1
        if r.running:
            until = end if r.deadline is None else min(end, r.deadline)
            running += rate * _hours(max(now, r.started or now), until)
    return GroupUsage(Usage(used=used, running=running), pods, unpriced)
