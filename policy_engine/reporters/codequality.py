"""GitLab Code Quality (``artifacts:reports:codequality``): a JSON array of issues, shown in the merge
request widget and on the diff.

Each finding is one issue, as GitLab documents the format (a subset of Code Climate's): ``description``,
``check_name`` (the policy), ``fingerprint`` (stable across runs and line moves, so GitLab can tell
new issues from fixed ones between the merge request and its target), ``severity`` and
``location.path`` / ``location.lines.begin`` relative to the repository root. Load and policy errors
are issues too (check_name: the error code), so nothing is dropped from the report.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from itertools import chain
from typing import Any

from policy_engine.compiler.program import Severity
from policy_engine.engine.findings import Finding, Result
from policy_engine.reporters.context import ReportContext, error_parts, money
from policy_engine.reporters.context import runs as context_runs
from policy_engine.reporters.pieces import batched, separated

#: GitLab's severities are info, minor, major, critical, blocker.
SEVERITY = {Severity.CRITICAL: "critical", Severity.HIGH: "major", Severity.MEDIUM: "minor",
            Severity.LOW: "info"}


def render(result: Result, ctx: ReportContext) -> str:
    return "".join(stream(result, ctx))


def stream(result: Result, ctx: ReportContext) -> Iterator[str]:
    """``json.dumps(report(…), ensure_ascii=False, indent=1)`` a piece at a time: each issue encoded as it is read;
    in a parallel run, the findings' as the workers encoded them (``piece``), a unit's at once."""
    runs = context_runs(result.findings, "codequality", ctx, piece)
    texts = map(_indented, _issues(result, ctx)) if runs is None else \
        chain(map(PIECE_SEPARATOR.join, runs), map(_indented, _errors(result, ctx)))
    issues = batched(separated(texts, PIECE_SEPARATOR))
    first = next(issues, None)
    if first is None:
        yield "[]\n"
        return
    yield "[\n" + first
    yield from issues
    yield "\n]\n"


def report(result: Result, ctx: ReportContext) -> list[dict[str, Any]]:
    return list(_issues(result, ctx))


def piece(f: Finding, ctx: ReportContext) -> str:
    """A finding's issue, as an item of the array: a parallel run's workers render these (``piece_renderer``)."""
    return _indented(_finding(f, ctx))


#: What separates two issues (``piece``): the workers join a unit's with it.
PIECE_SEPARATOR = ",\n"


def _issues(result: Result, ctx: ReportContext) -> Iterator[dict[str, Any]]:
    for f in result.findings:
        yield _finding(f, ctx)
    yield from _errors(result, ctx)


def _errors(result: Result, ctx: ReportContext) -> Iterator[dict[str, Any]]:
    for error in result.errors:
        d = error_parts(error)
        path = ctx.relative(d.span.file)
        basis = "\x1f".join(["error", d.code, path, d.message])
        yield {
            "type": "issue",
            "description": f"[{d.code}] {d.message}" + (f" ({d.hint})" if d.hint else ""),
            "check_name": d.code,
            "fingerprint": hashlib.sha256(basis.encode()).hexdigest()[:32],
            "severity": "blocker" if d.is_error else "minor",
            "location": {"path": path, "lines": {"begin": max(d.span.line, 1)}},
        }


def _indented(issue: dict[str, Any]) -> str:
    """An issue as an item of the array ``json.dumps(…, indent=1)`` writes."""
    return " " + _dumps(issue, 1)


#: ``json.dumps(value, ensure_ascii=False)`` for a string or a number: the C encoder (indenting, json.dumps
#: encodes in pure Python: 2x slower over 360,000 issues).
_encode = json.JSONEncoder(ensure_ascii=False).encode


def _dumps(value: Any, level: int) -> str:
    """``json.dumps(value, ensure_ascii=False, indent=1)`` at nesting ``level``, for dicts of strings and numbers."""
    if not isinstance(value, dict):
        return _encode(value)
    if not value:
        return "{}"
    inner = "\n" + " " * (level + 1)
    items = (f"{inner}{_encode(k)}: {_dumps(v, level + 1)}" for k, v in value.items())
    return "{" + ",".join(items) + "\n" + " " * level + "}"


def _finding(f: Finding, ctx: ReportContext) -> dict[str, Any]:
    r = f.resource
    path = ctx.relative(r.file)
    basis = "\x1f".join([f.policy, f.rule, path, r.kind, r.namespace or "", r.name, f.group or ""])
    cost = f" ({money(f.monthly_cost)}/month)" if f.monthly_cost is not None else ""
    blocking = "" if ctx.fails(f) else " [not blocking]"
    return {
        "type": "issue",
        "description": f"{f.policy} ({f.enforcement.value}){blocking}: {r.display()}: {f.message}{cost}",
        "check_name": f.policy,
        "fingerprint": hashlib.sha256(basis.encode()).hexdigest()[:32],
        "severity": SEVERITY[f.severity],
        "location": {"path": path, "lines": {"begin": max(f.line, 1)}},
    }
