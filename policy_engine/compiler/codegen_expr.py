"""Checked, folded expressions → nested closures over a ``Workload``.

Everything that can be decided once is decided here: attribute getters are bound, raw-object paths are
turned into key tuples, regexes are compiled, functions are looked up. The closures never raise on data:
a missing field is ``None`` (null); an ordering comparison with null is false; ``== null`` tests absence;
arithmetic with null is null; a condition holds only when it is exactly ``true``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Container
from functools import lru_cache
from typing import Any

from policy_engine.compiler.attributes import ATTRIBUTES
from policy_engine.compiler.cel import CelError, compile_cel
from policy_engine.compiler.functions import FUNCTIONS
from policy_engine.errors import CompilerBug
from policy_engine.model.workload import Workload
from policy_engine.syntax import ast

Closure = Callable[[Workload], Any]
_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}



@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _const(value: Any) -> Closure:
    return lambda w: value


def _walk(base: Closure, path: tuple[str | int | Closure, ...]) -> Closure:
    """A raw-object path ``object.spec["x"][0]``: constant keys are bound, each step tolerates absence."""
    if all(not callable(k) for k in path):
        keys = path

        def walk_const(w: Workload) -> Any:
            node = base(w)
            for key in keys:
                if isinstance(node, dict):
                    node = node.get(key)
                elif isinstance(node, list) and isinstance(key, int) and -len(node) <= key < len(node):
                    node = node[key]
                else:
                    return None
            return node

        return walk_const

    def walk(w: Workload) -> Any:
        node = base(w)
        for step in path:
            key = step(w) if callable(step) else step
            if isinstance(node, dict):
                node = node.get(key) if isinstance(key, str | int) else None
            elif isinstance(node, list) and isinstance(key, int) and not isinstance(key, bool) \
                    and -len(node) <= key < len(node):
                node = node[key]
            else:
                return None
        return node

    return walk


def _path(e: ast.Expr) -> tuple[ast.Expr, list[str | int | Closure]]:
    """Split ``a.b["c"][i]`` into its root and the keys to follow (constants where possible)."""
    steps: list[str | int | Closure] = []
    while isinstance(e, ast.Field | ast.Index):
        if isinstance(e, ast.Field):
            steps.append(e.name.name)
        elif isinstance(e.index, ast.Literal) and isinstance(e.index.value, str | int) \
                and not isinstance(e.index.value, bool):
            steps.append(e.index.value)
        else:
            steps.append(compile_expr(e.index))
        e = e.target
    steps.reverse()
    return e, steps


def _gt(left: Closure, c: Any) -> Closure:
    def gt(w: Workload) -> bool:
        a = left(w)
        if a is None:
            return False
        try:
            return a > c
        except TypeError:
            return False

    return gt


def _ge(left: Closure, c: Any) -> Closure:
    def ge(w: Workload) -> bool:
        a = left(w)
        if a is None:
            return False
        try:
            return a >= c
        except TypeError:
            return False

    return ge


def _lt(left: Closure, c: Any) -> Closure:
    def lt(w: Workload) -> bool:
        a = left(w)
        if a is None:
            return False
        try:
            return a < c
        except TypeError:
            return False

    return lt


def _le(left: Closure, c: Any) -> Closure:
    def le(w: Workload) -> bool:
        a = left(w)
        if a is None:
            return False
        try:
            return a <= c
        except TypeError:
            return False

    return le


#: Ordering against a constant, the common case (``gpus > 0``), without an operator call.
_ORDER_CONST: dict[str, Callable[[Closure, Any], Closure]] = {">": _gt, ">=": _ge, "<": _lt, "<=": _le}


def _compare(op: str, left: Closure, right: Closure, right_node: ast.Expr) -> Closure:
    if isinstance(right_node, ast.Literal):
        c = right_node.value
        if op == "==":
            return lambda w: left(w) == c
        if op == "!=":
            return lambda w: left(w) != c
    if op == "==":
        return lambda w: left(w) == right(w)
    if op == "!=":
        return lambda w: left(w) != right(w)
    if op in _ORDER and isinstance(right_node, ast.Literal) and right_node.value is not None:
        return _ORDER_CONST[op](left, right_node.value)
    if op in _ORDER:
        fn = _ORDER[op]

        def order(w: Workload) -> bool:
            a, b = left(w), right(w)
            if a is None or b is None:
                return False
            try:
                return bool(fn(a, b))
            except TypeError:
                return False

        return order
    if op in ("in", "not in"):
        negate = op == "not in"

        def member(w: Workload) -> bool:
            found = membership(left(w), right(w))
            return found is not None and found != negate

        return member
    if isinstance(right_node, ast.Literal) and isinstance(right_node.value, str):
        rx = _regex(right_node.value)
        if rx is None:
            raise CompilerBug(f"invalid regex {right_node.value!r}")
        search = rx.search
        return lambda w: isinstance(v := left(w), str) and search(v) is not None

    def dynamic(w: Workload) -> bool:
        a, b = left(w), right(w)
        if not isinstance(a, str) or not isinstance(b, str):
            return False
        rx = _regex(b)
        return rx is not None and rx.search(a) is not None

    return dynamic


def _arith(op: str, left: Closure, right: Closure) -> Closure:
    fn = _ARITH[op]

    def compute(w: Workload) -> Any:
        a, b = left(w), right(w)
        if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
            return None
        try:
            return fn(a, b)
        except (TypeError, ZeroDivisionError, OverflowError):
            return None

    return compute


def _bool(op: str, parts: list[Closure]) -> Closure:
    if len(parts) == 2:
        a, b = parts
        if op == "and":
            return lambda w: a(w) is True and b(w) is True
        return lambda w: a(w) is True or b(w) is True
    if op == "and":
        return lambda w: all(p(w) is True for p in parts)
    return lambda w: any(p(w) is True for p in parts)


def _call(e: ast.Call) -> Closure:
    name = e.func.name
    if name == "cel":
        arg = e.args[0]
        if not isinstance(arg, ast.Literal) or not isinstance(arg.value, str):
            raise CompilerBug("cel() takes a string literal")
        compiled = compile_cel(arg.value)
        if isinstance(compiled, CelError):
            raise CompilerBug(compiled.message)
        return compiled
    fn = FUNCTIONS[name].impl
    args = [compile_expr(a) for a in e.args]
    if len(args) == 1:
        (only,) = args
        return lambda w: fn(only(w))
    return lambda w: fn(*(a(w) for a in args))


def _neg(operand: Closure) -> Closure:
    def negate(w: Workload) -> Any:
        v = operand(w)
        return -v if isinstance(v, int | float) and not isinstance(v, bool) else None

    return negate


def compile_expr(e: ast.Expr) -> Closure:
    """The closure computing ``e`` for a workload."""
    if isinstance(e, ast.Literal):
        return _const(e.value)
    if isinstance(e, ast.Name):
        attribute = ATTRIBUTES.get(e.id)
        if attribute is None:
            raise CompilerBug(f"unresolved name {e.id!r}")
        return attribute.getter
    if isinstance(e, ast.Field | ast.Index):
        root, steps = _path(e)
        return _walk(compile_expr(root), tuple(steps))
    if isinstance(e, ast.ListExpr):
        if all(isinstance(i, ast.Literal) for i in e.items):
            return _const(tuple(i.value for i in e.items if isinstance(i, ast.Literal)))
        items = [compile_expr(i) for i in e.items]
        return lambda w: tuple(i(w) for i in items)
    if isinstance(e, ast.Compare):
        return _compare(e.op, compile_expr(e.left), compile_expr(e.right), e.right)
    if isinstance(e, ast.BoolOp):
        return _bool(e.op, [compile_expr(o) for o in e.operands])
    if isinstance(e, ast.Not):
        inner = compile_expr(e.operand)
        return lambda w: inner(w) is not True
    if isinstance(e, ast.BinOp):
        return _arith(e.op, compile_expr(e.left), compile_expr(e.right))
    if isinstance(e, ast.Neg):
        return _neg(compile_expr(e.operand))
    return _call(e)


def is_strict_bool(e: ast.Expr) -> bool:
    """Whether the closure of ``e`` always returns True or False (so ``is True`` need not wrap it)."""
    return isinstance(e, ast.Compare | ast.BoolOp | ast.Not) or (
        isinstance(e, ast.Literal) and isinstance(e.value, bool))


def condition(e: ast.Expr) -> Callable[[Workload], bool]:
    """A closure that holds only when ``e`` is exactly true."""
    test = compile_expr(e)
    if is_strict_bool(e):
        return test
    return lambda w: test(w) is True


def uses_workload(e: ast.Expr, constants: Container[str] = ()) -> bool:
    """Whether the value of ``e`` depends on the workload (attributes, the raw object or CEL);
    names in ``constants`` (parameters) do not."""
    if isinstance(e, ast.Name):
        return e.id not in constants
    if isinstance(e, ast.Call) and e.func.name == "cel":
        return True
    if isinstance(e, ast.Literal):
        return False
    return any(uses_workload(c, constants) for c in children(e))


def children(e: ast.Expr) -> tuple[ast.Expr, ...]:
    if isinstance(e, ast.Field):
        return (e.target,)
    if isinstance(e, ast.Index):
        return (e.target, e.index)
    if isinstance(e, ast.Call):
        return e.args
    if isinstance(e, ast.ListExpr):
        return e.items
    if isinstance(e, ast.Neg | ast.Not):
        return (e.operand,)
    if isinstance(e, ast.BinOp | ast.Compare):
        return (e.left, e.right)
    if isinstance(e, ast.BoolOp):
        return e.operands
    return ()


def membership(a: Any, b: Any) -> bool | None:
    """``a in b`` under the missing-value rule: a substring of a string, an element of a list or a key of a
    map; None when ``b`` is no container (null, a number), so both ``in`` and ``not in`` are false."""
    if isinstance(b, str):
        return isinstance(a, str) and a in b
    if isinstance(b, list | tuple | dict | frozenset | set):
        try:
            return a in b
        except TypeError:
            return False
    return None
