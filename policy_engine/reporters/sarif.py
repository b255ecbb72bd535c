"""SARIF 2.1.0 for GitHub code scanning (and any SARIF viewer).

Follows GitHub's documented subset: one rule per policy with short/full descriptions and help, a level
from the severity, ``security-severity`` for its severity badge, results located by a repo-relative URI
under ``%SRCROOT%`` and a start line, and ``partialFingerprints`` that stay the same when lines move so
an alert is not closed and reopened by an unrelated edit. Load errors become tool notifications.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from policy_engine.compiler.program import Severity
from policy_engine.engine.findings import Finding, ResourceRef, Result
from policy_engine.reporters.context import (
    INFORMATION_URI,
    TOOL_NAME,
    ReportContext,
    error_parts,
    is_failure,
    money,
)
from policy_engine.reporters.pieces import batched, separated

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "policyEngineFinding/v1"
LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note"}
#: GitHub maps these to its critical / high / medium / low badges (>9.0, 7.0-8.9, 4.0-6.9, 0.1-3.9).
SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0",
                     Severity.MEDIUM: "5.5", Severity.LOW: "2.0"}


#: ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))``: compact, so its C encoder is used
#: (3x faster than indenting on a large tree).
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def render(result: Result, ctx: ReportContext) -> str:
    return "".join(stream(result, ctx))


def stream(result: Result, ctx: ReportContext) -> Iterator[str]:
    """The log a piece at a time: each result is encoded as it is read, never all held (one line of JSON)."""
    rules, index = _rules(result, ctx)
    head = {
        "tool": {"driver": {
            "name": TOOL_NAME, "version": ctx.tool_version, "semanticVersion": ctx.tool_version,
            "informationUri": INFORMATION_URI, "rules": rules,
        }},
        "originalUriBaseIds": {"%SRCROOT%": {"uri": ctx.root.resolve().as_uri() + "/"}},
    }
    yield f'{{"$schema":{_encode(SCHEMA_URI)},"version":"2.1.0","runs":[{_encode(head)[:-1]},"results":['
    del rules, head
    yield from batched(separated((_result_json(f, index[f.policy], ctx) for f in result.findings), ","))
    tail = {
        "invocations": [{
            "executionSuccessful": not any(is_failure(e) for e in result.errors),
            "toolExecutionNotifications": [_notification(e, ctx) for e in result.errors],
        }],
        "columnKind": "unicodeCodePoints",
        "properties": {"monthlyCost": round(result.stats.monthly_cost, 2),
                       "documents": result.stats.documents, "workloads": result.stats.workloads},
    }
    yield f"],{_encode(tail)[1:]}]}}\n"


def _rules(result: Result, ctx: ReportContext) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Every policy of the set (so GitHub knows the rules that found nothing too), then any unknown ones
    (a first pass over the findings: a large run's stay packed)."""
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    if ctx.policies is not None:
        for p in ctx.policies.policies:
            index[p.name] = len(rules)
            rules.append(_rule(p.name, p.description, p.help, p.severity, p.file))
    for f in result.findings:
        if f.policy not in index:
            index[f.policy] = len(rules)
            rules.append(_rule(f.policy, "", "", f.severity, ""))
    return rules, index


def _rule(name: str, description: str, help_text: str, severity: Severity, file: str) -> dict[str, Any]:
    short = description.strip().splitlines()[0] if description.strip() else f"Policy {name}"
    full = description.strip() or short
    text = help_text.strip() or full
    markdown = f"**{name}** ({severity.value})\n\n{text}"
    return {
        "id": name,
        "name": _pascal(name),
        "shortDescription": {"text": short},
        "fullDescription": {"text": full},
        "help": {"text": text, "markdown": markdown},
        "defaultConfiguration": {"level": LEVEL[severity]},
        "properties": {"tags": ["kubernetes", "policy", "cost"], "precision": "very-high",
                       "problem.severity": "recommendation" if severity is Severity.LOW else LEVEL[severity],
                       "security-severity": SECURITY_SEVERITY[severity],
                       **({"policyFile": file} if file else {})},
    }


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-") if part) or name


def _location(ref: ResourceRef, line: int, ctx: ReportContext, message: str | None = None) -> dict[str, Any]:
    loc: dict[str, Any] = {"physicalLocation": {
        "artifactLocation": {"uri": ctx.uri(ref.file), "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": max(line, 1)},
    }}
    if message:
        loc["message"] = {"text": message}
    return loc


def _result_json(f: Finding, rule_index: int, ctx: ReportContext) -> str:
    """``_result`` encoded; a quota finding naming thousands of workloads has its related locations encoded
    one at a time (the same text), not first built as thousands of dicts."""
    if len(f.related) < 64:
        return _encode(_result(f, rule_index, ctx))
    head = _encode(_result(replace(f, related=()), rule_index, ctx))[:-1]
    related = ",".join(_encode(_related(f, i, r, ctx)) for i, r in enumerate(f.related))
    return f'{head},"relatedLocations":[{related}]}}'


def _related(f: Finding, i: int, r: ResourceRef, ctx: ReportContext) -> dict[str, Any]:
    return {"id": i, **_location(r, r.line, ctx, f"{r.display()} counts towards {f.group or 'the group'}")}


def _result(f: Finding, rule_index: int, ctx: ReportContext) -> dict[str, Any]:
    text = f"{f.resource.display()}: {f.message}"
    if f.monthly_cost is not None:
        text += f" (projected {money(f.monthly_cost)}/month)"
    if f.saving:
        text += f" Estimated saving if fixed: {money(f.saving)}/month."
    elif f.saving_unknown is not None:
        text += " Estimated saving if fixed: unknown (no spot price in the pricing catalog)."
    props: dict[str, Any] = {"severity": f.severity.value, "enforcement": f.enforcement.value,
                             "rule": f.rule, "kind": f.resource.kind, "name": f.resource.name,
                             "namespace": f.resource.namespace, "new": ctx.is_new(f)}
    if f.monthly_cost is not None:
        props["monthlyCost"] = round(f.monthly_cost, 2)
    if f.saving is not None:
        props["monthlySaving"] = round(f.saving, 2)
    elif f.saving_unknown is not None:  # null, never a made-up 0; the reason beside it
        props["monthlySaving"] = None
        props["savingUnknown"] = f.saving_unknown
    if f.group:
        props["group"] = f.group
    if f.error:
        props["policyError"] = True
    out: dict[str, Any] = {
        "ruleId": f.policy,
        "ruleIndex": rule_index,
        "level": LEVEL[f.severity],
        "message": {"text": text},
        "locations": [_location(f.resource, f.line, ctx)],
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint()},
        "properties": props,
    }
    if f.related:
        out["relatedLocations"] = [_related(f, i, r, ctx) for i, r in enumerate(f.related)]
    return out


def _notification(error: Any, ctx: ReportContext) -> dict[str, Any]:
    d = error_parts(error)
    return {
        "level": "error" if d.is_error else "warning",
        "message": {"text": f"[{d.code}] {d.message}"},
        "descriptor": {"id": d.code},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": ctx.uri(d.span.file), "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": max(d.span.line, 1), "startColumn": max(d.span.column, 1)},
        }}],
    }
