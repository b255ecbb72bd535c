"""The decision of one policy for one workload, clause by clause: ``Trace``.

The interpreter (``authoring.interpret``) decides every clause from the AST; each rule's message text
comes from the compiled rule (the compiler's code generator run on that one clause), and the whole
traced verdict is compared with the compiled policy's (``Trace.agrees``), so explain never tells a
story the engine does not act on.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

from policy_engine.authoring.facts import Fact, at, attribute_fact, keyed_fact
from policy_engine.authoring.fmt import INDENT, item_lines, selector_lines
from policy_engine.authoring.interpret import Interpreter, Param, selector_holds
from policy_engine.compiler.attributes import ATTRIBUTES, deciding_roles
from policy_engine.compiler.checked import CheckedPolicy
from policy_engine.compiler.codegen import generate
from policy_engine.compiler.estimates import bind_savings
from policy_engine.compiler.fold import fold_policy
from policy_engine.compiler.index import policy_kinds
from policy_engine.compiler.messages import render_duration, render_value
from policy_engine.compiler.program import CompiledPolicy
from policy_engine.diagnostics import Diagnostic, Span
from policy_engine.model.kinds import KNOWN_KINDS
from policy_engine.model.workload import CapacityType, Role, RunKind, Workload
from policy_engine.pricing.catalog import Catalog
from policy_engine.syntax import ast
from policy_engine.syntax.unparse import unparse


@dataclass(slots=True)
class Step:
    """One clause: what it says, where, what it decided and what it read."""

    clause: str  # match | exclude | when | rule
    text: str
    location: str
    outcome: str
    facts: list[Fact] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"clause": self.clause, "text": self.text, "location": self.location, "outcome": self.outcome,
                "facts": [f.to_dict() for f in self.facts], "notes": self.notes, "violations": self.violations}


@dataclass(slots=True)
class Trace:
    policy: str
    policy_location: str
    verdict: str  # pass | fail | skip
    decided_by: str
    steps: list[Step] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    agrees: bool = True
    compiled: str = ""  # the compiled policy's verdict, in words

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "location": self.policy_location, "verdict": self.verdict,
                "decided_by": self.decided_by, "steps": [s.to_dict() for s in self.steps],
                "violations": self.violations, "agrees_with_compiled": self.agrees, "compiled": self.compiled}


#: Clauses are quoted on one line, however long.
ONE_LINE = 10**6


def _where(span: Span) -> str:
    return f"{span.file}:{span.line}"


def _header(item: ast.PolicyItem) -> str:
    if isinstance(item, ast.MatchBlock):
        word = "exclude" if item.exclude else "match"
        inner = " ".join(" ".join(selector_lines(s, INDENT, ONE_LINE)) for s in item.selectors)
        return f"{word} {{ {inner} }}" if inner else f"{word} {{}}"
    return " ".join(line.strip() for line in item_lines(item, INDENT, ONE_LINE))


class PolicyTracer:
    """Traces one checked policy; builds per-clause compiled closures once for every workload."""

    def __init__(self, checked: CheckedPolicy, full: CompiledPolicy, catalog: Catalog | None) -> None:
        self.checked = checked
        self.full = full
        instance = checked.instance
        self.policy = instance.policy
        diagnostics: list[Diagnostic] = []
        self.folded = fold_policy(instance.policy, instance.params, checked.types, diagnostics)
        savings = bind_savings(catalog)
        self.params = {n: Param(c.value, c.type, _where(c.span)) for n, c in instance.params.items()}
        self.rule_closures: dict[int, CompiledPolicy] = {}
        for index, item in enumerate(self.folded.items):
            if isinstance(item, ast.Rule):
                one = ast.Policy(self.folded.name, (item,), self.folded.span)
                self.rule_closures[index] = generate(checked, one, policy_kinds(one, KNOWN_KINDS), KNOWN_KINDS,
                                                     savings)

    def trace(self, w: Workload) -> Trace:
        steps: list[Step] = []
        decided_by = ""
        matches = [b for b in self.policy.blocks if not b.exclude]
        matched = not matches
        for block in matches:
            step, held = self._block(block, w)
            steps.append(step)
            matched = matched or held
        if not matched:
            decided_by = "no match block selects it"
        applies = matched
        for block in (b for b in self.policy.blocks if b.exclude):
            step, held = self._block(block, w)
            step.outcome = "excludes it" if held else "does not exclude it"
            steps.append(step)
            if held and applies:
                applies, decided_by = False, f"excluded by the exclude block at {_where(block.span)}"
        for when in self.policy.whens:
            interp = Interpreter(w, self.params)
            value = interp.holds(when.condition)
            steps.append(Step("when", _header(when), _where(when.span), "true" if value else "false",
                              interp.facts, interp.parts(when.condition)))
            if not value and applies:
                applies, decided_by = False, f"its when condition at {_where(when.span)} is false"
        violations: list[str] = []
        if applies:
            for index, item in enumerate(self.policy.items):
                if isinstance(item, ast.Rule):
                    step = self._rule(item, index, w)
                    steps.append(step)
                    violations.extend(step.violations)
        verdict = "skip" if not applies else "fail" if violations else "pass"
        only_sets = all(isinstance(r.body, ast.Aggregate | ast.LiveIdle) for r in self.policy.rules)
        if applies and only_sets and self.policy.rules:
            decided_by = "it applies; its quota/budget (or live) rules are decided per group, not per workload"
        elif applies:
            failing = [s for s in steps if s.violations]
            decided_by = (f"the rule at {failing[0].location} found a violation" if len(failing) == 1 else
                          f"{len(failing)} rules found violations" if failing else "every rule passed")
        trace = Trace(self.full.name, _where(self.policy.span), verdict, decided_by, steps, violations)
        self._cross_check(trace, w)
        return trace

    def _cross_check(self, trace: Trace, w: Workload) -> None:
        compiled_applies = self.full.applies(w) and (self.full.kinds is None or w.kind in self.full.kinds)
        messages = [v.message for v in self.full.violations(w)] if compiled_applies else []
        compiled = "skip" if not compiled_applies else "fail" if messages else "pass"
        trace.compiled = f"{compiled}" + (f" ({len(messages)} violation(s))" if messages else "")
        trace.agrees = compiled == trace.verdict and (not compiled_applies or messages == trace.violations)

    # ---- match / exclude ----
    def _block(self, block: ast.MatchBlock, w: Workload) -> tuple[Step, bool]:
        held = True
        notes = []
        for sel in block.selectors:
            ok, note = selector_holds(sel, w)
            held = held and ok
            notes.append(("✓ " if ok else "✗ ") + note)
        clause = "exclude" if block.exclude else "match"
        return Step(clause, _header(block), _where(block.span), "holds" if held else "does not hold",
                    notes=notes), held

    # ---- rules ----
    def _rule(self, rule: ast.Rule, index: int, w: Workload) -> Step:
        step = Step("rule", _header(rule), _where(rule.span), "")
        interp = Interpreter(w, self.params)
        if rule.guard is not None and not interp.holds(rule.guard):
            step.outcome = "skipped: its if guard is false"
            step.facts, step.notes = interp.facts, interp.parts(rule.guard)
            return step
        fires = self._body(rule.body, w, interp, step)
        step.facts.extend(f for f in interp.facts if f not in step.facts)
        compiled = self.rule_closures[index]
        messages = [v.message for v in compiled.violations(w)]
        step.violations = messages
        if isinstance(rule.body, ast.LiveIdle | ast.Aggregate):
            return step
        step.outcome = "violated" if fires else "passed"
        if fires != bool(messages):
            step.notes.append(f"(the compiled rule disagrees: {len(messages)} violation(s))")
        return step

    def _body(self, body: ast.RuleBody, w: Workload, interp: Interpreter, step: Step) -> bool:
        if isinstance(body, ast.RequireKeys | ast.RequireKey):
            return self._keys(body, w, step)
        if isinstance(body, ast.PatternList):
            return _pattern_list(body, w, step)
        if isinstance(body, ast.RequirePinned):
            return _pinned(w, step)
        if isinstance(body, ast.RequireSpot):
            return _spot(w, step)
        if isinstance(body, ast.RequireIdle):
            step.facts.append(attribute_fact(w, "idle_timeout"))
            limit = interp.eval(body.maximum) if body.maximum is not None else None
            idle = w.idle_timeout_seconds
            if limit is not None:
                step.notes.append(f"maximum {render_duration(float(limit))}")
            return idle is None or (limit is not None and idle > limit)
        if isinstance(body, ast.RequireDeadline):
            limit = interp.eval(body.maximum) if body.maximum is not None else None
            run = w.run_time
            step.facts.append(attribute_fact(w, "run_kind"))
            step.facts.append(attribute_fact(w, "run_hours"))
            if limit is not None:
                step.notes.append(f"maximum {render_duration(float(limit))} per run")
            return run.kind is RunKind.UNBOUNDED or (
                limit is not None and run.kind is not RunKind.CONTINUOUS and run.hours_per_run is not None
                and run.hours_per_run * 3600 > limit)
        if isinstance(body, ast.Assert):
            value = interp.eval(body.condition)
            parts = interp.parts(body.condition)
            step.notes.extend(parts)
            if not parts and not isinstance(body.condition, ast.Call | ast.Name):
                step.notes.append(f"{unparse(body.condition)} → {render_value(value)}")
            return (value is True) == body.negate
        if isinstance(body, ast.LiveIdle):
            step.outcome = "live only: decided from GPU utilisation where live state is synced (never in CI)"
            return False
        step.outcome = f"{body.kind}: decided over the whole set of workloads (see the group below)"
        if body.key is not None:
            step.notes.append(f"group {unparse(body.key)} = {render_value(interp.eval(body.key))}")
        return False

    def _keys(self, body: ast.RequireKeys | ast.RequireKey, w: Workload, step: Step) -> bool:
        plural = body.target if isinstance(body, ast.RequireKeys) else body.target + "s"
        present: dict[str, str] = ATTRIBUTES[plural].getter(w)
        if isinstance(body, ast.RequireKeys):
            for k in body.keys:
                step.facts.append(keyed_fact(w, plural, k.value, present.get(k.value)))
            return any(not present.get(k.value) for k in body.keys)
        key = body.key.value
        value = present.get(key)
        step.facts.append(keyed_fact(w, plural, key, value))
        if not value:
            return True
        if body.allowed is not None:
            return value not in {v.value for v in body.allowed}
        return body.pattern is not None and re.search(body.pattern.value, value) is None


def _pattern_list(body: ast.PatternList, w: Workload, step: Step) -> bool:
    attr = "gpu_model" if body.target == "gpu_models" else "instance_type"
    patterns = [p.value for p in body.patterns]
    fires = False
    for role in deciding_roles(w):
        values = _role_values(role, attr)
        prov = role.provenance.get(attr)
        source = f" ({at(w, prov.path, prov.note)})" if prov is not None else ""
        if not values:
            step.notes.append(f"role {role.name}: {attr} not pinned: nothing to check")
            continue
        for value in values:
            hit = next((p for p in patterns if re.match(fnmatch.translate(p), value, re.IGNORECASE)), None)
            bad = (hit is None) if body.mode == "allow" else (hit is not None)
            fires = fires or bad
            how = f"matches {hit!r}" if hit else "matches no pattern"
            step.notes.append(f"role {role.name}: {attr} = {value}{source}: {how} → "
                              f"{'violation' if bad else 'ok'}")
    return fires


def _role_values(role: Role, attr: str) -> tuple[str, ...]:
    if attr == "gpu_model":
        return (role.gpu_model,) if role.gpu_model else ()
    return (role.instance_type,) if role.instance_type else role.instance_type_candidates


def _pinned(w: Workload, step: Step) -> bool:
    fires = False
    for role in w.roles:
        if role.gpus_per_pod <= 0:
            continue
        pins = [f"instance_type = {role.instance_type}" if role.instance_type else "",
                f"candidates {list(role.instance_type_candidates)}" if role.instance_type_candidates else "",
                f"gpu_model = {role.gpu_model}" if role.gpu_model else ""]
        shown = ", ".join(p for p in pins if p)
        fires = fires or not shown
        step.notes.append(f"role {role.name} ({render_value(role.gpus_per_pod)} GPU/pod): "
                          + (f"pinned by {shown}" if shown else "pins nothing → violation"))
    return fires


def _spot(w: Workload, step: Step) -> bool:
    fires = False
    for role in deciding_roles(w):
        prov = role.provenance.get("capacity_type")
        source = f" ({at(w, prov.path, prov.note)})" if prov is not None else " (no capacity-type selector)"
        bad = role.capacity_type is not CapacityType.SPOT
        fires = fires or bad
        step.notes.append(f"role {role.name}: capacity_type = {role.capacity_type.value}{source} → "
                          f"{'violation' if bad else 'ok'}")
    return fires
