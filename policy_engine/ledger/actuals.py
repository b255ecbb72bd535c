"""Actual spend for the showback page: what the ledger recorded, beside what the manifests project.

From the ledger (and, when given, Prometheus) for the current period:

- **budgets and quotas**: each group's use so far and its forecast for the period's end (used plus what the
  pods running now commit until it ends), as a percentage of its limit, against the 50/80/100% alert lines;
- **actual vs projected per team**: the ledger's spend so far and forecast beside the manifests' projected
  monthly spend;
- **idle waste per team**, given a source of GPU utilisation (``report --dcgm``, as ``usage --dcgm``):
  each pod's actual cost split into used (cost × its mean ``DCGM_FI_DEV_GPU_UTIL``), idle waste
  (cost × (1 − utilisation)) and unmeasured (pods with no utilisation series), summed per team;
- **spend per day** over the last days;
- **unit costs**: cost per 1M tokens and per 1,000 requests of serving workloads, and the cost of each
  training run that finished in the period (``unit_costs``).

``build_actuals`` computes the figures once; ``sections`` lays them out for ``html_report`` and
``to_dict`` for ``report --format json`` — the same numbers in both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from policy_engine.compiler.program import Period, PolicySet
from policy_engine.ledger.db import LedgerError
from policy_engine.ledger.report import GroupLine, Split, usage_report
from policy_engine.ledger.snapshot import LedgerHistory
from policy_engine.ledger.store import Ledger
from policy_engine.ledger.unit_costs import (
    GENERATED,
    PROMPT,
    REQUESTS,
    ServingCost,
    TrainingRun,
    unit_costs,
)
from policy_engine.prometheus import Prometheus, PrometheusError
from policy_engine.reporters.charts import COLOURS, bar_chart, daily_chart, percent_chart, split_chart
from policy_engine.reporters.html_report import Section, Table, money

TEAM = "team"
DAYS = 14


class UtilisationSource(Protocol):
    """Mean GPU utilisation (0..1) per (namespace, pod) over the period so far: ``PrometheusHistory``."""

    def utilisation(self, period: Period, now: datetime) -> Mapping[tuple[str, str], float]: ...


@dataclass(frozen=True, slots=True)
class TeamActual:
    team: str
    used: float  # actual spend so far
    forecast: float
    projected: float | None  # the manifests' projected monthly spend (None: no manifest of this team)
    split: Split | None = None  # that spend split by GPU utilisation; None without utilisation

    @property
    def idle(self) -> float | None:
        """Actual cost × (1 − utilisation): paid for, not used (None without utilisation)."""
        return self.split.idle if self.split is not None else None


@dataclass(slots=True)
class Actuals:
    period: Period
    start: datetime
    now: datetime
    source: str
    currency: str
    limits: list[GroupLine] = field(default_factory=list)
    teams: list[TeamActual] = field(default_factory=list)
    daily: list[tuple[str, float]] = field(default_factory=list)
    serving: list[ServingCost] = field(default_factory=list)
    runs: list[TrainingRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    utilisation: bool = False  # whether the teams' spend was split by measured GPU utilisation
    failed: list[str] = field(default_factory=list)  # a Prometheus asked for did not answer (also in notes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period.value, "start": self.start.isoformat(), "now": self.now.isoformat(),
            "source": self.source, "currency": self.currency,
            "limits": [{"policy": g.policy, "kind": g.kind, "metric": g.metric, "group": g.key,
                        "used": round(g.used, 2), "forecast": round(g.projected, 2), "limit": g.limit,
                        "used_percent": _pct(g.percent(g.used)), "forecast_percent": _pct(g.percent(g.projected))}
                       for g in self.limits],
            "teams": [{"team": t.team, "used": round(t.used, 2), "forecast": round(t.forecast, 2),
                       "projected_from_manifests": None if t.projected is None else round(t.projected, 2),
                       "idle": None if t.idle is None else round(t.idle, 2)} for t in self.teams],
            "idle_waste": [_idle_dict(t) for t in self.teams] if self.utilisation else None,
            "daily": [{"day": d, "cost": round(c, 2)} for d, c in self.daily],
            "serving": [s.to_dict() for s in self.serving],
            "training_runs": [r.to_dict() for r in self.runs],
            "notes": list(self.notes),
        }


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _idle_dict(t: TeamActual) -> dict[str, Any]:
    s = t.split or Split(0.0, 0.0, 0.0)
    share = s.idle_share
    return {"team": t.team, "cost": round(t.used, 2), "used": round(s.used, 2), "idle": round(s.idle, 2),
            "unmeasured": round(s.unmeasured, 2), "idle_percent": None if share is None else round(100 * share, 1)}


def build_actuals(ledger: Ledger, policies: PolicySet, now: datetime, *, period: Period = Period.MONTH,
                  projected: Mapping[str, float] | None = None, currency: str = "USD", source: str = "",
                  dcgm: UtilisationSource | None = None,
                  serving: Prometheus | None = None, days: int = DAYS) -> Actuals:
    """The period's actual figures; a Prometheus that does not answer leaves its part out, with a note
    and an entry in ``failed`` (never zeros in its place)."""
    history = LedgerHistory(ledger)
    limits = usage_report(history, policies, period, now, source=source, currency=currency)
    out = Actuals(period, limits.start, now, source, currency, notes=list(limits.notes))
    utilisation = None
    if dcgm is not None:
        try:
            utilisation = dcgm.utilisation(period, now)
        except (PrometheusError, LedgerError) as exc:  # LedgerError: UnknownRule
            out.failed.append(f"idle waste left out: GPU utilisation (--dcgm): {exc}")
    out.utilisation = utilisation is not None
    by_team = usage_report(history, policies, period, now, by=(TEAM,), source=source, currency=currency,
                           utilisation=utilisation)
    out.limits = [g for g in limits.groups if g.limit]
    projected = dict(projected or {})
    seen = set()
    for row in by_team.rows:
        team = row.figures.key[0]
        seen.add(team)
        split = row.split if row.split is not None or utilisation is None else Split(0.0, 0.0, 0.0)
        out.teams.append(TeamActual(team, row.figures.cost, row.figures.cost + row.figures.cost_running,
                                    projected.get(team), split))
    nothing = Split(0.0, 0.0, 0.0) if utilisation is not None else None
    out.teams += [TeamActual(t, 0.0, 0.0, p, nothing) for t, p in sorted(projected.items()) if t not in seen]
    first = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    spans = ledger.pod_spans(first, now)
    for i in range(days + 1):
        day = first + timedelta(days=i)
        a, b = day.timestamp(), min(day + timedelta(days=1), now).timestamp()
        out.daily.append((day.date().isoformat(),
                          sum(s.hourly * s.hours_within(a, b) for s in spans if s.hourly is not None)))
    units = unit_costs(ledger, limits.start, now, serving)
    out.runs, out.serving = units.runs, units.serving or []
    if units.error:
        out.failed.append(units.error)
    out.notes += out.failed
    return out


def sections(a: Actuals) -> list[Section]:
    cur = a.currency
    out: list[Section] = []
    if a.limits:
        labels = [f"{g.key} ({g.policy})" for g in a.limits]
        rows = [[g.key, g.policy, g.kind, _amount(g.used, g.metric, cur), _amount(g.projected, g.metric, cur),
                 _amount(g.limit or 0.0, g.metric, cur), f"{g.percent(g.used) or 0:.1f}%",
                 f"{g.percent(g.projected) or 0:.1f}%"] for g in a.limits]
        out.append(Section(
            "Budgets and quotas this period",
            Table("limits", "Use so far and forecast for the period's end, against each limit",
                  ["group", "policy", "kind", "used", "forecast", "limit", "used %", "forecast %"], rows,
                  frozenset({3, 4, 5, 6, 7})),
            percent_chart(labels, [g.percent(g.used) or 0.0 for g in a.limits],
                          [g.percent(g.projected) or 0.0 for g in a.limits]),
            "Forecast: used so far plus what the pods running now commit until the period ends. Dashed lines: "
            "the 50%, 80% and 100% alert thresholds."))
    if a.teams:
        rows = [[t.team, money(t.used, cur), money(t.forecast, cur),
                 money(t.projected, cur) if t.projected is not None else ""] for t in a.teams]
        out.append(Section(
            "Actual vs projected spend per team",
            Table("actual-by-team", "Actual spend (ledger) beside the manifests' projection",
                  ["team", f"actual so far ({cur})", f"forecast ({cur})", f"projected from manifests ({cur}/month)"],
                  rows, frozenset({1, 2, 3})),
            bar_chart([t.team for t in a.teams], [t.used for t in a.teams], unit=f"{cur} so far")))
    if a.utilisation and a.teams:
        out.append(_idle_section(a.teams, cur))
    if a.daily:
        out.append(Section(
            "Spend per day", Table("daily", "Actual spend per UTC day", ["day", cur],
                                   [[d, money(c, cur)] for d, c in a.daily], frozenset({1})),
            daily_chart([d for d, _ in a.daily], [c for _, c in a.daily], unit=cur)))
    if a.serving:
        rows = [[s.workload, s.namespace, money(s.cost, cur), _per(s.per(GENERATED, 1e6), cur),
                 _per(s.per(PROMPT, 1e6), cur), _per(s.per(REQUESTS, 1e3), cur),
                 str(s.unpriced_pods) if s.unpriced_pods else ""] for s in a.serving]
        out.append(Section(
            "Unit costs of serving workloads",
            Table("serving", "Cost per unit of work this period",
                  ["workload", "namespace", "cost", "per 1M generated tokens", "per 1M prompt tokens",
                   "per 1,000 requests", "pods without a price"], rows, frozenset({2, 3, 4, 5, 6})),
            None, "The serving engines' token and request counters in Prometheus, divided into the ledger's cost "
                  "of the same pods over the same time."))
    if a.runs:
        rows = [[r.workload, r.namespace, f"{r.hours:,.2f}", f"{r.gpu_hours:,.1f}", money(r.cost, cur)]
                for r in a.runs]
        out.append(Section(
            "Training runs finished this period",
            Table("training-runs", "The cost of each finished run from its actual duration",
                  ["run", "namespace", "hours", "GPU-hours", "cost"], rows, frozenset({2, 3, 4})), None))
    return out


def _idle_section(teams: list[TeamActual], cur: str) -> Section:
    """Per team, the actual spend so far split into used, idle and unmeasured (the same rows as JSON)."""
    splits = [t.split or Split(0.0, 0.0, 0.0) for t in teams]
    rows = [[t.team, money(t.used, cur), money(s.used, cur), money(s.idle, cur), money(s.unmeasured, cur),
             "" if s.idle_share is None else f"{100 * s.idle_share:.1f}%"] for t, s in zip(teams, splits, strict=True)]
    chart = split_chart([t.team for t in teams], [
        ("used", COLOURS["spend"], [s.used for s in splits]),
        ("idle waste", COLOURS["warn"], [s.idle for s in splits]),
        ("no utilisation data", COLOURS["unmeasured"], [s.unmeasured for s in splits])], unit=f"{cur} so far")
    return Section(
        "Idle GPU waste per team",
        Table("idle-by-team", "Actual spend so far split by measured GPU utilisation",
              ["team", f"actual cost ({cur})", f"used ({cur})", f"idle waste ({cur})",
               f"no utilisation data ({cur})", "idle %"], rows, frozenset({1, 2, 3, 4, 5})),
        chart, "Each pod's actual cost × its mean GPU utilisation (DCGM_FI_DEV_GPU_UTIL) over the period is "
               "used, the rest idle waste; pods without a utilisation series are counted apart. Idle %: idle "
               "waste as a share of the measured cost.")


def _amount(value: float, metric: str, currency: str) -> str:
    return f"{value:,.1f} GPU-h" if metric == "gpu_hours" else money(value, currency)


def _per(value: float | None, currency: str) -> str:
    return "" if value is None else money(value, currency)
