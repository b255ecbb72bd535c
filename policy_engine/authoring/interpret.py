"""A slow, tracing interpreter of policy expressions and selectors, for ``explain``.

It evaluates the AST as written (parameters looked up by name, not folded away) with the semantics the
compiler's closures implement (``compiler.codegen_expr``): a missing value is null, an ordering
comparison with null is false, arithmetic with null is null, and a condition holds only when it is
exactly ``true``. Every attribute, parameter and raw-object field it reads is recorded as a ``Fact``
with where the value came from, and every sub-condition with its value, so ``explain`` can say why.
``explain`` cross-checks the verdict against the compiled policy, so the two cannot drift silently.
"""

from __future__ import annotations

import fnmatch
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from policy_engine.authoring.facts import Fact, attribute_fact, keyed_fact, object_fact
from policy_engine.compiler.attributes import ATTRIBUTES
from policy_engine.compiler.cel import CelError, compile_cel
from policy_engine.compiler.checked import expand_kinds
from policy_engine.compiler.codegen_expr import exact, membership
from policy_engine.compiler.codegen_rules import element_label
from policy_engine.compiler.fold import milli
from policy_engine.compiler.functions import FUNCTIONS
from policy_engine.compiler.messages import render_value
from policy_engine.model.workload import Workload
from policy_engine.syntax import ast
from policy_engine.syntax.unparse import unparse

_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
_KEYED = ("labels", "annotations", "object_labels", "pod_labels")


@dataclass(frozen=True, slots=True)
class Param:
    value: Any
    type: str
    where: str  # file:line of the param (or the import overriding it)


