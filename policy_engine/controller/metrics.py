"""Prometheus metrics of the controller (its own registry), set from each audit and each action."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from policy_engine.controller.audit import Audit
from policy_engine.controller.idle import BUSY, IDLE, NO_DATA
from policy_engine.ledger.unit_costs import GENERATED, PROMPT, REQUESTS

if TYPE_CHECKING:
    from policy_engine.controller.spend import Spend

PREFIX = "policy_engine_controller"
CYCLE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.cycle = Histogram(f"{PREFIX}_audit_cycle_duration_seconds", "Wall time of one audit cycle "
                               "(build, evaluate, telemetry, reports, actions)", buckets=CYCLE_BUCKETS, registry=r)
        self.cycles = Counter(f"{PREFIX}_audit_cycles", "Audit cycles by result (ok, error)", ["result"], registry=r)
        self.findings = Gauge(f"{PREFIX}_findings", "Findings of the last audit by policy, namespace and severity",
                              ["policy", "namespace", "severity"], registry=r)
        self.skips = Gauge(f"{PREFIX}_skipped", "Results not judged in the last audit (exempt, no idle data) by "
                           "policy", ["policy"], registry=r)
        self.spend = Gauge(f"{PREFIX}_projected_monthly_spend", "Projected monthly spend of live workloads by "
                           "team and GPU model", ["team", "model"], registry=r)
        self.savings = Gauge(f"{PREFIX}_projected_monthly_savings", "Monthly saving if every finding were fixed, "
                             "by team and GPU model", ["team", "model"], registry=r)
        self.idle_waste = Gauge(f"{PREFIX}_idle_gpu_waste", "Money spent so far on GPUs idle for a whole window "
                                "(hourly price × idle hours) by team", ["team"], registry=r)
        self.idle = Gauge(f"{PREFIX}_idle_workloads", "Workloads an idle rule applies to, by state "
                          "(idle, busy, no-data)", ["state"], registry=r)
        self.actions = Counter(f"{PREFIX}_actions", "Idle actions by action (notify, stop, resume, clear), kind "
                               "and outcome (done, dry-run, capped, failed, not-stoppable)",
                               ["action", "kind", "outcome"], registry=r)
        self.workloads = Gauge(f"{PREFIX}_workloads", "Workloads evaluated in the last audit", registry=r)
        self.leader = Gauge(f"{PREFIX}_leader", "1 while this replica holds the lease", registry=r)
        self.synced = Gauge(f"{PREFIX}_cache_synced", "1 once every watched resource finished its first list",
                            registry=r)
        self.telemetry_up = Gauge(f"{PREFIX}_telemetry_up", "1 when the last cycle's Prometheus queries answered",
                                  registry=r)
        self.telemetry_series = Gauge(f"{PREFIX}_telemetry_series", "GPU series returned by the last queries",
                                      registry=r)
        # from the usage ledger (controller/spend.py)
        limit = ["policy", "kind", "metric", "group", "period"]
        self.budget_used = Gauge(f"{PREFIX}_budget_used", "Use so far this period of each quota/budget group with "
                                 "a limit (GPU-hours or money, as its metric label says)", limit, registry=r)
        self.budget_forecast = Gauge(f"{PREFIX}_budget_forecast", "Use forecast for the period's end: used plus "
                                     "what the pods running now commit until it ends", limit, registry=r)
        self.budget_limit = Gauge(f"{PREFIX}_budget_limit", "The group's limit for the period", limit, registry=r)
        serving = ["namespace", "workload"]
        self.serving_cost = Gauge(f"{PREFIX}_serving_cost", "Actual cost this month of the serving workloads' pods "
                                  "that report token or request counters", serving, registry=r)
        self.per_generated = Gauge(f"{PREFIX}_serving_cost_per_million_generated_tokens", "Cost per 1M generated "
                                   "tokens this month (vLLM, NIM, TGI, SGLang counters)", serving, registry=r)
        self.per_prompt = Gauge(f"{PREFIX}_serving_cost_per_million_prompt_tokens", "Cost per 1M prompt tokens "
                                "this month", serving, registry=r)
        self.per_requests = Gauge(f"{PREFIX}_serving_cost_per_thousand_requests", "Cost per 1,000 successful "
                                  "requests this month", serving, registry=r)
        self.serving_up = Gauge(f"{PREFIX}_serving_metrics_up", "1 when the last cycle's query of the serving "
                                "engines' counters answered (0: it did not, or no Prometheus is configured)",
                                registry=r)
        self.run_cost = Gauge(f"{PREFIX}_training_run_cost", "Cost of each training run (Job, PyTorchJob, RayJob "
                              "...) that finished this month, from its actual duration",
                              ["namespace", "workload", "kind"], registry=r)

    def observe(self, audit: Audit) -> None:
        self.workloads.set(audit.result.stats.workloads)
        _replace(self.findings, Tally((f.policy, f.resource.namespace or "", f.severity.value)
                                      for f in audit.result.findings))
        _replace(self.skips, Tally((s.policy,) for s in audit.skips))
        _replace(self.spend, audit.spend)
        _replace(self.savings, audit.savings)
        _replace(self.idle_waste, {(team,): v for team, v in audit.waste.items()})
        states = Tally(c.judgement.state for c in audit.idle)
        for state in (IDLE, BUSY, NO_DATA):
            self.idle.labels(state).set(states.get(state, 0))
        if audit.telemetry is not None:
            self.telemetry_up.set(0 if audit.telemetry.error else 1)
            self.telemetry_series.set(audit.telemetry.series)

    def observe_spend(self, s: Spend) -> None:
        """Budget burn and unit costs from the ledger; a ratio with nothing counted is absent, never 0."""
        keys = [((g.policy, g.kind, g.metric, g.key, p.value), g) for p, g in s.limits]
        _replace(self.budget_used, {k: g.used for k, g in keys})
        _replace(self.budget_forecast, {k: g.projected for k, g in keys})
        _replace(self.budget_limit, {k: g.limit or 0.0 for k, g in keys})
        serving = s.units.serving or []
        _replace(self.serving_cost, {(c.namespace, c.workload): c.cost for c in serving})
        for gauge, counter, unit in ((self.per_generated, GENERATED, 1e6), (self.per_prompt, PROMPT, 1e6),
                                     (self.per_requests, REQUESTS, 1e3)):
            _replace(gauge, {(c.namespace, c.workload): v for c in serving if (v := c.per(counter, unit)) is not None})
        if s.serving_asked:
            self.serving_up.set(0 if s.units.error else 1)
        _replace(self.run_cost, {(r.namespace, r.workload, r.kind): r.cost for r in s.units.runs})

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _replace(gauge: Gauge, values: Mapping[Any, float]) -> None:
    """Set a labelled gauge to exactly these series (series absent now are removed, not left stale)."""
    gauge.clear()
    for labels, value in values.items():
        gauge.labels(*labels).set(value)
