"""``policy-engine validate``: every compiler diagnostic, plus warnings for policies that compile but smell.

The compiler rejects what is wrong (unknown kinds, type errors, a ``when`` that folds to false). These
checks flag what is legal but almost certainly not what the author meant; each has a stable code
(documented in docs/testing.md):

- W501: an ``exclude`` block covers everything the ``match`` selects, so the policy never applies;
- W502: a label or annotation key that Kubernetes would reject (so no object can carry it);
- W503: a label value that Kubernetes would reject;
- W504: contradictory label requirements in one block (``"env" = "a"`` and ``"env" = "b"``);
- W505: an allowlist/denylist entry that matches no instance type (or GPU model) of the pricing catalog.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from policy_engine.compiler import compile_sources
from policy_engine.compiler.checked import expand_kinds
from policy_engine.compiler.walk import children
from policy_engine.diagnostics import Diagnostic, Level, Span
from policy_engine.pricing.catalog import Catalog
from policy_engine.syntax import ast

_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_KEYED_MAPS = ("labels", "annotations", "object_labels", "pod_labels")


@dataclass(slots=True)
class Validation:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    files: int = 0
    timings: list[tuple[str, float]] = field(default_factory=list)  # compiler passes, then "lint"

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.is_error)

    @property
    def warnings(self) -> int:
        return sum(1 for d in self.diagnostics if not d.is_error)


def _warn(span: Span, code: str, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(span, code, message, Level.WARNING, hint)


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid Kubernetes label/annotation key, or None when it is."""
    prefix, slash, name = key.rpartition("/")
    if slash and not prefix:
        return "the prefix before '/' is empty"
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return f"the prefix {prefix!r} is not a DNS subdomain (lower-case letters, digits, '-', '.'; ≤ 253)"
    if not name:
        return "the name is empty"
    if len(name) > 63:
        return f"the name part is {len(name)} characters long (at most 63)"
    if not _NAME.match(name):
        return (f"the name {name!r} must start and end with a letter or digit and hold only letters, digits, "
                "'-', '_' and '.'")
    return None


def label_value_problem(value: str) -> str | None:
    if value == "":
        return None
    if len(value) > 63:
        return f"it is {len(value)} characters long (at most 63)"
    if not _NAME.match(value):
        return "it must start and end with a letter or digit and hold only letters, digits, '-', '_' and '.'"
    return None


# ---- W502/W503: keys and values --------------------------------------------------------------------------


def _expr_keys(e: ast.Expr) -> Iterator[ast.Str | ast.Literal]:
    """String literals used as keys of ``labels[...]`` / ``annotations[...]`` anywhere in ``e``."""
    if isinstance(e, ast.Index) and isinstance(e.target, ast.Name) and e.target.id in _KEYED_MAPS \
            and isinstance(e.index, ast.Literal) and isinstance(e.index.value, str):
        yield e.index
    for child in children(e):
        yield from _expr_keys(child)


def _policy_exprs(policy: ast.Policy) -> Iterator[ast.Expr]:
    for item in policy.items:
        if isinstance(item, ast.When):
            yield item.condition
        elif isinstance(item, ast.Rule):
            if item.guard is not None:
                yield item.guard
            body = item.body
            if isinstance(body, ast.Assert):
                yield body.condition
            elif isinstance(body, ast.Aggregate) and body.key is not None:
                yield body.key


def _check_keys(policy: ast.Policy) -> Iterator[Diagnostic]:
    keys: list[tuple[str, Span]] = []
    values: list[tuple[str, str, Span]] = []
    for block in policy.blocks:
        for sel in block.selectors:
            if isinstance(sel, ast.LabelsSelector):
                for req in sel.requirements:
                    keys.append((req.key.value, req.key.span))
                    values.extend((req.key.value, v.value, v.span) for v in req.values)
    for rule in policy.rules:
        body = rule.body
        if isinstance(body, ast.RequireKeys):
            keys.extend((k.value, k.span) for k in body.keys)
        elif isinstance(body, ast.RequireKey):
            keys.append((body.key.value, body.key.span))
            if body.target == "label":
                values.extend((body.key.value, v.value, v.span) for v in body.allowed or ())
    for e in _policy_exprs(policy):
        keys.extend((str(k.value), k.span) for k in _expr_keys(e))
    for key, span in keys:
        problem = label_key_problem(key)
        if problem is not None:
            yield _warn(span, "W502", f"{key!r} is not a valid Kubernetes label key: {problem}",
                        "no object can carry this key, so the rule reads nothing; check the spelling")
    for key, value, span in values:
        problem = label_value_problem(value)
        if problem is not None:
            yield _warn(span, "W503", f"{value!r} is not a valid value for label {key!r}: {problem}",
                        "no object can carry this value")


# ---- W501/W504: selectors ------------------------------------------------------------------------------


def _kinds(blocks: Sequence[ast.MatchBlock]) -> set[str] | None:
    """The kinds the blocks name together; None when one names every kind (or none restricts kinds)."""
    named: set[str] | None = None
    for block in blocks:
        for sel in block.selectors:
            if isinstance(sel, ast.KindsSelector):
                kinds = set(expand_kinds(k.name for k in sel.kinds))
                if "workloads" in kinds:
                    continue
                named = kinds if named is None else named & kinds
    return named


