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
from json.encoder import encode_basestring
from typing import Any

from policy_engine.compiler.program import Severity
from policy_engine.engine.findings import Finding, ResourceRef, Result
from policy_engine.engine.packed import PackedFindings
from policy_engine.reporters.context import (
    INFORMATION_URI,
    TOOL_NAME,
    ReportContext,
    error_parts,
    is_failure,
    money,
)
from policy_engine.reporters.context import runs as context_runs
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
_string = encode_basestring  # a str as ``_encode`` writes it, in C


def render(result: Result, ctx: ReportContext) -> str:
    return "".join(stream(result, ctx))


def stream(result: Result, ctx: ReportContext) -> Iterator[str]:
    """The log a piece at a time: each result is encoded as it is read, never all held (one line of JSON);
    in a parallel run, as the workers encoded them (``piece``), a unit's at once."""
    runs = context_runs(result.findings, "sarif", ctx, piece)
    named = result.findings.first_named() if runs is not None and isinstance(result.findings, PackedFindings) \
        else None
    rules, index = _rules(result, ctx, named)
    head = {
        "tool": {"driver": {
            "name": TOOL_NAME, "version": ctx.tool_version, "semanticVersion": ctx.tool_version,
            "informationUri": INFORMATION_URI, "rules": rules,
        }},
        "originalUriBaseIds": {"%SRCROOT%": {"uri": ctx.root.resolve().as_uri() + "/"}},
    }
    yield f'{{"$schema":{_encode(SCHEMA_URI)},"version":"2.1.0","runs":[{_encode(head)[:-1]},"results":['
    del rules, head
    if runs is not None and named is not None:
        outside = {name: index[name] for name, _ in named if name not in _set_index(ctx)}
        yield from batched(separated((_indexed(",".join(run), outside) for run in runs), ","))
    else:
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


def _rules(result: Result, ctx: ReportContext, named: list[tuple[str, Severity]] | None = None,
           ) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Every policy of the set (so GitHub knows the rules that found nothing too), then any unknown ones in
    the order the findings first name them: ``named`` (a parallel run's blocks say which they name), else a
    first pass over the findings (a large run's stay packed)."""
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    if ctx.policies is not None:
        for p in ctx.policies.policies:
            index[p.name] = len(rules)
            rules.append(_rule(p.name, p.description, p.help, p.severity, p.file))
    for name, severity in named if named is not None else ((f.policy, f.severity) for f in result.findings):
        if name not in index:
            index[name] = len(rules)
            rules.append(_rule(name, "", "", severity, ""))
    return rules, index


#: A result's rule index as a worker writes it (``piece``) for a policy outside the set (the engine's own
#: ``unread-gpu-kind``): its index depends on the findings of the whole run. Never a real index; the parent
#: writes the real one in (``_indexed``).
_OUTSIDE = -1


def piece(f: Finding, ctx: ReportContext) -> str:
    """A finding's result, encoded: a parallel run's workers render these (``reporters.piece_renderer``)."""
    return _result_json(f, _set_index(ctx).get(f.policy, _OUTSIDE), ctx)


#: What separates two results (``piece``): the workers join a unit's with it.
PIECE_SEPARATOR = ","

#: The rule index of each policy of a set, for the set it was made for (kept alive here).
_set_indexes: tuple[object, dict[str, int]] = (None, {})


def _set_index(ctx: ReportContext) -> dict[str, int]:
    global _set_indexes
    owner, index = _set_indexes
    if owner is not ctx.policies:
        index = {p.name: i for i, p in enumerate(ctx.policies.policies)} if ctx.policies is not None else {}
        _set_indexes = (ctx.policies, index)
    return index


def _indexed(results: str, outside: dict[str, int]) -> str:
    """Results as a worker encoded them, with the rule index of each policy outside the set written in."""
    marker = f'"ruleIndex":{_OUTSIDE},'
    if not outside or marker not in results:  # (none outside the set: nothing to look for)
        return results
    for name, i in outside.items():
        results = results.replace(f'"ruleId":{_encode(name)},{marker}', f'"ruleId":{_encode(name)},"ruleIndex":{i},')
    return results


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
    towards = f" counts towards {f.group or 'the group'}"
    related = ",".join(_related_json(i, r, towards, ctx) for i, r in enumerate(f.related))
    return f'{head},"relatedLocations":[{related}]}}'


def _related(f: Finding, i: int, r: ResourceRef, ctx: ReportContext) -> dict[str, Any]:
    return {"id": i, **_location(r, r.line, ctx, f"{r.display()} counts towards {f.group or 'the group'}")}


def _related_json(i: int, r: ResourceRef, towards: str, ctx: ReportContext) -> str:
    """``_encode(_related(…))``, put together from its encoded parts (a quota finding names thousands)."""
    line = r.line
    if line.__class__ is not int:  # not as a ResourceRef is made: as the encoder writes it
        return _encode({"id": i, **_location(r, line, ctx, f"{r.display()}{towards}")})
    return (f'{{"id":{i},"physicalLocation":{{"artifactLocation":{{"uri":{_string(ctx.uri(r.file))},'
            f'"uriBaseId":"%SRCROOT%"}},"region":{{"startLine":{line if line > 1 else 1}}}}},'
            f'"message":{{"text":{_string(r.display() + towards)}}}}}')


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
