"""Pass 5, codegen: a checked, folded policy → ``CompiledPolicy`` of closures (no AST at run time)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence

from policy_engine.compiler.checked import WORKLOADS, CheckedPolicy, expand_kinds
from policy_engine.compiler.codegen_expr import compile_expr, condition
from policy_engine.compiler.codegen_rules import NONE, RuleCompiler, RuleFn, constant_value
from policy_engine.compiler.estimates import SavingFns
from policy_engine.compiler.messages import compile_template, render_value
from policy_engine.compiler.program import (
    DEFAULT_ALERTS,
    AggregateRule,
    CompiledPolicy,
    LiveIdleRule,
    Period,
    Violation,
)
from policy_engine.model.workload import Workload
from policy_engine.syntax import ast
from policy_engine.syntax.unparse import unparse

Predicate = Callable[[Workload], bool]


def _globs(patterns: Sequence[str]) -> re.Pattern[str]:
    return re.compile("|".join(fnmatch.translate(p) for p in patterns))


def _label_test(req: ast.LabelRequirement) -> Predicate:
    key = req.key.value
    values = frozenset(v.value for v in req.values)
    if req.op == "exists":
        return lambda w: key in w.labels
    if req.op == "absent":
        return lambda w: key not in w.labels
    if req.op in ("=", "in"):
        return lambda w: w.labels.get(key) in values
    return lambda w: w.labels.get(key) not in values  # != and notin: an absent label qualifies


#: Namespaces whose match a selector remembers (past it, it forgets them all and starts again).
_DECIDED_NAMESPACES = 4096


def _selector(sel: ast.Selector) -> Predicate | None:
    """The test a selector makes, or None when it lets every workload through."""
    if isinstance(sel, ast.KindsSelector):
        if any(k.name == WORKLOADS for k in sel.kinds):
            return None  # every workload
        frozen = expand_kinds(k.name for k in sel.kinds)
        return lambda w: w.kind in frozen or w.creates in frozen
    if isinstance(sel, ast.NamespacesSelector):
        match = _globs([p.value for p in sel.patterns]).match
        # an object without a namespace is matched only by "*": where it lands is not known here
        wildcard = any(p.value == "*" for p in sel.patterns)
        decided: dict[str, bool] = {}  # a run has a few namespaces: each matched once

        def in_namespaces(w: Workload) -> bool:
            namespace = w.namespace
            if namespace is None:
                return wildcard
            found = decided.get(namespace)
            if found is None:
                if len(decided) >= _DECIDED_NAMESPACES:
                    decided.clear()
                found = decided[namespace] = match(namespace) is not None
            return found

        return in_namespaces
    tests = [_label_test(r) for r in sel.requirements]
    return lambda w: all(t(w) for t in tests)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda w: a(w) and b(w)


def _all(tests: list[Predicate | None]) -> Predicate:
    """A conjunction as nested pairs: cheaper per call than ``all()`` over a generator."""
    preds = [p for p in tests if p is not None]
    if not preds:
        return lambda w: True
    combined = preds[-1]
    for p in reversed(preds[:-1]):
        combined = _both(p, combined)
    return combined


def _applies(policy: ast.Policy) -> Predicate:
    """``match`` blocks are alternatives (any), ``exclude`` blocks each exclude, ``when``s must all hold."""
    matches = [_all([_selector(s) for s in b.selectors]) for b in policy.blocks if not b.exclude]
    excludes = [_all([_selector(s) for s in b.selectors]) for b in policy.blocks if b.exclude]
    if any(_selects_all(b) for b in policy.blocks if not b.exclude):
        matches = []  # one alternative lets everything through
    whens = [condition(w.condition) for w in policy.whens]
    preds: list[Predicate | None] = []
    if len(matches) == 1:
        preds.append(matches[0])
    elif matches:
        preds.append(lambda w: any(m(w) for m in matches))
    if len(excludes) == 1 and not preds:  # the common shape: every workload but those excluded, then `when`s
        (excluded,) = excludes
        if not whens:
            return lambda w: not excluded(w)
        rest = _all(list(whens))
        return lambda w: not excluded(w) and rest(w)  # one call fewer than a pair of predicates
    for ex in excludes:
        preds.append(lambda w, ex=ex: not ex(w))  # type: ignore[misc]
    return _all([*preds, *whens])


def _selects_all(block: ast.MatchBlock) -> bool:
    return all(_selector(s) is None for s in block.selectors)


def _guarded(guard: ast.Expr | None, fn: RuleFn) -> RuleFn:
    if guard is None:
        return fn
    test = condition(guard)
    return lambda w: fn(w) if test(w) else NONE


def _violations(fns: list[RuleFn]) -> Callable[[Workload], list[Violation]]:
    if not fns:
        return lambda w: []
    if len(fns) == 1:
        only = fns[0]
        return lambda w: only(w) or []  # type: ignore[return-value]  # a rule returns a list or ()

    def every_rule(w: Workload) -> list[Violation]:
        out: list[Violation] = []
        for fn in fns:  # most rules find nothing (an empty tuple): nothing to iterate
            found = fn(w)
            if found:
                out += found
        return out

    return every_rule


def _aggregate(body: ast.Aggregate, message: ast.Str | None) -> AggregateRule:
    assert body.key is not None and body.period is not None
    read = compile_expr(body.key)

    def key(w: Workload) -> str | None:
        value = read(w)
        return None if value is None or value == "" else render_value(value)

    limit = constant_value(body.limit)
    return AggregateRule(
        kind=body.kind, metric="gpu_hours" if body.kind == "quota" else "cost", key=key,
        key_label=unparse(body.key), period=Period(body.period.name),
        default_limit=float(limit) if limit is not None else None,
        overrides={o.key.value: float(constant_value(o.limit)) for o in body.overrides},
        thresholds=tuple(sorted(float(constant_value(a)) for a in body.alerts)) or (1.0,),
        alert_thresholds=tuple(sorted(float(constant_value(a)) for a in body.alerts)) or DEFAULT_ALERTS,
        forecast=body.forecast,
        anomaly_factor=float(constant_value(body.anomaly)) if body.anomaly is not None else None,
        anomaly_days=max(1, round(float(constant_value(body.anomaly_window)) / 86400))
        if body.anomaly_window is not None else 7,
        message=message.value if message else None, span=body.span)


def generate(checked: CheckedPolicy, folded: ast.Policy, kinds: frozenset[str] | None,
             known_kinds: frozenset[str], savings: SavingFns) -> CompiledPolicy:
    instance = checked.instance
    constants = {name: render_value(c.value, c.type) for name, c in instance.params.items()}
    fns: list[RuleFn] = []
    aggregates: list[AggregateRule] = []
    live: list[LiveIdleRule] = []
    for rule in folded.rules:
        body = rule.body
        if isinstance(body, ast.Aggregate):
            aggregates.append(_aggregate(body, rule.message))
            continue
        if isinstance(body, ast.LiveIdle):
            threshold, duration = constant_value(body.threshold), constant_value(body.duration)
            action = body.action
            options = {o.name for o in action.options} if action is not None else set()
            notice = constant_value(action.notice) if action is not None and action.notice is not None else 0.0
            live.append(LiveIdleRule(float(threshold), float(duration), body.span,
                                     action=action.verb.name if action is not None else "report",
                                     notice_seconds=float(notice), delete_pods="delete_pods" in options,
                                     act="act" in options))
            continue
        template = compile_template(rule.message.value, constants) if rule.message else None
        rc = RuleCompiler(instance.name, template, savings)
        fn: RuleFn
        if isinstance(body, ast.RequireKeys):
            fn = rc.require_keys(body)
        elif isinstance(body, ast.RequireKey):
            fn = rc.require_key(body)
        elif isinstance(body, ast.PatternList):
            fn = rc.pattern_list(body)
        elif isinstance(body, ast.RequirePinned):
            fn = rc.require_pinned(body)
        elif isinstance(body, ast.RequireSpot):
            fn = rc.require_spot(body)
        elif isinstance(body, ast.RequireIdle):
            fn = rc.require_idle(body, constant_value(body.maximum))
        elif isinstance(body, ast.RequireDeadline):
            fn = rc.require_deadline(body, constant_value(body.maximum))
        else:
            fn = rc.assertion(_original(instance.policy, rule) or body, body.condition, constants)
        fns.append(_guarded(rule.guard, fn))
    return CompiledPolicy(
        name=instance.name, description=checked.description, severity=checked.severity,
        enforcement=checked.enforcement, span=instance.policy.span, kinds=kinds,
        applies=_applies(folded), violations=_violations(fns), aggregates=tuple(aggregates),
        live_idle=tuple(live), failure_mode=checked.failure_mode, allow_exemption=checked.allow_exemption,
        help=checked.help, file=instance.module.file)


def _original(policy: ast.Policy, folded_rule: ast.Rule) -> ast.Assert | None:
    """The assert as written (before folding), so messages quote the author's text with parameter names."""
    for rule in policy.rules:
        if rule.span == folded_rule.span and isinstance(rule.body, ast.Assert):
            return rule.body
    return None