@dataclass(slots=True)
class Interpreter:
    """Evaluates expressions of one policy for one workload, collecting what they read."""

    w: Workload
    params: Mapping[str, Param]
    facts: list[Fact] = field(default_factory=list)
    scope: dict[str, Any] = field(default_factory=dict)  # quantifier variables in force

    def _fact(self, fact: Fact) -> None:
        if all(f.name != fact.name for f in self.facts):
            self.facts.append(fact)

    # ---- expressions ----
    def eval(self, e: ast.Expr) -> Any:
        if isinstance(e, ast.Literal):
            return e.value
        if isinstance(e, ast.Name):
            return self._name(e.id)
        if isinstance(e, ast.Field | ast.Index):
            return self._path(e)
        if isinstance(e, ast.ListExpr):
            return tuple(self.eval(i) for i in e.items)
        if isinstance(e, ast.MapExpr):
            return {self.eval(k): self.eval(v) for k, v in e.entries}
        if isinstance(e, ast.Quantifier):
            return self._quantifier(e)
        if isinstance(e, ast.Compare):
            return self._compare(e)
        if isinstance(e, ast.BoolOp):
            values = [self.eval(o) is True for o in e.operands]
            return all(values) if e.op == "and" else any(values)
        if isinstance(e, ast.Not):
            return self.eval(e.operand) is not True
        if isinstance(e, ast.BinOp):
            a, b = self._operands(e.left, e.right)
            if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
                return None
            try:
                return _ARITH[e.op](a, b)
            except TypeError:
                return exact(_ARITH[e.op], a, b)
            except (ZeroDivisionError, OverflowError, ArithmeticError):
                return None
        if isinstance(e, ast.Neg):
            v = self.eval(e.operand)
            return -v if isinstance(v, int | float | Decimal) and not isinstance(v, bool) else None
        return self._call(e)

    def holds(self, e: ast.Expr) -> bool:
        return self.eval(e) is True

    def _operands(self, left: ast.Expr, right: ast.Expr) -> tuple[Any, Any]:
        """Both sides; ``500m`` beside a quantity is 0.5, as the checker decides (elsewhere 500 minutes)."""
        a, b = self.eval(left), self.eval(right)
        if isinstance(a, Decimal) and self._minutes(right):
            b = self._milli(right)
        elif isinstance(b, Decimal) and self._minutes(left):
            a = self._milli(left)
        return a, b

    def _minutes(self, e: ast.Expr) -> bool:
        if isinstance(e, ast.Name) and e.id in self.params and e.id not in self.scope:
            return self.params[e.id].type == "duration"
        return _minutes(e)

    def _milli(self, e: ast.Expr) -> Any:
        if isinstance(e, ast.Literal):
            return milli(e.raw)
        seconds = self.eval(e)  # a parameter set to `500m`: 500 minutes read as 500 thousandths
        return milli(f"{Decimal(repr(seconds)) / 60}m") if isinstance(seconds, int | float) else seconds

    def _quantifier(self, e: ast.Quantifier) -> Any:
        """Evaluate a quantifier, recording which elements decided it (by name, key or position)."""
        collection = self.eval(e.collection)
        names = [n.name for n in e.names]
        if isinstance(collection, dict):
            frames = [((k, v) if len(names) == 2 else (k,), str(k)) for k, v in collection.items()]
        elif isinstance(collection, list | tuple) and len(names) == 1:
            frames = [((item,), element_label(item, i)) for i, item in enumerate(collection)]
        else:
            self._fact(Fact(unparse(e), "unset", f"{unparse(e.collection)} is not a list or a map"))
            return None
        saved = dict(self.scope)
        held: list[str] = []
        shown: dict[str, str] = {}  # element -> the values its body compared
        try:
            for values, label in frames:
                self.scope.update(zip(names, values, strict=True))
                ok = self.eval(e.body) is True
                if ok:
                    held.append(label)
                if ok == (e.op != "all"):
                    shown[label] = self._sides(e.body)
        finally:
            self.scope = saved
        missed = [label for _, label in frames if label not in held]
        result: Any

        def listed(labels: list[str]) -> str:
            return ", ".join(f"{x} ({shown[x]})" if shown.get(x) else x for x in labels)

        if e.op == "all":
            result = not missed
            note = f"fails for: {listed(missed)}" if missed else "holds for every element"
        elif e.op == "count":
            result, note = len(held), f"holds for: {listed(held) or 'none'}"
        else:
            result = bool(held) if e.op == "any" else not held
            note = f"holds for: {listed(held)}" if held else "holds for no element"
        self._fact(Fact(unparse(e), render_value(result), f"over {len(frames)} of {unparse(e.collection)}; {note}"))
        return result

    def _sides(self, body: ast.Expr) -> str:
        """The values the comparisons of a quantifier's body read, for the current element."""
        out: list[str] = []

        def visit(x: ast.Expr) -> None:
            if isinstance(x, ast.BoolOp | ast.Not):
                for child in (x.operands if isinstance(x, ast.BoolOp) else (x.operand,)):
                    visit(child)
            elif isinstance(x, ast.Compare):
                for side in (x.left, x.right):
                    if not isinstance(side, ast.Literal | ast.Name) or (
                            isinstance(side, ast.Name) and side.id in self.scope):
                        text = f"{unparse(side)} = {render_value(self.eval(side))}"
                        if text not in out:
                            out.append(text)

        visit(body)
        return "; ".join(out)

    def _name(self, name: str) -> Any:
        if name in self.scope:
            return self.scope[name]
        param = self.params.get(name)
        if param is not None:
            self._fact(Fact(name, render_value(param.value, param.type), f"param at {param.where}"))
            return param.value
        attribute = ATTRIBUTES[name]
        if name != "object" and attribute.type not in ("map", "list[container]", "list[any]"):
            self._fact(attribute_fact(self.w, name))
        return attribute.getter(self.w)

    def _path(self, e: ast.Field | ast.Index) -> Any:
        steps: list[Any] = []
        node: ast.Expr = e
        while isinstance(node, ast.Field | ast.Index):
            steps.append(node.name.name if isinstance(node, ast.Field) else self.eval(node.index))
            node = node.target
        steps.reverse()
        if isinstance(node, ast.Name) and node.id in ATTRIBUTES and node.id not in self.params \
                and node.id not in self.scope:
            base = ATTRIBUTES[node.id].getter(self.w)
        else:
            base = self.eval(node)
        value = base
        for key in steps:
            if isinstance(value, dict):
                value = value.get(key) if isinstance(key, str | int) else None
            elif isinstance(value, list) and isinstance(key, int) and not isinstance(key, bool) \
                    and -len(value) <= key < len(value):
                value = value[key]
            else:
                value = None
                break
        if isinstance(node, ast.Name) and node.id in _KEYED and len(steps) == 1 and isinstance(steps[0], str):
            self._fact(keyed_fact(self.w, node.id, steps[0], value))
        elif isinstance(node, ast.Name) and node.id == "object" and all(isinstance(s, str | int) for s in steps):
            self._fact(object_fact(self.w, tuple(steps), unparse(e), value))
        return value

    def _compare(self, e: ast.Compare) -> bool:
        a, b = self._operands(e.left, e.right)
        op = e.op
        if op == "==":
            return bool(a == b)
        if op == "!=":
            return bool(a != b)
        if op in _ORDER:
            if a is None or b is None:
                return False
            try:
                return bool(_ORDER[op](a, b))
            except TypeError:
                return False
        if op in ("in", "not in"):
            found = membership(a, b)
            return found is not None and found != (op == "not in")
        if not isinstance(a, str) or not isinstance(b, str):
            return False
        try:
            return re.search(b, a) is not None
        except re.error:
            return False

    def _call(self, e: ast.Call) -> Any:
        name = e.func.name
        if name == "cel":
            arg = e.args[0]
            text = arg.value if isinstance(arg, ast.Literal) and isinstance(arg.value, str) else ""
            compiled = compile_cel(text, {k: p.value for k, p in self.params.items()})
            value = None if isinstance(compiled, CelError) else compiled(self.w)
            self._fact(Fact(f"cel({text[:60]}{'…' if len(text) > 60 else ''})", render_value(value),
                            "CEL over the raw manifest (null when it errors)"))
            return value
        args = [self.eval(a) for a in e.args]
        return FUNCTIONS[name].impl(*args)

    # ---- what a condition was made of ----
    def parts(self, e: ast.Expr) -> list[str]:
        """``part → value`` for each operand of a top-level and/or (flattened), else for the comparison."""
        operands: list[ast.Expr] = []

        def flatten(x: ast.Expr) -> None:
            if isinstance(x, ast.BoolOp):
                for o in x.operands:
                    flatten(o)
            else:
                operands.append(x)

        flatten(e)
        if len(operands) == 1 and not isinstance(e, ast.Compare | ast.Not):
            return []
        return [f"{unparse(o)} → {render_value(self.eval(o))}" for o in operands]


