"""``policy-engine usage``: GPU-hours and spend per quota/budget group (or per dimension) this period.

Reads the ledger the controller writes (``--ledger``) or kube-state-metrics history in Prometheus
(``--prometheus``); prints used, running, projected end-of-period, the limit and percentages, and with DCGM
utilisation the actual cost split into used and idle, as text, JSON or Markdown.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from policy_engine.cli.exits import EXIT_ERROR, EXIT_OK

if TYPE_CHECKING:
    from policy_engine.ledger.unit_costs import UnitCosts

HELP = "GPU-hours and spend per quota/budget group this period, from the ledger"
LEDGER_ENV = "POLICY_ENGINE_LEDGER"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ledger", metavar="FILE", default=os.environ.get(LEDGER_ENV),
                        help=f"the ledger file (default: ${LEDGER_ENV})")
    parser.add_argument("--prometheus", metavar="URL",
                        help="read usage history from kube-state-metrics series in this Prometheus instead of "
                             "the ledger (and GPU utilisation from DCGM series there)")
    parser.add_argument("--prometheus-step", type=float, default=300.0, metavar="SECONDS",
                        help="resolution of the PromQL subqueries (default: 300)")
    parser.add_argument("--dcgm", metavar="URL",
                        help="Prometheus holding DCGM_FI_DEV_GPU_UTIL: split actual cost into used and idle "
                             "(default: --prometheus, if given)")
    parser.add_argument("--serving-metrics", metavar="URL",
                        help="Prometheus holding the serving engines' counters (vLLM, TGI, SGLang, Triton): cost "
                             "per 1M tokens and per 1,000 requests in --format json (needs --ledger; as report)")
    parser.add_argument("--period", choices=["day", "week", "month"], default="month",
                        help="the calendar period (UTC) to report (default: month); quotas and budgets of "
                             "that period are shown")
    parser.add_argument("--by", metavar="DIMS", default="",
                        help="group by comma-separated dimensions instead of by quota/budget group: label "
                             "names (team, cost-center, ...) or namespace, model, kind, workload, "
                             "instance_type, capacity_type, node")
    parser.add_argument("--policies", action="append", default=[], metavar="DIR",
                        help="policy directory or file with the quotas and budgets (default: the bundled library)")
    parser.add_argument("--pricing", metavar="FILE", help="pricing catalog (default: the bundled one)")
    parser.add_argument("--at", metavar="TIME", help="report as of this time (ISO 8601, UTC; default: now)")
    parser.add_argument("--format", choices=["text", "json", "markdown"], default="text")


def _fail(message: str) -> int:
    print(f"policy-engine usage: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def _parse_at(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def run(args: argparse.Namespace) -> int:
    from policy_engine.compiler.program import Period
    from policy_engine.engine import load_engine
    from policy_engine.errors import DiagnosticError
    from policy_engine.ledger.db import LedgerError
    from policy_engine.ledger.render import render
    from policy_engine.ledger.report import usage_report
    from policy_engine.ledger.snapshot import LedgerHistory
    from policy_engine.ledger.store import Ledger

    if not args.ledger and not args.prometheus:
        return _fail(f"no history: give --ledger FILE (or set ${LEDGER_ENV}) or --prometheus URL")
    if args.prometheus_step <= 0:
        return _fail("--prometheus-step must be positive")
    if args.serving_metrics and (args.prometheus or not args.ledger):
        return _fail("--serving-metrics needs --ledger (the pods' cost over the window comes from the ledger)")
    try:
        now = _parse_at(args.at)
    except ValueError:
        return _fail(f"--at {args.at}: not an ISO 8601 time (e.g. 2026-11-23T12:00:00Z)")
    by = tuple(d.strip() for d in args.by.split(",") if d.strip())
    try:
        engine = load_engine(args.policies or None, args.pricing)
    except DiagnosticError as exc:
        print(str(exc), file=sys.stderr)
        return _fail(f"{len(exc.errors)} error(s) in the policies or pricing")
    period = Period(args.period)
    dcgm = args.dcgm or args.prometheus
    failures: tuple[type[Exception], ...] = (LedgerError,)  # and its kinds: UnknownRule
    if dcgm:  # httpx is imported only when Prometheus is asked for
        from policy_engine.ledger.prometheus import PrometheusError, PrometheusHistory

        failures += (PrometheusError,)
    try:
        utilisation = None
        if dcgm:
            with PrometheusHistory(dcgm, catalog=engine.catalog, step=args.prometheus_step) as telemetry:
                utilisation = telemetry.utilisation(period, now)
        if args.prometheus:
            with PrometheusHistory(args.prometheus, catalog=engine.catalog, step=args.prometheus_step) as history:
                report = usage_report(history, engine.policies, period, now, by=by,
                                      source=f"prometheus {args.prometheus}", currency=engine.catalog.currency,
                                      utilisation=utilisation)
        else:
            with Ledger(args.ledger, readonly=True) as ledger:
                report = usage_report(LedgerHistory(ledger), engine.policies, period, now, by=by,
                                      source=f"ledger {args.ledger}", currency=engine.catalog.currency,
                                      utilisation=utilisation)
    except failures as exc:
        return _fail(str(exc))
    if args.ledger and not args.prometheus:
        report.unit_costs = _unit_costs(args.ledger, args.serving_metrics, report.start, now)
        if report.unit_costs.error:
            return _fail(report.unit_costs.error)
    sys.stdout.write(render(report, args.format))
    return EXIT_OK


def _unit_costs(path: str, serving_url: str | None, start: datetime, now: datetime) -> UnitCosts:
    """Unit costs over the period so far (the same figures as ``report --ledger``'s)."""
    from policy_engine.ledger.store import Ledger
    from policy_engine.ledger.unit_costs import unit_costs
    from policy_engine.prometheus import Prometheus

    with Ledger(path, readonly=True) as ledger:
        if serving_url is None:
            return unit_costs(ledger, start, now)
        with Prometheus(serving_url) as serving:
            return unit_costs(ledger, start, now, serving)
