"""Prometheus metrics of the controller (its own registry), set from each audit and each action."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from policy_engine.controller.audit import Audit
from policy_engine.controller.idle import BUSY, IDLE, NO_DATA

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

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _replace(gauge: Gauge, values: Mapping[Any, float]) -> None:
    """Set a labelled gauge to exactly these series (series absent now are removed, not left stale)."""
    gauge.clear()
    for labels, value in values.items():
        gauge.labels(*labels).set(value)
