"""``policy-engine inspect PATHS``: the workloads the engine sees, as JSON or a table.

JSON is one object ``{"workloads": [...], "errors": [...]}`` so that a consumer sees what could not be
read beside what could; each workload has kind, api_version, name, namespace, file, line, roles, labels,
gpus, gpu_hours_per_month, hourly_cost, monthly_cost, priced, unpriced_reason (docs/workloads.md).
Load and model errors are also printed to stderr, located, and make the exit code 2. The renderers are
``reporters.workload_list``.
"""

from __future__ import annotations

import argparse
import json
import sys

from policy_engine.cli.exits import EXIT_ERROR, EXIT_OK
from policy_engine.diagnostics import file_text
from policy_engine.errors import DiagnosticError
from policy_engine.model.documents import load_paths
from policy_engine.model.training_runtimes import template_workloads
from policy_engine.pricing.catalog import load_catalog
from policy_engine.pricing.cost import model_config, priced_workloads
from policy_engine.reporters.workload_list import render_table, render_templates, template_json, workload_json

HELP = "show the workloads the engine sees in manifests"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="manifest files or directories ('-' for stdin)"
    )
    parser.add_argument("--format", choices=("json", "table"), default="table")
    parser.add_argument("--pricing", metavar="FILE", help="pricing catalog (default: the bundled one)")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip matching paths")


def run(args: argparse.Namespace) -> int:
    try:
        catalog = load_catalog(args.pricing)
    except DiagnosticError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    items = list(load_paths(args.paths, args.exclude))
    workloads, errors = priced_workloads(items, catalog)
    templates = template_workloads(items, model_config(catalog))
    if args.format == "json":
        payload = {
            "workloads": [workload_json(w, catalog) for w in workloads],
            "templates": [template_json(t) for t in templates],
            "errors": [d.to_dict() for d in errors],
        }
        print(json.dumps(payload, indent=2))
    else:
        print(render_table(workloads, catalog))
        if templates:
            print(render_templates(templates))
    for diagnostic in errors:
        print(diagnostic.render(file_text(diagnostic.span.file)), file=sys.stderr)
    return EXIT_ERROR if any(d.is_error for d in errors) else EXIT_OK

