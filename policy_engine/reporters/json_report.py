"""The machine-readable report: a stable schema (``schema_version``), documented in docs/check.md.

Additive changes keep the version; renaming or removing a field bumps it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import islice
from typing import Any

from policy_engine.engine.findings import Finding, Result
from policy_engine.reporters.context import TOOL_NAME, ReportContext, error_parts, is_failure
from policy_engine.reporters.costs import by_team

SCHEMA_VERSION = "1.0"
#: ``json.dumps(value, ensure_ascii=False)`` without building an encoder for each of 10,000 findings.
_encode = json.JSONEncoder(ensure_ascii=False).encode


def render(result: Result, ctx: ReportContext) -> str:
    return "".join(stream(result, ctx))


def stream(result: Result, ctx: ReportContext) -> Iterator[str]:
    """The report a piece at a time: the findings are encoded as they are read, never all held as dicts."""
    return dump_pieces(report(result, ctx, lazy=True))


def dumps(doc: dict[str, Any]) -> str:
    """Indented at the top, one list item per line: readable, greppable, and encoded by the C encoder
    (``json.dumps`` falls back to pure Python whenever it indents: 3x slower on a 10,000-file tree)."""
    return "".join(dump_pieces(doc))


def dump_pieces(doc: dict[str, Any], items_per_piece: int = 1024) -> Iterator[str]:
    """``dumps`` a piece at a time; a value that is an iterator (not a list) is encoded as a list, item by item."""
    yield "{\n"
    for n, (key, value) in enumerate(doc.items()):
        yield (",\n" if n else "") + f"  {json.dumps(key)}: "
        if isinstance(value, Iterator):
            value = _pieces(value, items_per_piece)
            first = next(value, None)
            if first is None:
                yield "[]"
                continue
            yield f"[\n    {first}"
            for piece in value:
                yield f",\n    {piece}"
            yield "\n  ]"
        elif isinstance(value, list) and value:
            items = ",\n    ".join(map(_encode, value))
            yield f"[\n    {items}\n  ]"
        else:
            yield _encode(value)
    yield "\n}\n"


def _pieces(items: Iterator[Any], size: int) -> Iterator[str]:
    while chunk := list(islice(items, size)):
        yield ",\n    ".join(map(_encode, chunk))


def report(result: Result, ctx: ReportContext, *, lazy: bool = False) -> dict[str, Any]:
    """The report as a dict; ``lazy``: its findings as an iterator of dicts, made as they are read."""
    failing = ctx.failing_count(result)
    errors = [error_parts(e) for e in result.errors]
    costs = ctx.workload_costs(result)
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": ctx.tool_version},
        "verdict": {
            "passed": not failing and not any(is_failure(e) for e in result.errors),
            "failing_findings": failing,
            "fail_on": sorted(e.value for e in ctx.fail_on),
        },
        "findings": (_finding(f, ctx) for f in result.findings) if lazy
        else [_finding(f, ctx) for f in result.findings],
        "summary": [s.to_dict() for s in result.summaries],
        "errors": [_error(d, ctx) for d in sorted(errors, key=lambda d: d.sort_key())],
        "stats": result.stats.to_dict(),
        "teams": [{"team": t.team, "workloads": t.workloads, "gpus": round(t.gpus, 3),
                   "monthly_cost": round(t.monthly, 2), "unpriced_workloads": t.unpriced}
                  for t in by_team(costs)] if costs else [],
        "cost_diff": ctx.cost_diff.to_dict() if ctx.cost_diff is not None else None,
    }
    return doc


def _finding(f: Finding, ctx: ReportContext) -> dict[str, Any]:
    d = f.to_dict()
    d["resource"]["file"] = ctx.relative(f.resource.file)
    for r in d["related"]:
        r["file"] = ctx.relative(r["file"])
    d["new"] = ctx.is_new(f)
    d["fails"] = ctx.fails(f)
    return d


def _error(d: Any, ctx: ReportContext) -> dict[str, Any]:
    out: dict[str, Any] = d.to_dict()
    out["file"] = ctx.relative(d.span.file)
    return out
