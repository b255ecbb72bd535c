"""``policy-engine report PATHS --html out.html``: the showback report people look at.

Loads the manifests, evaluates them with the policies (for savings and findings) and the catalog, and
writes one self-contained HTML page and/or prints the same numbers as JSON. Load and model errors are
printed located on stderr and make the exit code 2; the report of what could be read is still written.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from policy_engine.cli.exits import EXIT_ERROR, EXIT_OK
from policy_engine.diagnostics import render_all
from policy_engine.engine import Options, load_engine
from policy_engine.errors import DiagnosticError
from policy_engine.model.documents import LoadError, load_paths

if TYPE_CHECKING:
    from policy_engine.engine import Engine
    from policy_engine.ledger.actuals import Actuals
    from policy_engine.reporters.html_report import Section

HELP = "showback report: spend, savings and the costliest workloads as one HTML page (or JSON)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH", help="manifest files or directories, - for stdin; default .")
    p.add_argument("--html", metavar="FILE", help="write the self-contained HTML report to FILE")
    p.add_argument("--format", choices=("json", "none"), default=None,
                   help="print the report's numbers on stdout (default: json unless --html is given)")
    p.add_argument("--policies", action="append", default=[], metavar="FILE_OR_DIR",
                   help="policy files or directories (repeatable; default: the bundled library)")
    p.add_argument("--pricing", metavar="FILE", help="pricing catalog (default: the bundled catalog)")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip matching paths")
    p.add_argument("--title", default="GPU spend showback", help="the page's title")
    actual = p.add_argument_group("actual spend (from the usage ledger the controller writes)")
    actual.add_argument("--ledger", metavar="FILE", help="add actual spend this period from this ledger file")
    actual.add_argument("--period", choices=("day", "week", "month"), default="month",
                        help="the calendar period (UTC) of the actual figures (default: month)")
    actual.add_argument("--at", metavar="TIME", help="actual figures as of this time (ISO 8601, UTC; default: now)")
    actual.add_argument("--dcgm", metavar="URL",
                        help="Prometheus holding DCGM_FI_DEV_GPU_UTIL: split each team's actual spend into used "
                             "and idle waste (as usage --dcgm)")
    actual.add_argument("--prometheus-step", type=float, default=300.0, metavar="SECONDS",
                        help="resolution of the PromQL queries for --dcgm (default: 300, as usage)")
    actual.add_argument("--serving-metrics", metavar="URL",
                        help="Prometheus holding the serving engines' counters (vLLM, TGI, SGLang, Triton): "
                             "cost per 1M tokens and per 1,000 requests")


def run(args: argparse.Namespace) -> int:
    from policy_engine.reporters.showback_report import build_report

    try:
        engine = load_engine(args.policies or None, args.pricing)
    except DiagnosticError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    paths = list(args.paths) or ["."]
    result = engine.evaluate(load_paths(paths, args.exclude), options=Options(workloads=True))
    report = build_report(result, engine.catalog)
    diagnostics = [e.diagnostic if isinstance(e, LoadError) else e for e in result.errors]
    actuals = None
    if args.ledger:
        try:
            actuals = _actuals(args, engine, {r.label: r.monthly for r in report.breakdowns[0].rows})
        except ValueError as exc:
            print(f"policy-engine report: {exc}", file=sys.stderr)
            return EXIT_ERROR
    elif args.dcgm or args.serving_metrics:
        print("policy-engine report: --dcgm and --serving-metrics need --ledger (the actual spend they divide)",
              file=sys.stderr)
        return EXIT_ERROR
    if args.html:
        from policy_engine.reporters.charts import ChartsUnavailable
        from policy_engine.reporters.html_report import render_html

        try:
            page = render_html(report, title=args.title, source=", ".join(paths),
                               actual=_sections(actuals) if actuals is not None else (),
                               actual_intro=_intro(actuals) if actuals is not None else "")
        except ChartsUnavailable as exc:
            print(f"policy-engine report: {exc}", file=sys.stderr)
            return EXIT_ERROR
        try:
            Path(args.html).write_text(page, encoding="utf-8")
        except OSError as exc:
            print(f"policy-engine report: --html {args.html}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_ERROR
        print(f"policy-engine report: wrote {args.html} ({len(page.encode()) / 1024:,.0f} KiB)", file=sys.stderr)
    fmt = args.format or ("none" if args.html else "json")
    if fmt == "json":
        body = {**report.to_dict(), "errors": [d.to_dict() for d in diagnostics]}
        if actuals is not None:
            body["actual"] = actuals.to_dict()
        print(json.dumps(body, indent=2))
    if diagnostics:
        print(render_all(diagnostics), file=sys.stderr)
    for failure in actuals.failed if actuals is not None else ():
        print(f"policy-engine report: {failure}", file=sys.stderr)
    failed = any(d.is_error for d in diagnostics) or (actuals is not None and bool(actuals.failed))
    return EXIT_ERROR if failed else EXIT_OK


def _actuals(args: argparse.Namespace, engine: Engine, projected: dict[str, float]) -> Actuals:
    """The ledger's figures for the period; ValueError with a message a person can act on."""
    from policy_engine.compiler.program import Period
    from policy_engine.ledger.actuals import build_actuals
    from policy_engine.ledger.db import LedgerError
    from policy_engine.ledger.store import Ledger
    from policy_engine.prometheus import Prometheus

    now = datetime.now(UTC)
    if args.at:
        try:
            now = datetime.fromisoformat(args.at.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"--at {args.at}: not an ISO 8601 time (e.g. 2026-11-23T12:00:00Z)") from None
        now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    if not Path(args.ledger).is_file():
        raise ValueError(f"--ledger {args.ledger}: no such file (the controller writes it; see docs/usage.md)")
    if args.prometheus_step <= 0:
        raise ValueError("--prometheus-step must be positive")
    dcgm = None
    if args.dcgm:
        from policy_engine.ledger.prometheus import PrometheusHistory

        dcgm = PrometheusHistory(args.dcgm, catalog=engine.catalog, step=args.prometheus_step)
    serving = Prometheus(args.serving_metrics) if args.serving_metrics else None
    try:
        with Ledger(args.ledger, readonly=True) as ledger:
            return build_actuals(ledger, engine.policies, now, period=Period(args.period), projected=projected,
                                 currency=engine.catalog.currency, source=f"ledger {args.ledger}",
                                 dcgm=dcgm, serving=serving)
    except LedgerError as exc:
        raise ValueError(str(exc)) from exc
    finally:
        if serving is not None:
            serving.close()
        if dcgm is not None:
            dcgm.close()


def _sections(actuals: Actuals) -> list[Section]:
    from policy_engine.ledger.actuals import sections

    return sections(actuals)


def _intro(a: Actuals) -> str:
    notes = "; ".join(a.notes)
    return (f"From the {a.source}, {a.period.value} from {a.start:%Y-%m-%d} to {a.now:%Y-%m-%d %H:%M} UTC."
            + (f" Notes: {notes}." if notes else ""))
