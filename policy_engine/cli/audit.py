"""``policy-engine audit``: the controller's evaluation, once, from a laptop or a CI job.

Lists every workload in the cluster (the same inventory the controller watches), evaluates it with the
policies, judges idle rules from Prometheus when ``--prometheus`` (or the settings) names one, and prints
the report formats ``check`` has. Exit codes as ``check``: 1 when a finding fails the run.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from policy_engine.cli.controller import add_cluster_arguments, load_inputs
from policy_engine.cli.exits import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK
from policy_engine.reporters import FORMATS

HELP = "evaluate what runs in a cluster once and print a report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policies", action="append", default=[], metavar="DIR",
                        help="policy directory or file (repeatable; default: the bundled library)")
    parser.add_argument("--pricing", metavar="FILE", help="pricing catalog (default: the bundled one)")
    parser.add_argument("--config", metavar="FILE", help="controller settings (exemptions, Prometheus…)")
    parser.add_argument("--prometheus", metavar="URL", help="Prometheus with the DCGM series (overrides settings)")
    parser.add_argument("--format", "-f", choices=sorted(FORMATS), default="text")
    parser.add_argument("--fail-on", choices=["deny", "warn"], default="deny")
    parser.add_argument("--at", type=instant, metavar="TIME",
                        help="audit as of this moment, ISO 8601 with a timezone (e.g. 2026-11-23T12:00:00Z): "
                             "idle windows end then, usage counts up to then, exemptions expire against it "
                             "(default: now)")
    parser.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                        help="give up when the cluster has not been listed within this time (default: 120)")
    add_cluster_arguments(parser)


def instant(text: str) -> datetime:
    """``--at``: an ISO 8601 time that says its timezone (a bare local time would mean a different moment
    on the laptop and in the CI job)."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time (e.g. 2026-11-23T12:00:00Z)") from None
    if at.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no timezone: add Z or an offset (e.g. {text}Z)")
    return at.astimezone(UTC)


def run(args: argparse.Namespace) -> int:
    from policy_engine.compiler.program import Enforcement
    from policy_engine.controller.once import audit_cluster, report
    from policy_engine.errors import ClusterNotListed
    from policy_engine.reporters import ReportContext

    inputs = load_inputs(args, "audit")
    if inputs is None:
        return EXIT_ERROR
    settings, engine, api = inputs
    if args.prometheus:
        settings = settings.model_copy(update={"prometheus": settings.prometheus.model_copy(
            update={"url": args.prometheus.rstrip("/")})})
    try:
        audit = audit_cluster(engine, api, settings, at=args.at or datetime.now(UTC), timeout=args.timeout)
    except ClusterNotListed as exc:
        print(f"policy-engine audit: {exc}", file=sys.stderr)
        return EXIT_ERROR
    for problem in audit.errors:
        print(f"policy-engine audit: warning: {problem}", file=sys.stderr)
    ctx = ReportContext(policies=engine.policies, generated_at=time.time(),
                        fail_on=frozenset({Enforcement.DENY, Enforcement.WARN}) if args.fail_on == "warn"
                        else frozenset({Enforcement.DENY}))
    sys.stdout.writelines(report(audit, args.format, ctx, settings))
    sys.stdout.flush()
    for skip in audit.skips:
        print(f"skipped: {skip.policy} on {skip.resource.display()}: {skip.message}", file=sys.stderr)
    return EXIT_FINDINGS if ctx.failing_count(audit.result) else EXIT_OK
