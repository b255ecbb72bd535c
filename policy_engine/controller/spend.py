"""What the controller exports from the usage ledger each cycle: budget burn and unit economics.

- **budget burn**: every quota/budget group with a limit, its use so far and its forecast for the end of
  the rule's period (the figures ``usage`` prints, from the same ``usage_report``);
- **unit costs** this calendar month: cost per 1M generated and prompt tokens and per 1,000 requests of
  each serving workload (the serving engines' counters in the controller's Prometheus, divided into the
  ledger's cost of the same pods), and the cost of each training run that finished this month (the
  figures ``report --ledger`` and ``usage --format json`` show, from the same ``unit_costs``).

``metrics.Metrics.observe_spend`` turns them into gauges; docs/report.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from policy_engine.compiler.program import Period, PolicySet
from policy_engine.engine.aggregate import period_bounds
from policy_engine.ledger.observe import ledger_rules
from policy_engine.ledger.report import GroupLine, usage_report
from policy_engine.ledger.snapshot import LedgerHistory
from policy_engine.ledger.store import Ledger
from policy_engine.ledger.unit_costs import UnitCosts, unit_costs
from policy_engine.prometheus import Prometheus

UNIT_COST_PERIOD = Period.MONTH


@dataclass(frozen=True, slots=True)
class Spend:
    limits: list[tuple[Period, GroupLine]]  # groups with a limit, per rule period
    units: UnitCosts
    serving_asked: bool  # a Prometheus was configured for the serving counters


def spend(ledger: Ledger, policies: PolicySet, now: datetime, serving: Prometheus | None) -> Spend:
    """Raises ``LedgerError`` (or ``sqlite3.Error``) when the ledger cannot be read; a Prometheus that does
    not answer is ``units.error``, the rest is still there."""
    history = LedgerHistory(ledger)
    limits: list[tuple[Period, GroupLine]] = []
    for period in Period:
        if any(r.rule.period is period for r in ledger_rules(policies)):
            limits += [(period, g) for g in usage_report(history, policies, period, now).groups if g.limit]
    start, _ = period_bounds(UNIT_COST_PERIOD, now)
    return Spend(limits, unit_costs(ledger, start, now, serving), serving is not None)
