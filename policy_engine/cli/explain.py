"""``policy-engine explain``: trace how one policy decided for each workload of a manifest."""

from __future__ import annotations

import argparse
import json
import sys

from policy_engine.authoring.explain import UnknownPolicy, explain, render_text
from policy_engine.cli.exits import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK
from policy_engine.diagnostics import render_all
from policy_engine.errors import DiagnosticError

HELP = "trace how a policy decided for each workload"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("manifests", nargs="+", metavar="MANIFEST", help="manifest files or directories, - for stdin")
    p.add_argument("--policy", required=True, metavar="NAME", help="the policy to explain")
    p.add_argument("--policies", action="append", default=[], metavar="FILE_OR_DIR",
                   help="policy files or directories (repeatable; default: the bundled library)")
    p.add_argument("--pricing", metavar="FILE", help="pricing catalog (default: the bundled catalog)")
    p.add_argument("--format", "-f", choices=["text", "json"], default="text", help="format on stdout")


def run(args: argparse.Namespace) -> int:
    try:
        result = explain(args.manifests, args.policy, args.policies or None, args.pricing)
    except DiagnosticError as exc:
        print(render_all(exc.diagnostics, exc.sources), file=sys.stderr)
        return EXIT_ERROR
    except UnknownPolicy as exc:
        print(f"policy-engine explain: error[{exc.code}]: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.format == "json":
        json.dump(result.to_dict(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(result))
    if result.errors:
        print(render_all(result.errors, {}), file=sys.stderr)
        return EXIT_ERROR
    if not result.agrees:
        return EXIT_ERROR
    failed = any(w.trace is not None and w.trace.verdict == "fail" for w in result.workloads)
    return EXIT_FINDINGS if failed or result.group_findings else EXIT_OK