def _minutes(e: ast.Expr) -> bool:
    return isinstance(e, ast.Literal) and e.type == "duration" and e.unit == "m"


# ---- selectors ------------------------------------------------------------------------------------------


def selector_holds(sel: ast.Selector, w: Workload) -> tuple[bool, str]:
    """Whether one ``match``/``exclude`` selector holds for ``w``, and what it compared, in words."""
    if isinstance(sel, ast.KindsSelector):
        if any(k.name == "workloads" for k in sel.kinds):
            return True, f"kind {w.kind}: 'workloads' selects every workload the model reads"
        kinds = expand_kinds(k.name for k in sel.kinds)  # groups (training) stand for their kinds
        listed = ", ".join(k.name for k in sel.kinds)
        return w.kind in kinds, f"kind {w.kind} {'is' if w.kind in kinds else 'is not'} in [{listed}]"
    if isinstance(sel, ast.NamespacesSelector):
        patterns = [p.value for p in sel.patterns]
        if w.namespace is None:
            ok = "*" in patterns
            return ok, f"no namespace set; only \"*\" matches it ({'matched' if ok else 'not matched'})"
        ok = any(fnmatch.fnmatchcase(w.namespace, p) for p in patterns)
        return ok, f"namespace {w.namespace} {'matches' if ok else 'matches none of'} {patterns}"
    notes = []
    ok = True
    for req in sel.requirements:
        key = req.key.value
        value = w.labels.get(key)
        values = {v.value for v in req.values}
        if req.op == "exists":
            held = key in w.labels
        elif req.op == "absent":
            held = key not in w.labels
        elif req.op in ("=", "in"):
            held = value in values
        else:
            held = value not in values
        ok = ok and held
        shown = f'"{value}"' if value is not None else "unset"
        notes.append(f"label {key} = {shown}: {_label_text(req)} {'holds' if held else 'does not hold'}")
    return ok, "; ".join(notes) or "no label requirements"


def _label_text(req: ast.LabelRequirement) -> str:
    values = ", ".join(v.raw for v in req.values)
    return {"exists": f"{req.key.raw} exists", "absent": f"!{req.key.raw}", "=": f"{req.key.raw} = {values}",
            "!=": f"{req.key.raw} != {values}", "in": f"{req.key.raw} in [{values}]",
            "notin": f"{req.key.raw} not in [{values}]"}[req.op]
