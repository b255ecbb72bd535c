"""Names and messages made safe for every output format, whatever bytes a file or resource name holds.

A file name may hold a newline or bytes that are not UTF-8 (Python keeps those as lone surrogates), and a
resource name is whatever the manifest says (``x\\n::warning::...``). Written as they are, they crash the
JSON, SARIF and PolicyReport writers (a surrogate cannot be encoded), make JUnit XML invalid (control
characters are not XML), and let a manifest forge lines of the text output, including GitHub workflow
commands. So every string a reporter receives has control characters and undecodable bytes escaped,
visibly (``\\n``, ``\\x1b``, ``\\xff``), once, before any format is rendered; the formats then add their
own escaping (XML, HTML, Markdown) on top. Printable text, any script, passes unchanged.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Sequence
from enum import Enum
from typing import Any

from policy_engine.engine.findings import Finding, ResourceRef, Result
from policy_engine.engine.packed import PackedList
from policy_engine.reporters.context import ReportContext
from policy_engine.reporters.costs import TeamShare, WorkloadCost


def text(value: str) -> str:
    """``value`` with every non-printable character escaped; the same object when it is clean."""
    if value.isprintable():
        return value
    out = []
    for char in value:
        if char.isprintable():
            out.append(char)
        elif "\udc80" <= char <= "\udcff":  # an undecodable byte, kept by the surrogateescape handler
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        else:
            out.append(char.encode("unicode_escape").decode("ascii") if ord(char) < 0x10000 or char.isascii()
                       else f"\\U{ord(char):08x}")
    return "".join(out)


def _printable(value: object) -> bool:
    """Whether ``value`` (a string, a number, None, or a tuple or list of them) needs no escaping."""
    if value.__class__ is str:
        return value.isprintable()
    if value.__class__ is tuple or value.__class__ is list:
        for item in value:
            kind = item.__class__
            if kind is str:  # a finding's facts are pairs of strings mostly: tested here, not in a call each
                if not item.isprintable():
                    return False
            elif not (item is None or kind in _PLAIN or _printable(item)):
                return False
        return True
    return value is None or value.__class__ in _PLAIN or isinstance(value, Enum)


_PLAIN = (int, float, bool)


def _printable_facts(facts: tuple[tuple[str, object], ...]) -> bool:
    """``_printable(facts)`` for a finding's facts, (name, value) pairs: a pair at a time, and the strings of a
    value that is a list or tuple of them, without a call each."""
    for pair in facts:
        if pair.__class__ is not tuple or len(pair) != 2:
            return _printable(facts)
        name, value = pair
        if name.__class__ is not str or not name.isprintable():
            return _printable(facts)
        kind = value.__class__
        if kind is str:
            if not value.isprintable():  # type: ignore[attr-defined]
                return False
        elif value is None or kind in _PLAIN:
            continue
        elif kind is list or kind is tuple:
            for item in value:  # type: ignore[attr-defined]
                if item.__class__ is str:
                    if not item.isprintable():
                        return False
                elif not (item is None or item.__class__ in _PLAIN or _printable(item)):
                    return False
        elif not _printable(value):
            return False
    return True


#: Field paths found printable: a few, over and over (bounded).
_clean_paths: set[tuple[str | int, ...]] = set()


def _printable_path(path: tuple[str | int, ...]) -> bool:
    if not _printable(path):
        return False
    if len(_clean_paths) < 4096:
        _clean_paths.add(path)
    return True


def _clean_ref(ref: ResourceRef) -> ResourceRef:
    if (ref.kind.isprintable() and ref.name.isprintable() and ref.file.isprintable()
            and ref.api_version.isprintable() and (ref.namespace is None or ref.namespace.isprintable())):
        return ref
    cleaned: ResourceRef = _clean_fields(ref)
    return cleaned


#: The last resource found clean (``_clean_finding``).
_clean_resource: list[ResourceRef | None] = [None]


def _clean_finding(f: Finding) -> Finding:
    """A finding as it is when every string in it is printable (nearly always): checked field by field,
    without the generic walk, since a large run has hundreds of thousands of them."""
    resource = f.resource
    if resource is not _clean_resource[0]:  # a workload's findings come together and share their resource
        resource = _clean_ref(resource)
        if resource is f.resource:
            _clean_resource[0] = resource
    if (resource is f.resource and f.message.isprintable() and f.policy.isprintable() and f.rule.isprintable()
            and (f.group is None or f.group.isprintable())
            and (not f.field_path or f.field_path in _clean_paths or _printable_path(f.field_path))
            and (not f.facts or _printable_facts(f.facts)) and (not f.related or _clean_refs(f.related))):
        return f
    cleaned: Finding = _clean_fields(f)
    return cleaned


def _clean_refs(refs: tuple[ResourceRef, ...]) -> bool:
    """Whether a group finding's related workloads (thousands, for a team's quota) are all clean."""
    return all(_clean_ref(ref) is ref for ref in refs)


#: A finding made safe (in a parallel run's workers, before they render its pieces).
finding = _clean_finding


def _clean(value: Any) -> Any:
    if value.__class__ is TeamShare:  # one per workload
        return value if value.team.isprintable() else dataclasses.replace(value, team=text(value.team))
    if value.__class__ is Finding:
        return _clean_finding(value)
    if value.__class__ is ResourceRef:
        return _clean_ref(value)
    if value.__class__ is WorkloadCost and _clean_ref(value.ref) is value.ref and value.team.isprintable():
        return value  # one per workload: checked without the generic walk
    if isinstance(value, str):
        return text(value)
    if isinstance(value, tuple | list):
        cleaned = [_clean(v) for v in value]
        if all(map(operator.is_, cleaned, value)):
            return value  # unchanged: the same object, so that its owner is not copied either
        return tuple(cleaned) if isinstance(value, tuple) else cleaned
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _clean_fields(value)
    return value


def _clean_fields(value: Any) -> Any:
    """A dataclass with each field cleaned; the same object when nothing changed."""
    changes = {}
    for f in dataclasses.fields(value):
        if not f.init:
            continue
        old = getattr(value, f.name)
        new = _clean(old) if isinstance(old, str | tuple | list) or dataclasses.is_dataclass(old) else old
        if new is not old:
            changes[f.name] = new
    return dataclasses.replace(value, **changes) if changes else value


def result(original: Result) -> Result:
    """The result with every name and message escaped (the workload objects themselves are left as they are)."""
    findings, evaluations = original.findings, original.evaluations
    return dataclasses.replace(
        original,
        findings=findings.mapped(_clean_finding) if isinstance(findings, PackedList)
        else [_clean_finding(f) if f.__class__ is Finding else _clean(f) for f in findings],
        errors=[_clean(e) for e in original.errors],
        evaluations=evaluations.mapped(_clean_pair) if isinstance(evaluations, PackedList)
        else [_clean_pair(pair) for pair in evaluations],
    )


def _clean_pair(pair: tuple[str, ResourceRef]) -> tuple[str, ResourceRef]:
    policy, ref = pair
    clean_ref = _clean_ref(ref)
    return pair if clean_ref is ref and policy.isprintable() else (text(policy), clean_ref)


def context(ctx: ReportContext, original: Result) -> ReportContext:
    """The context with its per-workload costs and cost diff escaped too."""
    costs: Sequence[Any] | None = ctx.costs
    if costs is None and original.workloads:
        costs = ctx.workload_costs(original)
    return dataclasses.replace(ctx, costs=_clean(list(costs)) if costs is not None else None,
                               cost_diff=_clean(ctx.cost_diff) if ctx.cost_diff is not None else None)
