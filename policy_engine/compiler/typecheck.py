"""Pass 2, check: every setting, selector, rule and expression of every policy, all errors at once.

The checker never stops at the first problem: it records a located diagnostic and carries on, so an
author fixes a file in one round. Its output (``CheckedPolicy``) carries the decoded settings and the
type of every expression for the fold and codegen passes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from policy_engine.compiler import kube_schema
from policy_engine.compiler import types as t
from policy_engine.compiler.attributes import ATTRIBUTES
from policy_engine.compiler.checked import KIND_GROUPS, WORKLOADS, CheckedPolicy, Instance
from policy_engine.compiler.codegen_expr import uses_workload
from policy_engine.compiler.messages import RULE_PLACEHOLDERS, unknown_placeholders
from policy_engine.compiler.objects import OBJECT_KINDS
from policy_engine.compiler.program import Enforcement, FailureMode, Period, Severity
from policy_engine.compiler.typecheck_expr import ExprChecker, check_regex, error, suggest
from policy_engine.diagnostics import Diagnostic, Level, Span
from policy_engine.syntax import ast

LIVE_METRICS = ("gpu_utilisation",)
IDLE_ACTIONS = ("notify", "stop")  # `idle … then VERB`: the controller's action
IDLE_OPTIONS = ("delete_pods", "act")
QUOTA_METRICS = ("gpu_hours",)
_SETTING_VALUES: dict[str, tuple[str, ...]] = {
    "severity": tuple(s.value for s in Severity),
    "enforcement": tuple(e.value for e in Enforcement),
    "on_error": tuple(f.value for f in FailureMode),
    "exemptions": ("allowed", "denied"),
}


class PolicyChecker:
    def __init__(self, instance: Instance, known_kinds: frozenset[str],
                 diagnostics: list[Diagnostic]) -> None:
        self.instance = instance
        self.known_kinds = known_kinds
        self.diagnostics = diagnostics
        self.out = CheckedPolicy(instance)
        self.exprs = ExprChecker(instance.params, diagnostics, self.out.types)

    def report(self, span: Span, code: str, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(error(span, code, message, hint))

    def run(self) -> CheckedPolicy:
        policy = self.instance.policy
        self.settings(policy.settings)
        for block in policy.blocks:
            self.block(block)
        matched = matched_kinds(policy)
        self.exprs.object_shape = None if matched is None else kube_schema.kind_shape(matched, "")
        self.exprs.pod_shapes = kube_schema.pod_shapes(matched)
        for when in policy.whens:
            self.exprs.condition(when.condition, "a 'when' condition")
        for rule in policy.rules:
            self.rule(rule)
        if not policy.rules:
            self.diagnostics.append(Diagnostic(policy.name.span, "W101",
                                               "policy has no rules: it never finds anything", Level.WARNING))
        return self.out

    # ---- settings ----
    def settings(self, settings: Sequence[ast.Setting]) -> None:
        seen: dict[str, ast.Setting] = {}
        for s in settings:
            key = s.key.name
            if key in seen:
                self.report(s.key.span, "E302", f"{key!r} is set twice in this policy",
                            f"the first is at {seen[key].span}")
                continue
            seen[key] = s
            value = s.value.value if isinstance(s.value, ast.Str) else s.value.name
            if key in ("description", "help"):
                if not isinstance(s.value, ast.Str):
                    self.report(s.value.span, "E201", f"{key} takes a string", f'write {key} "{value}"')
                elif key == "description":
                    self.out.description = value
                else:
                    self.out.help = value
                continue
            allowed = _SETTING_VALUES[key]
            if value not in allowed:
                hint = suggest(value, allowed) or f"one of: {', '.join(allowed)}"
                self.report(s.value.span, "E105", f"unknown {key} {value!r}", hint)
                continue
            if key == "severity":
                self.out.severity = Severity(value)
            elif key == "enforcement":
                self.out.enforcement = Enforcement(value)
            elif key == "on_error":
                self.out.failure_mode = FailureMode(value)
            else:
                self.out.allow_exemption = value == "allowed"

    # ---- match / exclude ----
    def block(self, block: ast.MatchBlock) -> None:
        where = "exclude" if block.exclude else "match"
        for sel in block.selectors:
            if isinstance(sel, ast.KindsSelector):
                if not sel.kinds:
                    self.report(sel.span, "E303", f"empty kinds list in {where}: it matches nothing",
                                f"name kinds, e.g. kinds [Job], or write kinds {WORKLOADS}")
                for kind in sel.kinds:
                    if isinstance(kind, ast.Str):
                        continue  # a kind the engine does not know (a CRD), taken as written
                    if (kind.name != WORKLOADS and kind.name not in KIND_GROUPS and kind.name not in self.known_kinds
                            and kind.name not in OBJECT_KINDS):
                        hint = suggest(kind.name, [*self.known_kinds, *OBJECT_KINDS, WORKLOADS, *KIND_GROUPS]) or (
                            f'a kind the engine does not know (a CRD) is written as a string: kinds ["{kind.name}"]')
                        self.report(kind.span, "E103", f"unknown kind {kind.name!r}", hint)
            elif isinstance(sel, ast.NamespacesSelector):
                if not sel.patterns:
                    self.report(sel.span, "E303", f"empty namespaces list in {where}: it matches nothing")
            else:
                for req in sel.requirements:
                    if req.op in ("in", "notin") and not req.values:
                        self.report(req.span, "E303", f"empty value list for label {req.key.value!r}")

    # ---- rules ----
    def rule(self, rule: ast.Rule) -> None:
        body = rule.body
        if rule.guard is not None:
            self.exprs.condition(rule.guard, "an 'if' guard")
            if isinstance(body, ast.Aggregate):
                self.report(rule.guard.span, "E309", f"a {body.kind} cannot have an 'if' guard",
                            "narrow the workloads it counts with the policy's `when` or `match`")
        if rule.message is not None:
            self.message(rule.message, body)
        if isinstance(body, ast.RequireKeys):
            if not body.keys:
                self.report(body.span, "E303", f"empty list of required {body.target}", 'e.g. ["team"]')
        elif isinstance(body, ast.RequireKey):
            if body.allowed is not None and not body.allowed:
                self.report(body.span, "E303", f"empty allowlist for {body.target} {body.key.value!r}: "
                            "no value would be accepted", "list the accepted values")
            if body.pattern is not None:
                check_regex(body.pattern.value, body.pattern.span, self.diagnostics)
        elif isinstance(body, ast.PatternList):
            if not body.patterns:
                noun = "allowlist" if body.mode == "allow" else "denylist"
                effect = "every workload would be rejected" if body.mode == "allow" else "it denies nothing"
                self.report(body.span, "E303", f"empty {noun} of {body.target}: {effect}",
                            'list glob patterns, e.g. ["g5.*", "*A100*"]')
        elif isinstance(body, ast.RequireIdle | ast.RequireDeadline):
            if body.maximum is not None:
                self.constant(body.maximum, (t.DURATION,), "the maximum", "a duration such as 30m")
        elif isinstance(body, ast.Assert):
            self.exprs.condition(body.condition, "an assert or forbid condition")
        elif isinstance(body, ast.LiveIdle):
            self.live_idle(body)
        elif isinstance(body, ast.Aggregate):
            self.aggregate(body)

    def message(self, message: ast.Str, body: ast.RuleBody) -> None:
        allowed = [*ATTRIBUTES, *self.instance.params, "policy", *RULE_PLACEHOLDERS[type(body)]]
        unknown = unknown_placeholders(message.value, allowed)
        if unknown is None:
            self.report(message.span, "E106", "unbalanced '{' or '}' in message",
                        "write {{ or }} for a brace")
            return
        for name in unknown:
            offered = ", ".join("{" + p + "}" for p in sorted(RULE_PLACEHOLDERS[type(body)]))
            hint = suggest(name, allowed) or f"this rule offers {offered} and every attribute"
            offset = message.raw.find("{" + name)
            span = message.span if offset < 0 else Span(
                message.span.file, message.span.line, message.span.column + offset, message.span.line,
                message.span.column + offset + len(name) + 2)
            self.report(span, "E106", f"unknown placeholder {{{name}}} in message", hint)

    def constant(self, e: ast.Expr, wanted: tuple[str, ...], what: str, example: str) -> None:
        type_ = self.exprs.expect(e, wanted, what, example)
        if type_ != t.ERROR and uses_workload(e, self.instance.params):
            self.report(e.span, "E204", f"{what} must be a constant", f"write {example}")

    def live_idle(self, body: ast.LiveIdle) -> None:
        if body.metric.name not in LIVE_METRICS:
            self.report(body.metric.span, "E105", f"unknown live metric {body.metric.name!r}",
                        suggest(body.metric.name, LIVE_METRICS) or f"one of: {', '.join(LIVE_METRICS)}")
        self.constant(body.threshold, (t.PERCENT,), "the utilisation threshold", "a percentage such as 10%")
        self.constant(body.duration, (t.DURATION,), "the idle duration", "a duration such as 30m")
        action = body.action
        if action is None:
            return
        if action.verb.name not in IDLE_ACTIONS:
            self.report(action.verb.span, "E105", f"unknown idle action {action.verb.name!r}",
                        suggest(action.verb.name, IDLE_ACTIONS) or f"one of: {', '.join(IDLE_ACTIONS)}")
        if action.notice is not None:
            self.constant(action.notice, (t.DURATION,), "the notice period", "a duration such as 30m")
        elif action.verb.name == "stop":
            self.report(action.span, "E105", "`then stop` needs a notice period",
                        "write `then stop after 30m`: the owner is notified first")
        for option in action.options:
            if option.name not in IDLE_OPTIONS:
                self.report(option.span, "E105", f"unknown idle option {option.name!r}",
                            suggest(option.name, IDLE_OPTIONS) or f"one of: {', '.join(IDLE_OPTIONS)}")

    def aggregate(self, body: ast.Aggregate) -> None:
        if body.kind == "quota" and body.metric is not None and body.metric.name not in QUOTA_METRICS:
            self.report(body.metric.span, "E105", f"unknown quota metric {body.metric.name!r}",
                        suggest(body.metric.name, QUOTA_METRICS)
                        or "quotas count gpu_hours; use a budget for money")
        unit, example = ((t.NUMBER,), "a number of GPU-hours such as 1000") if body.kind == "quota" else (
            (t.MONEY,), "an amount such as $5,000")
        if body.limit is not None:
            self.constant(body.limit, unit, f"the {body.kind} limit", example)
        elif not body.overrides:
            self.report(body.span, "E306", f"this {body.kind} sets no limit",
                        f"give a default limit ({example}) or per-group overrides")
        if body.period is None:
            self.report(body.span, "E305", f"this {body.kind} has no period",
                        "add `per day`, `per week` or `per month`")
        elif body.period.name not in {p.value for p in Period}:
            names = [p.value for p in Period]
            self.report(body.period.span, "E104", f"unknown period {body.period.name!r}",
                        suggest(body.period.name, names) or f"one of: {', '.join(names)}")
        if body.key is None:
            self.report(body.span, "E304", f"this {body.kind} has no grouping key",
                        'add `by labels["team"]` (or namespace, or any string attribute)')
        else:
            key = self.exprs.check(body.key)
            if key not in (t.STRING, t.ANY, t.ERROR):
                self.report(body.key.span, "E201", f"a grouping key must be a string, not {t.describe(key)}",
                            'e.g. by labels["team"] or by namespace')
        seen: set[str] = set()
        for override in body.overrides:
            if override.key.value in seen:
                self.report(override.key.span, "E302", f"group {override.key.value!r} is overridden twice")
            seen.add(override.key.value)
            self.constant(override.limit, unit, "an override limit", example)
        for alert in body.alerts:
            self.constant(alert, (t.PERCENT,), "an alert threshold", "a percentage such as 80%")
        if body.anomaly is not None:
            self.constant(body.anomaly, (t.NUMBER,), "the anomaly factor", "a number such as 3 (3 × the average)")
        if body.anomaly_window is not None:
            self.constant(body.anomaly_window, (t.DURATION,), "the anomaly window", "a duration such as 7d")


def matched_kinds(policy: ast.Policy) -> frozenset[str] | None:
    """The kinds a policy can apply to, by name, or None when it can apply to any (no kinds selector)."""
    kinds: set[str] = set()
    matches = [b for b in policy.blocks if not b.exclude]
    for block in matches:
        selectors = [s for s in block.selectors if isinstance(s, ast.KindsSelector)]
        if not selectors:
            return None
        named = [frozenset(str(k.value) if isinstance(k, ast.Str) else k.name for k in s.kinds) for s in selectors]
        kinds |= frozenset.intersection(*named)  # the selectors of one block must all hold
    return frozenset(kinds) if matches else None


def typecheck_policies(instances: Iterable[Instance], known_kinds: frozenset[str],
                   diagnostics: list[Diagnostic]) -> list[CheckedPolicy]:
    """Check every instance; policy names must be unique across everything compiled together."""
    checked: list[CheckedPolicy] = []
    first: dict[str, Instance] = {}
    for instance in instances:
        if instance.name in first:
            earlier = first[instance.name]
            via = f" (imported at {instance.imported_at})" if instance.imported_at else ""
            diagnostics.append(Diagnostic(
                instance.policy.name.span, "E301", f"duplicate policy name {instance.name!r}{via}",
                hint="policy names are unique across all files compiled together; rename one, or import "
                     "with `as <prefix>`", notes=(f"first defined at {earlier.policy.name.span}",)))
            continue
        first[instance.name] = instance
        before = sum(1 for d in diagnostics if d.is_error)
        result = PolicyChecker(instance, known_kinds, diagnostics).run()
        result.ok = before == sum(1 for d in diagnostics if d.is_error)
        checked.append(result)
    return checked
