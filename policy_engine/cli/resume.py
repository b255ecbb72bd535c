"""``policy-engine resume KIND/NAMESPACE/NAME``: undo an idle stop (restore replicas, unsuspend, restart)."""

from __future__ import annotations

import argparse
import sys

from policy_engine.cli.controller import add_cluster_arguments
from policy_engine.cli.exits import EXIT_ERROR, EXIT_OK

HELP = "undo the controller's idle stop of a workload"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="KIND/NAMESPACE/NAME", help="e.g. Notebook/team-a/alice-nb")
    add_cluster_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException

    from policy_engine.controller import actions, api_client
    from policy_engine.controller.kinds import by_kind, workload_resources
    from policy_engine.controller.kube import Kube

    parts = args.target.split("/")
    if len(parts) != 3 or not all(parts):
        print(f"policy-engine resume: {args.target!r}: expected KIND/NAMESPACE/NAME", file=sys.stderr)
        return EXIT_ERROR
    kind, namespace, name = parts
    kinds = by_kind(workload_resources())
    match = next((r for k, r in kinds.items() if k.lower() == kind.lower()), None)
    if match is None:
        print(f"policy-engine resume: unknown kind {kind!r} (one of {', '.join(sorted(kinds))})", file=sys.stderr)
        return EXIT_ERROR
    try:
        kube = Kube(api_client(args.kubeconfig, args.in_cluster, args.context))
        obj = kube.get(match, namespace, name)
        if obj is None:
            print(f"policy-engine resume: {match.kind} {namespace}/{name} not found", file=sys.stderr)
            return EXIT_ERROR
        done = actions.resume(kube, match, obj)
    except actions.NotStoppable as exc:
        print(f"policy-engine resume: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ApiException as exc:
        print(f"policy-engine resume: HTTP {exc.status}: {exc.reason}", file=sys.stderr)
        return EXIT_ERROR
    except (OSError, ConfigException) as exc:
        print(f"policy-engine resume: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"resumed {match.kind} {namespace}/{name}: {done.detail}")
    return EXIT_OK
