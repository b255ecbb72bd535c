"""``policy-engine controller``: background audit into PolicyReports and idle GPU shutdown (docs/controller.md).

Everything wrong with the invocation (settings, policies, pricing, kubeconfig) is found before anything
starts and reported with exit code 2. SIGTERM/SIGINT stop it gracefully (exit 0).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import TYPE_CHECKING

from policy_engine.cli.exits import EXIT_ERROR, EXIT_OK

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from policy_engine.controller.settings import ControllerSettings
    from policy_engine.engine import Engine

HELP = "run the in-cluster controller: background audit, PolicyReports, idle GPU shutdown"


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--kubeconfig", metavar="FILE", help="reach the cluster through this kubeconfig "
                       "(default: $KUBECONFIG or ~/.kube/config)")
    where.add_argument("--in-cluster", action="store_true", help="use the pod's service account")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policies", action="append", default=[], metavar="DIR",
                        help="policy directory or file (repeatable; default: the bundled library)")
    parser.add_argument("--pricing", metavar="FILE", help="pricing catalog (default: the bundled one)")
    parser.add_argument("--config", metavar="FILE", help="controller settings (YAML; docs/controller.md)")
    parser.add_argument("--act", action="store_true",
                        help="carry idle actions out (default: dry run, report what would be done)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    add_cluster_arguments(parser)


def load_inputs(args: argparse.Namespace, command: str) -> tuple[ControllerSettings, Engine, ApiClient] | None:
    """Settings, policies and pricing, and the cluster connection of ``controller`` and ``audit``; None
    (the error printed) when any of them is wrong, before anything starts."""
    from kubernetes.config.config_exception import ConfigException

    from policy_engine.controller import api_client
    from policy_engine.controller.settings import load_settings
    from policy_engine.engine import load_engine
    from policy_engine.errors import DiagnosticError

    try:
        settings = load_settings(args.config)
        engine = load_engine(args.policies or None, args.pricing)
        return settings, engine, api_client(args.kubeconfig, args.in_cluster, args.context)
    except DiagnosticError as exc:
        print(str(exc), file=sys.stderr)
    except (OSError, ConfigException) as exc:
        print(f"policy-engine {command}: {exc}", file=sys.stderr)
    return None


def run(args: argparse.Namespace) -> int:
    from policy_engine import jsonlog
    from policy_engine.controller.runner import Controller

    inputs = load_inputs(args, "controller")
    if inputs is None:
        return EXIT_ERROR
    settings, engine, api = inputs
    jsonlog.configure(args.log_level, ("policy_engine.controller", jsonlog.CLUSTER_LOGGER))
    controller = Controller(settings, engine, api, act=args.act)
    done = threading.Event()

    def stop(signum: int, frame: object) -> None:
        done.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    try:
        controller.start()
    except OSError as exc:
        print(f"policy-engine controller: cannot listen on {settings.listen}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    while not done.wait(1.0):
        pass
    controller.stop()
    return EXIT_OK
