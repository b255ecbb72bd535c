"""Checked, folded expressions → nested closures over a ``Workload``.

Everything that can be decided once is decided here: attribute getters are bound, raw-object paths are
turned into key tuples, regexes are compiled, functions are looked up. The closures never raise on data:
a missing field is ``None`` (null); an ordering comparison with null is false; ``== null`` tests absence;
arithmetic with null is null; a condition holds only when it is exactly ``true``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Container
from decimal import Decimal
from typing import Any

from policy_engine.compiler import container_groups
from policy_engine.compiler.attributes import ATTRIBUTES
from policy_engine.compiler.container_groups import by_class
from policy_engine.compiler.functions import FUNCTIONS
from policy_engine.compiler.regex import Pattern, compile_regex
from policy_engine.compiler.walk import children
from policy_engine.errors import CompilerBug
from policy_engine.model.workload import Workload
from policy_engine.quantity import quantity
from policy_engine.syntax import ast

Closure = Callable[[Any], Any]  # of a Workload; inside a quantifier, of the frame (workload, *variables)
Scope = tuple[str, ...]  # variables bound by enclosing quantifiers, outermost first
_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}



def _regex(pattern: str) -> Pattern | None:
    return compile_regex(pattern)  # RE2: linear time whatever the pattern (compiler/regex.py)


def _const(value: Any) -> Closure:
    return lambda w: value


def _walk_names(base: Closure, names: tuple[str, ...]) -> Closure:
    """``c.limits.memory``, ``object.spec``: one or two field names, unrolled (the hottest reads)."""
    if len(names) == 1:
        (k1,) = names

        def one(w: Any) -> Any:
            node = base(w)
            return node.get(k1) if isinstance(node, dict) else None

        return one
    k1, k2 = names

    def two(w: Any) -> Any:
        node = base(w)
        if isinstance(node, dict):
            node = node.get(k1)
            if isinstance(node, dict):
                return node.get(k2)
        return None

    return two


def _walk_variable(index: int, names: tuple[str, ...], absent: bool | None = None) -> Closure:
    """``c.limits.memory`` for a quantifier's variable ``c`` (item ``index`` of the frame), one or two
    names; with ``absent`` set, the presence test ``path == null`` (True) or ``path != null`` (False) fused
    in, without a call per step: the commonest condition over containers."""
    if absent is None:
        return _walk_names(operator.itemgetter(index), names)
    if len(names) == 1:
        (k1,) = names

        def one_present(frame: Any) -> bool:
            node = frame[index]
            return ((node.get(k1) if isinstance(node, dict) else None) is None) is absent

        return one_present
    k1, k2 = names

    def two_present(frame: Any) -> bool:
        node = frame[index]
        if isinstance(node, dict):
            node = node.get(k1)
            if isinstance(node, dict):
                return (node.get(k2) is None) is absent
        return absent

    return two_present


def _variable_path(e: ast.Expr, scope: Scope) -> tuple[int, tuple[str, ...]] | None:
    """``v.a`` or ``v.a.b`` of a variable in scope: its frame index and the names, else None."""
    names: list[str] = []
    while isinstance(e, ast.Field) and len(names) < 3:
        names.append(e.name.name)
        e = e.target
    if not isinstance(e, ast.Name) or e.id not in scope or not 1 <= len(names) <= 2:
        return None
    return len(scope) - scope[::-1].index(e.id), tuple(reversed(names))


def _walk(base: Closure, path: tuple[str | int | Closure, ...]) -> Closure:
    """A raw-object path ``object.spec["x"][0]``: constant keys are bound, each step tolerates absence."""
    if 1 <= len(path) <= 2 and all(isinstance(k, str) for k in path):
        return _walk_names(base, path)  # type: ignore[arg-type]
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


def _path(e: ast.Expr, scope: Scope = ()) -> tuple[ast.Expr, list[str | int | Closure]]:
    """Split ``a.b["c"][i]`` into its root and the keys to follow (constants where possible)."""
    steps: list[str | int | Closure] = []
    while isinstance(e, ast.Field | ast.Index):
        if isinstance(e, ast.Field):
            steps.append(e.name.name)
        elif isinstance(e.index, ast.Literal) and isinstance(e.index.value, str | int) \
                and not isinstance(e.index.value, bool):
            steps.append(e.index.value)
        else:
            steps.append(compile_expr(e.index, scope))
        e = e.target
    steps.reverse()
    return e, steps


def _gt(left: Closure, c: Any) -> Closure:
    def gt(w: Workload) -> bool:
        a = left(w)
        if a is None:
            return False
        try:
            result: bool = a > c
            return result
        except TypeError:
            return raw_quantity_order(operator.gt, a, c)

    return gt


def _ge(left: Closure, c: Any) -> Closure:
    def ge(w: Workload) -> bool:
        a = left(w)
        if a is None:
            return False
        try:
            result: bool = a >= c
            return result
        except TypeError:
            return raw_quantity_order(operator.ge, a, c)

    return ge


def _lt(left: Closure, c: Any) -> Closure:
    def lt(w: Workload) -> bool:
        a = left(w)
        if a is None:
            return False
        try:
            result: bool = a < c
            return result
        except TypeError:
            return raw_quantity_order(operator.lt, a, c)

    return lt


def _le(left: Closure, c: Any) -> Closure:
    def le(w: Workload) -> bool:
        a = left(w)
        if a is None:
            return False
        try:
            result: bool = a <= c
            return result
        except TypeError:
            return raw_quantity_order(operator.le, a, c)

    return le


#: Ordering against a constant, the common case (``gpus > 0``), without an operator call.
_ORDER_CONST: dict[str, Callable[[Closure, Any], Closure]] = {">": _gt, ">=": _ge, "<": _lt, "<=": _le}


def raw_quantity_order(fn: Callable[[Any, Any], Any], a: Any, b: Any) -> bool:
    """A raw string beside a quantity is read as one (``object.spec.hard["requests.cpu"] <= 64``, where the
    manifest says ``"64"``); any other pair that does not order is false."""
    if isinstance(a, str) and isinstance(b, Decimal):
        a = quantity(a)
    elif isinstance(b, str) and isinstance(a, Decimal):
        b = quantity(b)
    else:
        return False
    return a is not None and b is not None and bool(fn(a, b))


def _compare(op: str, left: Closure, right: Closure, right_node: ast.Expr) -> Closure:
    if isinstance(right_node, ast.Literal):
        c = right_node.value
        if c is None and op in ("==", "!="):  # presence tests, the commonest comparison over containers
            return (lambda w: left(w) is None) if op == "==" else (lambda w: left(w) is not None)
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
                return raw_quantity_order(fn, a, b)

        return order
    if op in ("in", "not in") and isinstance(right_node, ast.Literal) and isinstance(right_node.value, list | tuple) \
            and right_node.value and all(type(v) is str for v in right_node.value):
        strings = frozenset(right_node.value)  # `c.registry in registries`: a set lookup; non-strings are not in
        if op == "in":
            return lambda w: type(v := left(w)) is str and v in strings
        return lambda w: not (type(v := left(w)) is str and v in strings)
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
        except TypeError:
            return exact(fn, a, b)
        except (ZeroDivisionError, OverflowError, ArithmeticError):
            return None

    return compute


def exact(fn: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
    """Quantities are exact (``Decimal``): a float beside one is taken as written, so 2.5 is 2.5 exactly."""
    if not isinstance(a, Decimal) and not isinstance(b, Decimal):
        return None
    try:
        a = a if isinstance(a, Decimal) else Decimal(repr(a))
        b = b if isinstance(b, Decimal) else Decimal(repr(b))
        return fn(a, b)
    except (TypeError, ArithmeticError, ValueError):
        return None


def _bool(op: str, parts: list[Closure]) -> Closure:
    if len(parts) == 2:
        a, b = parts
        if op == "and":
            return lambda w: a(w) is True and b(w) is True
        return lambda w: a(w) is True or b(w) is True
    if op == "and":
        def every_part(w: Workload) -> bool:
            for p in parts:  # noqa: SIM110  (a loop: no generator frame per evaluation)
                if p(w) is not True:
                    return False
            return True

        return every_part

    def some_part(w: Workload) -> bool:
        for p in parts:  # noqa: SIM110
            if p(w) is True:
                return True
        return False

    return some_part


def _call(e: ast.Call, scope: Scope) -> Closure:
    name = e.func.name
    if name == "cel":
        from policy_engine.compiler.cel import CelError, compile_cel  # celpy: only for a policy that uses it

        arg = e.args[0]
        if not isinstance(arg, ast.Literal) or not isinstance(arg.value, str):
            raise CompilerBug("cel() takes a string literal")
        params = e.args[1].value if len(e.args) > 1 and isinstance(e.args[1], ast.Literal) else None
        compiled = compile_cel(arg.value, params if isinstance(params, dict) else None)
        if isinstance(compiled, CelError):
            raise CompilerBug(compiled.message)
        return _outer(compiled) if scope else compiled
    fn = FUNCTIONS[name].impl
    args = [compile_expr(a, scope) for a in e.args]
    if len(args) == 1:
        (only,) = args
        return lambda w: fn(only(w))
    return lambda w: fn(*(a(w) for a in args))


def _neg(operand: Closure) -> Closure:
    def negate(w: Workload) -> Any:
        v = operand(w)
        return -v if isinstance(v, int | float | Decimal) and not isinstance(v, bool) else None

    return negate


def _outer(getter: Closure) -> Closure:
    """Inside a quantifier a closure receives the frame ``(workload, variable, ...)``."""
    return lambda frame: getter(frame[0])


def _quantifier(e: ast.Quantifier, scope: Scope) -> Closure:
    """``all/any/none/count`` over a list (one variable) or a map (keys, or keys and values).

    The body is compiled with the variables in scope: its closures receive the frame ``(workload, *values)``
    (a tuple, so evaluation shares nothing between threads). A collection that is null (an absent raw
    field) makes the quantifier null, as any missing value; an empty one makes ``all`` true.
    """
    collection = compile_expr(e.collection, scope)
    body = compile_expr(e.body, (*scope, *(n.name for n in e.names)))
    pairs = len(e.names) == 2
    op = e.op
    nested = bool(scope)

    if not nested and by_class(e):  # `all c in containers: c.limits.memory != null`: once per kind of container
        return container_groups.quantify(e, body)
    if not pairs and not nested:  # the common case, `all c in containers: ...`: no list of frames built
        return _quantify_top(op, collection, body)

    def frames(w: Any) -> Any:
        """The frames the body sees, one per element (None when the collection is no list or map)."""
        x = collection(w)
        base = w if nested else (w,)
        if isinstance(x, dict):
            return [(*base, k, v) for k, v in x.items()] if pairs else [(*base, k) for k in x]
        if isinstance(x, list | tuple) and not pairs:
            return [(*base, item) for item in x]
        return None

    if op == "all":
        def every(w: Any) -> Any:
            found = frames(w)
            if found is None:
                return None
            for f in found:  # noqa: SIM110  (a loop: no generator frame per element)
                if body(f) is not True:
                    return False
            return True

        return every
    if op in ("any", "none"):
        hit = op == "any"

        def some(w: Any) -> Any:
            found = frames(w)
            if found is None:
                return None
            for f in found:
                if body(f) is True:
                    return hit
            return not hit

        return some

    def count(w: Any) -> Any:
        found = frames(w)
        return None if found is None else sum(1 for f in found if body(f) is True)

    return count


def _quantify_top(op: str, collection: Closure, body: Closure) -> Closure:
    """A one-variable quantifier outside any other: the body gets ``(workload, element)``."""
    if op == "all":
        def every(w: Any) -> Any:
            x = collection(w)
            if isinstance(x, list | tuple | dict):
                for item in x:  # noqa: SIM110  (a loop: no generator frame per element)
                    if body((w, item)) is not True:
                        return False
                return True
            return None

        return every
    if op in ("any", "none"):
        hit = op == "any"

        def some(w: Any) -> Any:
            x = collection(w)
            if isinstance(x, list | tuple | dict):
                for item in x:
                    if body((w, item)) is True:
                        return hit
                return not hit
            return None

        return some

    def count(w: Any) -> Any:
        x = collection(w)
        if isinstance(x, list | tuple | dict):
            return sum(1 for item in x if body((w, item)) is True)
        return None

    return count


def _map(e: ast.MapExpr, scope: Scope) -> Closure:
    if all(isinstance(k, ast.Literal) and isinstance(v, ast.Literal) for k, v in e.entries):
        return _const({k.value: v.value for k, v in e.entries if isinstance(k, ast.Literal)
                       and isinstance(v, ast.Literal)})
    entries = [(compile_expr(k, scope), compile_expr(v, scope)) for k, v in e.entries]
    return lambda w: {k(w): v(w) for k, v in entries}


def compile_expr(e: ast.Expr, scope: Scope = ()) -> Closure:
    """The closure computing ``e`` for a workload (for a frame, inside a quantifier binding ``scope``)."""
    if isinstance(e, ast.Literal):
        return _const(e.value)
    if isinstance(e, ast.Name):
        if e.id in scope:
            return operator.itemgetter(len(scope) - scope[::-1].index(e.id))
        attribute = ATTRIBUTES.get(e.id)
        if attribute is None:
            raise CompilerBug(f"unresolved name {e.id!r}")
        return _outer(attribute.getter) if scope else attribute.getter
    if isinstance(e, ast.Field | ast.Index):
        variable = _variable_path(e, scope)
        if variable is not None:
            return _walk_variable(*variable)
        root, steps = _path(e, scope)
        return _walk(compile_expr(root, scope), tuple(steps))
    if isinstance(e, ast.ListExpr):
        if all(isinstance(i, ast.Literal) for i in e.items):
            return _const(tuple(i.value for i in e.items if isinstance(i, ast.Literal)))
        items = [compile_expr(i, scope) for i in e.items]
        return lambda w: tuple(i(w) for i in items)
    if isinstance(e, ast.MapExpr):
        return _map(e, scope)
    if isinstance(e, ast.Quantifier):
        return _quantifier(e, scope)
    if isinstance(e, ast.Compare):
        if e.op in ("==", "!=") and isinstance(e.right, ast.Literal) and e.right.value is None \
                and (variable := _variable_path(e.left, scope)) is not None:
            return _walk_variable(*variable, absent=e.op == "==")
        return _compare(e.op, compile_expr(e.left, scope), compile_expr(e.right, scope), e.right)
    if isinstance(e, ast.BoolOp):
        return _bool(e.op, [compile_expr(o, scope) for o in e.operands])
    if isinstance(e, ast.Not):
        inner = compile_expr(e.operand, scope)
        return lambda w: inner(w) is not True
    if isinstance(e, ast.BinOp):
        return _arith(e.op, compile_expr(e.left, scope), compile_expr(e.right, scope))
    if isinstance(e, ast.Neg):
        return _neg(compile_expr(e.operand, scope))
    return _call(e, scope)


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
