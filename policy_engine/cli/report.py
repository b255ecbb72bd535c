"""``policy-engine report PATHS --html out.html``: the showback report people look at.

Loads the manifests, evaluates them with the policies (for savings and findings) and the catalog, and
writes one self-contained HTML page and/or prints the same numbers as JSON. Load and model errors are
printed located on stderr and make the exit code 2; the report of what could be read is still written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from policy_engine.cli.main import EXIT_ERROR, EXIT_OK
from policy_engine.diagnostics import render_all
from policy_engine.engine import load_engine
from policy_engine.errors import DiagnosticError
from policy_engine.model.documents import LoadError, load_paths

HELP = "showback report: spend, savings and the costliest workloads as one HTML page (or JSON)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH", help="manifest files or directories, - for stdin; default .")
    p.add_argument("--html", metavar="FILE", help="write the self-contained HTML report to FILE")
    p.add_argument("--format", choices=("json", "none"), default=None,
                   help="print the report's numbers on stdout (default: json unless --html is given)")
    p.add_argument("--policies", action="append", default=[], metavar="FILE_OR_DIR",
                   help="policy files or directories (repeatable; default: the bundled library)")
    p.add_argument("--pricing", metavar="FILE", help="pricing catalog (default: the bundled catalog)")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip matching paths")
    p.add_argument("--title", default="GPU spend showback", help="the page's title")


def run(args: argparse.Namespace) -> int:
    from policy_engine.reporters.showback_report import build_report

    try:
        engine = load_engine(args.policies or None, args.pricing)
    except DiagnosticError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    paths = list(args.paths) or ["."]
    result = engine.evaluate(load_paths(paths, args.exclude), keep_workloads=True)
    report = build_report(result, engine.catalog)
    diagnostics = [e.diagnostic if isinstance(e, LoadError) else e for e in result.errors]
    if args.html:
        from policy_engine.reporters.charts import ChartsUnavailable
        from policy_engine.reporters.html_report import render_html

        try:
            page = render_html(report, title=args.title, source=", ".join(paths))
        except ChartsUnavailable as exc:
            print(f"policy-engine report: {exc}", file=sys.stderr)
            return EXIT_ERROR
        try:
            Path(args.html).write_text(page, encoding="utf-8")
        except OSError as exc:
            print(f"policy-engine report: --html {args.html}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_ERROR
        print(f"policy-engine report: wrote {args.html} ({len(page.encode()) / 1024:,.0f} KiB)", file=sys.stderr)
    fmt = args.format or ("none" if args.html else "json")
    if fmt == "json":
        print(json.dumps({**report.to_dict(), "errors": [d.to_dict() for d in diagnostics]}, indent=2))
    if diagnostics:
        print(render_all(diagnostics), file=sys.stderr)
    return EXIT_ERROR if diagnostics else EXIT_OK
