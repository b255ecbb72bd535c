"""Budget and quota alerts from the ledger's actual usage: thresholds, forecast, anomaly.

For every quota/budget rule and every group with a limit, after each ledger cycle:
- **threshold**: the group's used amount has reached a threshold of ``alert at`` (default 50/80/100%) of
  its limit. Only the highest newly crossed threshold is sent; the lower ones are remembered as fired too;
- **forecast** (``alert forecast``): at the rate the group's pods hold GPUs now, used + rate × time left
  crosses the limit before the period ends; the alert says around which day;
- **anomaly** (``alert anomaly F over D``): yesterday's use exceeded the trailing daily average of the D
  days before it × F.
Each alert fires once per group per period (an anomaly once per day): the ledger remembers what went out.
An alert is remembered only after every notifier took it, so a failed delivery is retried next cycle
(at least once; Alertmanager de-duplicates repeats by their labels).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from policy_engine.compiler.program import PolicySet
from policy_engine.engine.aggregate import period_bounds
from policy_engine.ledger.observe import LedgerRule, ledger_rules
from policy_engine.ledger.store import Figures, Ledger

LOG = logging.getLogger("policy_engine.ledger")
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # threshold | forecast | anomaly
    name: str  # what the ledger remembers: "threshold-80", "forecast", "anomaly-2026-11-22"
    policy: str
    rule: str  # the ledger's group key id, e.g. labels["team"]
    rule_kind: str  # quota | budget
    metric: str  # gpu_hours | cost
    group: str  # how people name the group: "team nlp", "namespace ml-prod"
    key: str
    period: str  # day | week | month
    period_start: datetime
    period_end: datetime
    used: float
    limit: float
    projected: float  # used + what running pods commit until the period ends
    summary: str
    threshold: float | None = None
    forecast_at: datetime | None = None
    day_amount: float | None = None
    trailing_average: float | None = None
    workloads: tuple[tuple[str, float], ...] = ()  # top workloads by spend (GPU-hours for quotas)
    ends_at: datetime | None = None  # when the condition stops mattering (the period's or the day's end)
    label_name: str | None = None  # "team" for a rule grouping by labels["team"]

    @property
    def severity(self) -> str:
        return "critical" if self.kind == "threshold" and (self.threshold or 0) >= 1.0 else "warning"


class Notifier(Protocol):
    name: str

    def send(self, alerts: Sequence[Alert]) -> None:
        """Deliver the alerts or raise (they are then retried next cycle)."""
        ...


def amount(value: float, metric: str) -> str:
    return f"${value:,.0f}" if metric == "cost" else f"{value:,.0f} GPU-hours"


def ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def group_name(key_label: str, key: str) -> tuple[str, str | None]:
    """``labels["team"]`` + nlp -> ("team nlp", "team"); ``namespace`` + ml -> ("namespace ml", None)."""
    if key_label.startswith('labels["') and key_label.endswith('"]'):
        label = key_label[len('labels["'):-2]
        return f"{label} {key}", label
    if key_label.isidentifier():
        return f"{key_label} {key}", None
    return f"{key_label}={key}", None


@dataclass
class Alerter:
    """Finds the alerts due after a ledger cycle, sends them, and remembers them in the ledger."""

    ledger: Ledger
    policies: Callable[[], PolicySet]
    notifiers: Sequence[Notifier]
    top: int = 5
    _anomaly_day: dict[str, datetime] = field(default_factory=dict)  # rule id -> last day checked

    def __call__(self, now: datetime) -> list[Alert]:
        return self.run(now)

    def run(self, now: datetime) -> list[Alert]:
        sent: list[Alert] = []
        for alert in self.due(now):
            try:
                for notifier in self.notifiers:
                    notifier.send([alert])
            except Exception as exc:
                LOG.warning(f"alert {alert.name} for {alert.group} not delivered ({type(exc).__name__}: {exc}); "
                            "retrying next cycle")
                continue
            self.ledger.mark_fired(alert.rule, alert.key, alert.period_start, alert.name, now, alert.summary)
            sent.append(alert)
        return sent

    def due(self, now: datetime) -> list[Alert]:
        out: list[Alert] = []
        for r in ledger_rules(self.policies()):
            if not self.ledger.knows(r.id):
                continue
            figures = self.ledger.group_usage(r.id, r.rule.period, now)
            for key, f in sorted(figures.items()):
                limit = r.rule.limit_for(key)
                if limit is None or limit <= 0:
                    continue
                out += self._thresholds(r, key, f, limit, now)
                if r.rule.forecast:
                    out += self._forecast(r, key, f, limit, now)
            if r.rule.anomaly_factor is not None:
                out += self._anomalies(r, now)
        return out

    # -- the three kinds ----------------------------------------------------------------------------------

    def _base(self, r: LedgerRule, key: str, f: Figures, limit: float, now: datetime, start: datetime,
              end: datetime) -> dict[str, object]:
        metric = r.rule.metric
        group, label = group_name(r.key_label, key)
        top = tuple((w.key[0], w.used(metric)) for w in self.ledger.workloads(r.id, key, r.rule.period, now, self.top))
        return {"policy": r.policy, "rule": r.id, "rule_kind": r.rule.kind, "metric": metric, "group": group,
                "key": key, "period": r.rule.period.value, "period_start": start, "period_end": end,
                "used": f.used(metric), "limit": limit, "projected": f.used(metric) + f.running(metric),
                "workloads": top, "label_name": label}

    def _thresholds(self, r: LedgerRule, key: str, f: Figures, limit: float, now: datetime) -> list[Alert]:
        start, end = period_bounds(r.rule.period, now)
        used = f.used(r.rule.metric)
        crossed = [t for t in sorted(r.rule.alert_thresholds) if used >= limit * t]
        fresh = [t for t in crossed if not self.ledger.fired(r.id, key, start, f"threshold-{t * 100:.0f}")]
        if not fresh:
            return []
        for lower in fresh[:-1]:  # one message for a jump past several thresholds: the highest
            self.ledger.mark_fired(r.id, key, start, f"threshold-{lower * 100:.0f}", now, "superseded")
        t = fresh[-1]
        base = self._base(r, key, f, limit, now, start, end)
        noun = "budget" if r.rule.kind == "budget" else "quota"
        summary = (f"{base['group']} has used {amount(used, r.rule.metric)} of its {amount(limit, r.rule.metric)} "
                   f"{noun} this {r.rule.period.value} ({100 * used / limit:.0f}%, alert at {t * 100:.0f}%)")
        return [Alert(kind="threshold", name=f"threshold-{t * 100:.0f}", summary=summary, threshold=t,
                      ends_at=end, **base)]  # type: ignore[arg-type]

    def _forecast(self, r: LedgerRule, key: str, f: Figures, limit: float, now: datetime) -> list[Alert]:
        start, end = period_bounds(r.rule.period, now)
        used, rate = f.used(r.rule.metric), f.rate(r.rule.metric)
        if used >= limit or rate <= 0 or self.ledger.fired(r.id, key, start, "forecast"):
            return []
        crossing = now + timedelta(hours=(limit - used) / rate)
        if crossing >= end:
            return []
        base = self._base(r, key, f, limit, now, start, end)
        noun = "budget" if r.rule.kind == "budget" else "quota"
        summary = (f"{base['group']} will exceed its {amount(limit, r.rule.metric)} {noun} around the "
                   f"{ordinal(crossing.day)} ({crossing:%Y-%m-%d %H:00} UTC): {amount(used, r.rule.metric)} used, "
                   f"{amount(rate, r.rule.metric)} per hour now")
        return [Alert(kind="forecast", name="forecast", summary=summary, forecast_at=crossing, ends_at=end,
                      **base)]  # type: ignore[arg-type]

    def _anomalies(self, r: LedgerRule, now: datetime) -> list[Alert]:
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        day = today - DAY  # the last complete day
        if self._anomaly_day.get(r.id) == day:
            return []
        factor, days, metric = float(r.rule.anomaly_factor or 0.0), r.rule.anomaly_days, r.rule.metric
        per_day = [self.ledger.usage_between(r.id, d, d + DAY, d + DAY)
                   for d in (day - back * DAY for back in range(days, -1, -1))]
        trailing, last = per_day[:-1], per_day[-1]
        out = []
        for key, f in sorted(last.items()):
            amount_day = f.used(metric)
            average = sum(d[key].used(metric) for d in trailing if key in d) / days
            name = f"anomaly-{day:%Y-%m-%d}"
            if average <= 0 or amount_day <= average * factor or self.ledger.fired(r.id, key, day, name):
                continue
            limit = r.rule.limit_for(key) or 0.0
            base = self._base(r, key, f, limit, now, day, day + DAY)
            base.update(used=amount_day, projected=amount_day, period="day")
            summary = (f"{base['group']} used {amount(amount_day, metric)} on {day:%Y-%m-%d}, "
                       f"{amount_day / average:.1f}× its {days}-day average of {amount(average, metric)} "
                       f"(alert above {factor:g}×)")
            out.append(Alert(kind="anomaly", name=name, summary=summary, day_amount=amount_day,
                             trailing_average=average, ends_at=day + 2 * DAY, **base))  # type: ignore[arg-type]
        if not out:  # nothing to send for that day: do not ask again until the next one
            self._anomaly_day[r.id] = day
        return out
