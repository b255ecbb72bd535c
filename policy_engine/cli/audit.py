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
    from policy_engine.cluster import ClusterState, Timing
    from policy_engine.compiler.program import Enforcement
    from policy_engine.controller import audit as audit_mod
    from policy_engine.controller import reports
    from policy_engine.controller.inventory import Inventory
    from policy_engine.controller.kinds import workload_resources
    from policy_engine.controller.telemetry import GpuTelemetry
    from policy_engine.reporters import ReportContext, renderer
    from policy_engine.reporters.json_report import dumps

    inputs = load_inputs(args, "audit")
    if inputs is None:
        return EXIT_ERROR
    settings, engine, api = inputs
    prom = settings.prometheus
    if args.prometheus:
        prom = prom.model_copy(update={"url": args.prometheus.rstrip("/")})
    timing = Timing(backoff_max=5.0)
    at: datetime = args.at or datetime.now(UTC)

    def state(pod_observer: object) -> ClusterState:
        return ClusterState(api, catalog=engine.catalog, inherit_labels=settings.inherit_labels,
                            authoritative_labels=settings.authoritative_labels, timing=timing,
                            clock=lambda: at, pod_observer=pod_observer)  # type: ignore[arg-type]

    inventory = Inventory(api, state, workload_resources(), timing)
    inventory.start()
    prometheus = GpuTelemetry(prom)
    try:
        deadline = time.monotonic() + args.timeout
        while not inventory.synced:
            if time.monotonic() > deadline:
                print(f"policy-engine audit: the cluster was not listed within {args.timeout:g} s "
                      f"({_why(inventory)})", file=sys.stderr)
                return EXIT_ERROR
            time.sleep(0.05)
        result = audit_mod.run(engine, inventory, now=at, inherit_keys=settings.inherit_labels,
                               authoritative=settings.authoritative_labels,
                               exempt_namespaces=settings.exempt_namespaces,
                               require_expiry=settings.require_exemption_expiry,
                               telemetry=lambda window: prometheus.fetch(window, at.timestamp()),
                               stale_seconds=prom.stale_seconds)
    finally:
        inventory.stop()
        prometheus.close()
    for problem in result.errors:
        print(f"policy-engine audit: warning: {problem}", file=sys.stderr)
    ctx = ReportContext(policies=engine.policies, generated_at=time.time(),
                        fail_on=frozenset({Enforcement.DENY, Enforcement.WARN}) if args.fail_on == "warn"
                        else frozenset({Enforcement.DENY}))
    if args.format == "policyreport":
        sys.stdout.write("".join(f"---\n{dumps(r)}" for r in reports.build(result, settings.reports.name,
                                                                           settings.reports.api,
                                                                           settings.reports.max_results)))
    else:
        sys.stdout.write(renderer(args.format)(result.result, ctx))
    for skip in result.skips:
        print(f"skipped: {skip.policy} on {skip.resource.display()}: {skip.message}", file=sys.stderr)
    return EXIT_FINDINGS if ctx.failing(result.result) else EXIT_OK


def _why(inventory: object) -> str:
    from policy_engine.controller.inventory import Inventory

    assert isinstance(inventory, Inventory)
    errors = [f"{name}: {r.stats.last_error}" for name, r in {**inventory.state.reflectors,
                                                               **inventory.reflectors}.items()
              if r.stats.last_error]
    return "; ".join(errors[:3]) or "still listing"
