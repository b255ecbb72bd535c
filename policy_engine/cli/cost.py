"""``policy-engine cost PATHS --by team,model``: projected monthly spend and GPU-hours per group.

Documents are loaded (``load_paths``), modelled (``build_workload``) and priced (``price``) without
compiling any policy: showback needs no rules. Unpriced workloads are listed apart with their reason.
The renderers are ``reporters.cost_groups``.
Load, model and pricing-file errors are printed located on stderr and make the exit code 2 (the report of
what could be read is still printed).
"""

from __future__ import annotations

import argparse
import json
import sys

from policy_engine.cli.exits import EXIT_ERROR, EXIT_OK
from policy_engine.diagnostics import file_text
from policy_engine.errors import DiagnosticError
from policy_engine.model.documents import load_paths
from policy_engine.pricing.catalog import load_catalog
from policy_engine.pricing.cost import priced_workloads
from policy_engine.pricing.showback import showback
from policy_engine.reporters.cost_groups import render_markdown, render_table, report_json

HELP = "showback: projected spend and GPU-hours per group"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="manifest files or directories ('-' for stdin)")
    parser.add_argument("--by", default="team", metavar="KEYS",
                        help="comma-separated group keys: a label name (team, cost-center…), model, namespace "
                             "or kind (default: team)")
    parser.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    parser.add_argument("--pricing", metavar="FILE", help="pricing catalog merged over the bundled one")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip matching paths")


def run(args: argparse.Namespace) -> int:
    dimensions = [d.strip() for d in str(args.by).split(",") if d.strip()]
    if not dimensions:
        print("policy-engine cost: --by needs at least one key", file=sys.stderr)
        return EXIT_ERROR
    try:
        catalog = load_catalog(args.pricing)
    except DiagnosticError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    for warning in catalog.warnings:
        print(warning.render(file_text(warning.span.file)), file=sys.stderr)
    workloads, errors = priced_workloads(load_paths(args.paths, args.exclude), catalog)
    report = showback(workloads, dimensions, catalog)
    if args.format == "json":
        print(json.dumps(report_json(report, catalog, errors), indent=2))
    elif args.format == "markdown":
        print(render_markdown(report, catalog, args.pricing))
    else:
        print(render_table(report, catalog, args.pricing))
    for diagnostic in errors:
        print(diagnostic.render(file_text(diagnostic.span.file)), file=sys.stderr)
    return EXIT_ERROR if any(d.is_error for d in errors) else EXIT_OK

