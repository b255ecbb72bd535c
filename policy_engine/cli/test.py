"""``policy-engine test``: run policy test files (``*.test.yaml``); see docs/testing.md."""

from __future__ import annotations

import argparse
import sys

from policy_engine.authoring.testing import run_tests
from policy_engine.authoring.testreport import render_junit, render_text
from policy_engine.cli.exits import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK

HELP = "run policy test files"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="test files or directories searched for *.test.yaml (recursive); default .")
    p.add_argument("--format", "-f", choices=["text", "junit"], default="text", help="format on stdout")
    p.add_argument("--output", "-o", metavar="PATH", help="also write the JUnit XML report to PATH")
    p.add_argument("--pricing", metavar="FILE", help="pricing catalog (default: the bundled catalog)")
    p.add_argument("--verbose", "-v", action="store_true", help="list passing cases too")


def run(args: argparse.Namespace) -> int:
    result = run_tests(args.paths or ["."], pricing=args.pricing)
    if args.format == "junit":
        sys.stdout.write(render_junit(result))
    else:
        sys.stdout.write(render_text(result, verbose=args.verbose))
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(render_junit(result))
        except OSError as exc:
            print(f"policy-engine test: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_ERROR
    if result.all_errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if result.failed else EXIT_OK