def _implied(selector: ast.Selector, match: Sequence[ast.MatchBlock]) -> bool:
    """Whether every object the match blocks select also satisfies ``selector``."""
    if isinstance(selector, ast.KindsSelector):
        excluded = set(expand_kinds(k.name for k in selector.kinds))
        matched = _kinds(match)
        return "workloads" in excluded or (matched is not None and matched <= excluded)
    if isinstance(selector, ast.NamespacesSelector):
        patterns = [p.value for p in selector.patterns]
        if "*" in patterns:
            return True
        for block in match:
            for sel in block.selectors:
                if isinstance(sel, ast.NamespacesSelector) and sel.patterns and all(
                        any(fnmatch.fnmatchcase(m.value, p) for p in patterns) for m in sel.patterns):
                    return True
        return False
    wanted = {(r.key.value, r.op, tuple(sorted(v.value for v in r.values))) for r in selector.requirements}
    have = {(r.key.value, r.op, tuple(sorted(v.value for v in r.values)))
            for block in match for sel in block.selectors if isinstance(sel, ast.LabelsSelector)
            for r in sel.requirements}
    return wanted <= have


def _check_selectors(policy: ast.Policy) -> Iterator[Diagnostic]:
    match = [b for b in policy.blocks if not b.exclude]
    for block in policy.blocks:
        if block.exclude and all(_implied(sel, match) for sel in block.selectors):
            yield _warn(block.span, "W501", "this exclude block covers everything the policy matches, so the "
                        "policy never applies",
                        "narrow the exclude block (or the match block) so some objects remain")
        yield from _contradictions(block)


def _contradictions(block: ast.MatchBlock) -> Iterator[Diagnostic]:
    if block.exclude:
        return
    required: dict[str, tuple[set[str], Span]] = {}
    absent: dict[str, Span] = {}
    for sel in block.selectors:
        if not isinstance(sel, ast.LabelsSelector):
            continue
        for req in sel.requirements:
            key = req.key.value
            if req.op == "absent":
                absent[key] = req.span
                continue
            if req.op not in ("=", "in"):
                continue
            allowed = {v.value for v in req.values}
            if key in required:
                allowed &= required[key][0]
                if not allowed:
                    yield _warn(req.span, "W504", f"label {key!r} cannot satisfy both requirements of this "
                                "block, so the policy never applies",
                                f"the other requirement is at {required[key][1]}")
            required[key] = (allowed, req.span)
    for key, span in absent.items():
        if key in required:
            yield _warn(span, "W504", f"label {key!r} is required both absent and present, so the policy never "
                        "applies", f"the other requirement is at {required[key][1]}")


# ---- W505: the pricing catalog ---------------------------------------------------------------------------


def _check_catalog(policy: ast.Policy, catalog: Catalog) -> Iterator[Diagnostic]:
    # the names the catalog recognises: priced, and known by their hardware without a published price
    names = {"instance_types": sorted({*catalog.instance_types, *catalog.unpriced_types}),
             "gpu_models": sorted({*catalog.gpu_models, *catalog.unpriced_gpu_models})}
    for rule in policy.rules:
        body = rule.body
        if not isinstance(body, ast.PatternList):
            continue
        known = names[body.target]
        for pattern in body.patterns:
            rx = re.compile(fnmatch.translate(pattern.value), re.IGNORECASE)
            if not any(rx.match(name) for name in known):
                noun = "instance type" if body.target == "instance_types" else "GPU model"
                close = difflib.get_close_matches(pattern.value, known, n=4, cutoff=0.4) or _same_stem(
                    pattern.value, known)
                yield _warn(pattern.span, "W505", f"{pattern.value!r} matches no {noun} of the pricing catalog",
                            f"check the spelling; the catalog knows e.g. {', '.join(close)}")


def _same_stem(pattern: str, known: list[str]) -> list[str]:
    """Catalog names sharing the longest prefix with the pattern's literal start (at most six)."""
    stem = re.split(r"[*?\[]", pattern, maxsplit=1)[0].lower()
    for length in range(len(stem), 0, -1):
        found = [k for k in known if k.lower().startswith(stem[:length])]
        if found:
            return found[:6]
    return known[:6]


# ---- entry point -----------------------------------------------------------------------------------------


def smells(module: ast.Module, catalog: Catalog | None) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for policy in module.policies:
        out.extend(_check_selectors(policy))
        out.extend(_check_keys(policy))
        if catalog is not None:
            out.extend(_check_catalog(policy, catalog))
    return out


def validate_sources(sources: dict[str, str], catalog: Catalog | None) -> Validation:
    """Compile ``sources`` (file → text) and add the smell warnings of every file that parsed."""
    compiled = compile_sources(sources, catalog=catalog)
    result = Validation(list(compiled.diagnostics), dict(compiled.sources), len(sources), list(compiled.timings))
    started = time.perf_counter()
    for module in compiled.asts.values():
        result.diagnostics.extend(smells(module, catalog))
    result.timings.append(("lint", time.perf_counter() - started))
    unique = {(d.span, d.code, d.message): d for d in result.diagnostics}
    result.diagnostics = sorted(unique.values(), key=Diagnostic.sort_key)
    return result


def render_timings(timings: list[tuple[str, float]]) -> str:
    """One line per compiler pass, then the total: ``validate --timings``."""
    width = max((len(name) for name, _ in timings), default=5)
    lines = [f"  {name:<{width}}  {seconds * 1000:9.2f} ms" for name, seconds in timings]
    lines.append(f"  {'total':<{width}}  {sum(s for _, s in timings) * 1000:9.2f} ms")
    return "compiler passes:\n" + "\n".join(lines)
