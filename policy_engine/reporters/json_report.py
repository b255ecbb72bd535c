"""The machine-readable report: a stable schema (``schema_version``), documented in docs/check.md.

Additive changes keep the version; renaming or removing a field bumps it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from json.encoder import encode_basestring
from typing import Any

from policy_engine.engine.findings import Finding, ResourceRef, Result, fingerprint_of, resource_basis, rule_basis
from policy_engine.reporters.context import TOOL_NAME, ReportContext, error_parts, is_failure
from policy_engine.reporters.context import runs as context_runs
from policy_engine.reporters.costs import by_team

SCHEMA_VERSION = "1.0"
#: ``json.dumps(value, ensure_ascii=False)`` without building an encoder for each of 10,000 findings.
encode = json.JSONEncoder(ensure_ascii=False).encode
#: What separates the items of a list in the report: one a line.
_ITEMS = ",\n    "
#: What separates two findings' pieces (``piece``): a parallel run's workers join a unit's with it.
PIECE_SEPARATOR = _ITEMS


def render(result: Result, ctx: ReportContext) -> str:
    return "".join(stream(result, ctx))


def stream(result: Result, ctx: ReportContext) -> Iterator[str]:
    """The report a piece at a time: the findings are encoded as they are read, never all held as dicts."""
    return dump_pieces(report(result, ctx, lazy=True))


def dumps(doc: dict[str, Any]) -> str:
    """Indented at the top, one list item per line: readable, greppable, and encoded by the C encoder
    (``json.dumps`` falls back to pure Python whenever it indents: 3x slower on a 10,000-file tree)."""
    return "".join(dump_pieces(doc))


def dump_pieces(doc: dict[str, Any], piece_chars: int = 1 << 16) -> Iterator[str]:
    """``dumps`` a piece at a time; a value that is an iterator (not a list) is encoded as a list, item by
    item (an item that is a string is taken as encoded already)."""
    yield "{\n"
    for n, (key, value) in enumerate(doc.items()):
        yield (",\n" if n else "") + f"  {json.dumps(key)}: "
        if isinstance(value, Iterator):
            yield from _list_pieces(value, piece_chars)
        elif isinstance(value, list) and value:
            items = _ITEMS.join(map(encode, value))
            yield f"[\n    {items}\n  ]"
        else:
            yield encode(value)
    yield "\n}\n"


def _list_pieces(items: Iterator[Any], piece_chars: int) -> Iterator[str]:
    """A list's encoding in pieces of about ``piece_chars``; an item larger than that is a piece of its own
    (a quota finding naming 50,000 workloads is megabytes: never copied into a larger string)."""
    buffered: list[str] = []
    size = 0
    separator = "[\n    "
    for item in items:
        encoded = item if isinstance(item, str) else encode(item)
        buffered.append(separator)
        buffered.append(encoded)
        size += len(encoded)
        separator = _ITEMS
        if size >= piece_chars:
            yield from buffered if len(encoded) >= piece_chars else ("".join(buffered),)
            buffered, size = [], 0
    if separator == "[\n    ":  # no items
        yield "[]"
        return
    buffered.append("\n  ]")
    yield "".join(buffered)


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
        "findings": _lazy_findings(result, ctx) if lazy else [_finding(f, ctx) for f in result.findings],
        "summary": [s.to_dict() for s in result.summaries],
        "errors": [_error(d, ctx) for d in sorted(errors, key=lambda d: d.sort_key())],
        "stats": result.stats.to_dict(),
        "teams": [{"team": t.team, "workloads": t.workloads, "gpus": round(t.gpus, 3),
                   "monthly_cost": round(t.monthly, 2), "unpriced_workloads": t.unpriced}
                  for t in by_team(costs)] if costs else [],
        "cost_diff": ctx.cost_diff.to_dict() if ctx.cost_diff is not None else None,
    }
    return doc


def _lazy_findings(result: Result, ctx: ReportContext) -> Iterator[str]:
    """The findings encoded as they are read: as the workers of a parallel run encoded them (a run of them
    joined at once, as ``_list_pieces`` would join them), or here."""
    runs = context_runs(result.findings, "json", ctx, piece)
    if runs is not None:
        return (_ITEMS.join(run) for run in runs)
    return (piece(f, ctx) for f in result.findings)


def _finding(f: Finding, ctx: ReportContext) -> dict[str, Any]:
    d = f.to_dict()
    d["resource"]["file"] = ctx.relative(f.resource.file)
    for r in d["related"]:
        r["file"] = ctx.relative(r["file"])
    d["new"] = ctx.is_new(f)
    d["fails"] = ctx.fails(f)
    return d


def _finding_json(f: Finding, ctx: ReportContext) -> str:
    """``_finding`` encoded: the same text, put together from its encoded parts (a large run has hundreds of
    thousands: a dict and a trip through the encoder each took most of the report's time; a quota finding
    naming thousands of related workloads took thousands of dicts). What a finding shares with others is
    encoded once: with its (policy, rule), its text up to the message and the head of its fingerprint's
    basis; with its resource (a workload's findings come one after another), the resource's text and the
    rest of that basis; its monthly cost (the workload's)."""
    try:
        # (ctx.is_new, ctx.fails, Finding.line, .fingerprint, saving_unknown and _bool, inline: a call each saved)
        head = _heads.get((f.policy, f.rule))
        if head is None or head[0] is not f.severity or head[1] is not f.enforcement or head[2] is not ctx.fail_on:
            head = _head(f, ctx)
        resource = f.resource
        last = _last_resource
        if last[0] is not resource or last[1] is not ctx:
            last = _resource_parts(resource, ctx)
        new = ctx.cost_diff is None or ctx.is_new(f)
        saving = f.saving
        saving_unknown = f.saving_unknown if saving is None and f.facts else None
        line = f.field_line or resource.line
        path = f.field_path
        error = f.error
        group = f.group
        monthly = f.monthly_cost
        cost = _last_monthly
        if cost[0] is not monthly:
            cost = _monthly_parts(monthly)
        fingerprint = fingerprint_of(head[5], last[3], group)  # ``Finding.fingerprint``, from parts kept
        start = (f'{head[3]}{_string(f.message)}, "resource": {last[2]}, '
                 f'"line": {repr(line) if line.__class__ is int else _number(line)}, '
                 f'"field": {"null" if path == () else _field_json(path)}')
        if saving is None and saving_unknown is None and group is None and error is False and new and not f.related:
            return f"{start}{cost[2]}{fingerprint}{head[6]}"  # the commonest: the rest as kept for its cost, its rule
        return (f'{start}, "monthly_cost": {cost[1]}, '
                f'"saving": {"null" if saving is None else _money(saving)}, '
                f'"saving_unknown": {"null" if saving_unknown is None else _string(saving_unknown)}, '
                f'"group": {"null" if group is None else _string(group)}, '
                f'"related": [{_related_json(f.related, ctx) if f.related else ""}], '
                f'"fingerprint": "{fingerprint}", '
                f'"error": {"false" if error is False else "true" if error is True else encode(error)}, '
                f'"new": {"true" if new else "false"}, '
                f'"fails": {"true" if new and head[4] else "false"}}}')
    except (TypeError, AttributeError):  # a value of an unexpected type: as the encoder writes it
        return encode(_finding(f, ctx))


#: Per (policy, rule): the severity, enforcement and gate it was made for, a finding's text up to its message,
#: whether such a finding fails the run when new, the head of its fingerprint's basis, and the text after its
#: fingerprint when it is new and not an error: the same few over and over.
_heads: dict[tuple[str, str], tuple[object, object, object, str, bool, str, str]] = {}


def _head(f: Finding, ctx: ReportContext) -> tuple[object, object, object, str, bool, str, str]:
    head = (f.severity, f.enforcement, ctx.fail_on,
            f'{{"policy": {_string(f.policy)}, "rule": {_string(f.rule)}, '
            f'"severity": {_string(f.severity._value_)}, "enforcement": {_string(f.enforcement._value_)}, '
            f'"message": ', f.enforcement in ctx.fail_on, rule_basis(f.policy, f.rule),
            f'", "error": false, "new": true, "fails": {"true" if f.enforcement in ctx.fail_on else "false"}}}')
    if len(_heads) < 4096:
        _heads[(f.policy, f.rule)] = head
    return head


_string = encode_basestring  # a str as the encoder writes it (``ensure_ascii=False``), in C
_INFINITIES = (float("inf"), float("-inf"))


def _number(value: object) -> str:
    """An int or float as the encoder writes it (``NaN``, ``Infinity`` included)."""
    if value.__class__ is int or (value.__class__ is float and value == value and value not in _INFINITIES):
        return repr(value)
    return encode(value)


def _money(value: float | None) -> str:
    global _last_money
    if value is None:
        return "null"
    last = _last_money
    if last[0] is value:  # a workload's findings carry its one monthly cost
        return last[1]
    text = _number(round(value, 2))
    _last_money = (value, text)
    return text


_last_money: tuple[object, str] = (None, "null")


def _monthly_parts(value: float | None) -> tuple[object, str, str]:
    """A monthly cost's text, and the text from it to the fingerprint of a finding with nothing more to say
    (no saving, no group, no related workloads), kept for the next finding: its workload's other findings."""
    global _last_monthly
    text = _money(value)
    _last_monthly = parts = (value, text, f', "monthly_cost": {text}, "saving": null, "saving_unknown": null, '
                                          f'"group": null, "related": [], "fingerprint": "')
    return parts


_last_monthly: tuple[object, str, str] = (object(), "", "")  # (no cost yet)


def _bool(value: object) -> str:
    return "true" if value is True else "false" if value is False else encode(value)


def _ref_json(ref: ResourceRef, ctx: ReportContext) -> str:
    """``ref.to_dict()`` with its file relative, encoded."""
    namespace = "null" if ref.namespace is None else _string(ref.namespace)
    return (f'{{"kind": {_string(ref.kind)}, "api_version": {_string(ref.api_version)}, '
            f'"name": {_string(ref.name)}, "namespace": {namespace}, "file": {_string(ctx.relative(ref.file))}, '
            f'"line": {_number(ref.line)}}}')


#: The related workloads' texts already encoded for a context, by the identity of their reference (kept alive
#: here): a team's quota and budget findings name the same workloads. Bounded; started afresh for another context.
_related: tuple[object, dict[int, tuple[ResourceRef, str]]] = (None, {})


def _related_json(refs: tuple[ResourceRef, ...], ctx: ReportContext) -> str:
    """A group finding's related workloads, encoded (the list's items): ``_ref_json`` each, remembered."""
    global _related
    owner, texts = _related
    if owner is not ctx or len(texts) > 100_000:
        texts = {}
        _related = (ctx, texts)
    out = []
    for ref in refs:
        hit = texts.get(id(ref))
        if hit is None or hit[0] is not ref:
            hit = texts[id(ref)] = (ref, _ref_json(ref, ctx))
        out.append(hit[1])
    return ", ".join(out)


#: The last resource encoded, as (ref, ctx, its text, the part of a fingerprint's basis it makes): a workload's
#: findings come one after another and share it.
_last_resource: tuple[object, object, str, str] = (None, None, "", "")


def _resource_parts(ref: ResourceRef, ctx: ReportContext) -> tuple[object, object, str, str]:
    global _last_resource
    _last_resource = parts = (ref, ctx, _ref_json(ref, ctx), resource_basis(ref))
    return parts


@functools.lru_cache(maxsize=1024)  # a few field paths, over and over
def _field_json(path: tuple[str | int, ...]) -> str:
    return encode(".".join(map(str, path)) or None)


#: A finding's piece of the report (rendered by a parallel run's workers: ``reporters.piece_renderer``).
piece = _finding_json


def _error(d: Any, ctx: ReportContext) -> dict[str, Any]:
    out: dict[str, Any] = d.to_dict()
    out["file"] = ctx.relative(d.span.file)
    return out
