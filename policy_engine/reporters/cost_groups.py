"""``policy-engine cost``'s reports: spend and GPU-hours per group as a table, Markdown or JSON."""

from __future__ import annotations

from typing import Any

from policy_engine.diagnostics import Diagnostic
from policy_engine.pricing.catalog import Catalog
from policy_engine.pricing.showback import GroupTotal, Showback
from policy_engine.wording import count


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
