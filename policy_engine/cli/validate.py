"""``policy-engine validate``: compile policy files and report every diagnostic, plus smell warnings."""

from __future__ import annotations

import argparse
import json
import sys

from policy_engine.authoring.lint import render_timings, validate_sources
from policy_engine.cli.exits import EXIT_ERROR, EXIT_OK
from policy_engine.diagnostics import render_all
from policy_engine.discovery import find_policy_files, read_text
from policy_engine.errors import DiagnosticError
from policy_engine.pricing.catalog import Catalog, load_catalog
from policy_engine.wording import count

HELP = "compile policies and report every diagnostic"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="policy files or directories (*.policy, recursive); default .")
    p.add_argument("--pricing", metavar="FILE",
                   help="pricing catalog that allow/deny lists are checked against (default: the bundled one)")
    p.add_argument("--format", "-f", choices=["text", "json"], default="text", help="format on stdout")
    p.add_argument("--timings", action="store_true",
                   help="also report the time of each compiler pass (text: on stderr; json: a timings object)")


def run(args: argparse.Namespace) -> int:
    files, missing = find_policy_files(args.paths or ["."])
    sources: dict[str, str] = {}
    problems = list(missing)
    for file in files:
        text, err = read_text(file)
        if err is not None:
            problems.append(err)
        if text is None:
            continue
        sources[file] = text
    if not files and not missing:
        print(f"policy-engine validate: no *.policy files under {', '.join(args.paths or ['.'])}", file=sys.stderr)
        return EXIT_ERROR
    try:
        catalog: Catalog | None = load_catalog(args.pricing)
    except DiagnosticError as exc:
        print(render_all(exc.diagnostics, exc.sources), file=sys.stderr)
        return EXIT_ERROR
    result = validate_sources(sources, catalog)
    diagnostics = sorted([*problems, *result.diagnostics], key=lambda d: d.sort_key())
    errors = sum(1 for d in diagnostics if d.is_error)
    warnings = len(diagnostics) - errors
    if args.format == "json":
        payload: dict[str, object] = {"files": len(sources), "errors": errors, "warnings": warnings,
                                      "diagnostics": [d.to_dict() for d in diagnostics]}
        if args.timings:
            payload["timings"] = [{"pass": name, "ms": round(seconds * 1000, 3)} for name, seconds in result.timings]
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        if diagnostics:
            print(render_all(diagnostics, result.sources))
            print()
        print(f"{count(len(sources), 'file')}: {count(errors, 'error')}, {count(warnings, 'warning')}")
        if args.timings:
            print(render_timings(result.timings), file=sys.stderr)
    return EXIT_ERROR if errors else EXIT_OK
