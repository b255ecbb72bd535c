"""``policy-engine cost PATHS --by team,model``: projected monthly spend and GPU-hours per group.

Documents are loaded (``load_paths``), modelled (``build_workload``) and priced (``price``) without
compiling any policy: showback needs no rules. Unpriced workloads are listed apart with their reason.
Load, model and pricing-file errors are printed located on stderr and make the exit code 2 (the report of
what could be read is still printed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from policy_engine.diagnostics import Diagnostic
from policy_engine.errors import DiagnosticError
from policy_engine.model.documents import STDIN_NAME, load_paths
from policy_engine.pricing.catalog import Catalog, load_catalog
from policy_engine.pricing.cost import priced_workloads
from policy_engine.pricing.showback import GroupTotal, Showback, showback
from policy_engine.wording import count

HELP = "showback: projected spend and GPU-hours per group"
EXIT_OK, EXIT_ERROR = 0, 2


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
        print(warning.render(_source(warning.span.file)), file=sys.stderr)
    workloads, errors = priced_workloads(load_paths(args.paths, args.exclude), catalog)
    report = showback(workloads, dimensions, catalog)
    if args.format == "json":
        print(json.dumps(report_json(report, catalog, errors), indent=2))
    elif args.format == "markdown":
        print(render_markdown(report, catalog, args.pricing))
    else:
        print(render_table(report, catalog, args.pricing))
    for diagnostic in errors:
        print(diagnostic.render(_source(diagnostic.span.file)), file=sys.stderr)
    return EXIT_ERROR if errors else EXIT_OK


def report_json(report: Showback, catalog: Catalog, errors: list[Diagnostic]) -> dict[str, Any]:
    def group(g: GroupTotal) -> dict[str, Any]:
        return {
            "key": dict(zip(report.dimensions, g.key, strict=True)) if g is not report.total else None,
            "workloads": g.workloads,
            "gpus": g.gpus,
            "gpu_hours_per_month": round(g.gpu_hours, 3),
            "monthly_cost": round(g.monthly, 2),
            "on_demand_monthly_cost": round(g.on_demand_monthly, 2),
            "unpriced": g.unpriced,
        }

    return {
        "currency": report.currency,
        "catalog_as_of": catalog.as_of,
        "by": list(report.dimensions),
        "groups": [group(g) for g in report.groups],
        "total": group(report.total),
        "unpriced": [
            {"workload": u.ref, "file": u.file, "line": u.line, "reason": u.reason,
             "key": dict(zip(report.dimensions, u.key, strict=True))}
            for u in report.unpriced
        ],
        "errors": [d.to_dict() for d in errors],
    }


def _rows(report: Showback) -> tuple[list[str], list[list[str]]]:
    header = [*report.dimensions, "workloads", "GPUs", "GPU-h/month", f"{report.currency}/month", "unpriced"]
    rows = []
    for g in [*report.groups, report.total]:
        key = list(g.key) if g is not report.total else ["TOTAL", *[""] * (len(report.dimensions) - 1)]
        rows.append([*key, str(g.workloads), _number(g.gpus), f"{g.gpu_hours:,.1f}", f"{g.monthly:,.2f}",
                     str(g.unpriced) if g.unpriced else ""])
    return header, rows


def _origin(catalog: Catalog, pricing: str | None) -> str:
    where = f"{pricing} merged over the bundled catalog" if pricing else "the bundled catalog"
    spot = sum(1 for i in catalog.instance_types.values() if i.spot is not None)
    said = (f"spot prices for {spot} instance type(s), each dated" if spot else
            "no spot prices: spot workloads priced on-demand, spot savings unknown")
    return f"prices: {where} as of {catalog.as_of}; {said}"


def render_table(report: Showback, catalog: Catalog, pricing: str | None = None) -> str:
    header, rows = _rows(report)
    numeric = set(range(len(report.dimensions), len(header)))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in rows[:-1]]
    out += [line(["-" * w for w in widths]), line(rows[-1])]
    out += _unpriced_lines(report)
    out.append("\n" + _origin(catalog, pricing))
    return "\n".join(out)


def render_markdown(report: Showback, catalog: Catalog, pricing: str | None = None) -> str:
    header, rows = _rows(report)
    rows[-1] = [f"**{c}**" if c else c for c in rows[-1]]
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---:" if i >= len(report.dimensions) else "---" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    if report.unpriced:
        out += ["", f"**{count(len(report.unpriced), 'workload')} could not be priced:**", ""]
        out += [f"- `{u.ref}` ({u.file}:{u.line}): {u.reason}" for u in report.unpriced]
    origin = _origin(catalog, pricing)
    out.append(f"\n_{origin[0].upper()}{origin[1:]}._")
    return "\n".join(out)


def _number(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _unpriced_lines(report: Showback) -> list[str]:
    if not report.unpriced:
        return []
    out = ["", f"{count(len(report.unpriced), 'workload')} not priced (not in the totals):"]
    out += [f"  {u.file}:{u.line}: {u.ref}: {u.reason}" for u in report.unpriced]
    return out


def _source(file: str) -> str | None:
    if file == STDIN_NAME:
        return None
    try:
        return Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
