"""``policy-engine audit``: the controller's evaluation, once, from a laptop or a CI job.

Lists every workload in the cluster (the same inventory the controller watches), evaluates it with the
policies, judges idle rules from Prometheus when ``--prometheus`` (or the settings) names one, and prints
the report formats ``check`` has. Exit codes as ``check``: 1 when a finding fails the run.
"""

from __future__ import annotations

import argparse
import sys
import time

from policy_engine.cli.controller import add_cluster_arguments
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
    parser.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                        help="give up when the cluster has not been listed within this time (default: 120)")
    add_cluster_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from kubernetes.config.config_exception import ConfigException

    from policy_engine.cluster import ClusterState, Timing
    from policy_engine.compiler.program import Enforcement
    from policy_engine.controller import api_client, reports
    from policy_engine.controller import audit as audit_mod
    from policy_engine.controller.inventory import Inventory
    from policy_engine.controller.kinds import workload_resources
    from policy_engine.controller.settings import load_settings
    from policy_engine.controller.telemetry import GpuTelemetry
    from policy_engine.engine import load_engine
    from policy_engine.errors import DiagnosticError
    from policy_engine.reporters import ReportContext, renderer
    from policy_engine.reporters.json_report import dumps

    try:
        settings = load_settings(args.config)
        engine = load_engine(args.policies or None, args.pricing)
        api = api_client(args.kubeconfig, args.in_cluster, args.context)
    except DiagnosticError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    except (OSError, ConfigException) as exc:
        print(f"policy-engine audit: {exc}", file=sys.stderr)
        return EXIT_ERROR
    prom = settings.prometheus
    if args.prometheus:
        prom = prom.model_copy(update={"url": args.prometheus.rstrip("/")})
    timing = Timing(backoff_max=5.0)

    def state(pod_observer: object) -> ClusterState:
        return ClusterState(api, catalog=engine.catalog, inherit_labels=settings.inherit_labels, timing=timing,
                            pod_observer=pod_observer)  # type: ignore[arg-type]

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
        now = time.time()
        result = audit_mod.run(engine, inventory, inherit_keys=settings.inherit_labels,
                               authoritative=settings.authoritative_labels,
                               exempt_namespaces=settings.exempt_namespaces,
                               require_expiry=settings.require_exemption_expiry,
                               telemetry=lambda window: prometheus.fetch(window, now),
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
                                                                           settings.reports.api)))
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
