"""Kubernetes CEL compiled to closures, once per policy: the fast path of ``cel("…")``.

The expression is parsed by cel-python's parser (the grammar of the CEL spec) and each node becomes a
closure over an activation (``object``, ``oldObject``, ``params``, ``request`` and macro variables), so an
evaluation costs microseconds instead of cel-python's tree walk over converted values. The semantics
are CEL's, as a ValidatingAdmissionPolicy evaluates it:

* selecting a field that is absent, indexing out of range, an operator on values it has no overload for,
  dividing by zero: the expression's value is an *error* (``CelFailure``), and ``cel()`` is null;
* ``&&`` and ``||`` absorb an error when the other side decides (``false && error`` is false), and the
  macros ``all``/``exists`` likewise; ``has(a.f)`` tests presence without an error;
* the Kubernetes libraries: strings (``charAt``, ``indexOf``, ``lastIndexOf``, ``lowerAscii``,
  ``upperAscii``, ``replace``, ``split``, ``substring``, ``trim``, ``join``), lists (``isSorted``,
  ``sum``, ``min``, ``max``, ``indexOf``, ``lastIndexOf``), regex (``find``, ``findAll``), url and quantity.

A call to a function that exists in none of them is a compile-time error (``CelCompileError``, E206),
with its position, as is an identifier the activation does not declare. ``compiler.cel`` falls back to
cel-python's interpreter for the few constructs not compiled here (message literals, bytes).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from policy_engine.compiler.cel_library import (
    FUNCTIONS,
    MACROS,
    METHODS,
    CelCompileError,
    CelFailure,
    Unsupported,
    arith,
    equal,
    index_into,
    is_num,
    kind_of,
    order,
    select,
    truth,
)
from policy_engine.wording import plural

if TYPE_CHECKING:  # lark only for types: a policy set without CEL never imports it
    from lark import Token, Tree

Activation = dict[str, Any]
Fn = Callable[[Activation], Any]

#: The variables a ValidatingAdmissionPolicy's expressions see.
ROOTS = frozenset({"object", "oldObject", "params", "request", "namespaceObject", "variables"})

__all__ = ["ROOTS", "CelCompileError", "CelCompiler", "CelFailure", "Unsupported", "function_names"]


# ---- the compiler -----------------------------------------------------------------------------------------

def _is_tree(x: Any) -> bool:
    return hasattr(x, "data") and hasattr(x, "children")


def _is_token(x: Any) -> bool:
    return isinstance(x, str) and hasattr(x, "type")


def _position(tree: Any) -> tuple[int, int]:
    if _is_token(tree):
        return tree.line or 1, tree.column or 1
    for child in tree.children:
        if (_is_tree(child) or _is_token(child)):
            return _position(child)
    return 1, 1


def _literal(token: Token) -> Any:
    text = str(token)
    kind = token.type
    if kind == "INT_LIT":
        return int(text, 16) if "0x" in text.lower() else int(text)
    if kind == "UINT_LIT":
        return int(text[:-1], 0)
    if kind == "FLOAT_LIT":
        return float(text)
    if kind == "BOOL_LIT":
        return text == "true"
    if kind == "NULL_LIT":
        return None
    if kind in ("STRING_LIT", "MLSTRING_LIT"):
        raw = text[0] in "rR"
        body = text[1:] if raw else text
        quote = 3 if body[:3] in ('"""', "'''") else 1
        body = body[quote:-quote]
        return body if raw else codecs.decode(body.encode("latin-1", "backslashreplace"), "unicode_escape")
    raise Unsupported(kind)


class CelCompiler:
    """One expression's tree → closures. ``names`` are the variables in scope (roots and macro variables)."""

    def __init__(self, names: frozenset[str] = ROOTS) -> None:
        self.names = names

    def compile(self, tree: Tree[Any]) -> Fn:
        method = getattr(self, f"_{tree.data}", None)
        if method is None:
            raise Unsupported(str(tree.data))
        fn: Fn = method(tree)
        return fn

    def _sub(self, node: Any) -> Fn:
        if _is_tree(node):
            return self.compile(node)
        raise Unsupported(repr(node))

    # ---- operators ----
    def _expr(self, t: Tree[Any]) -> Fn:
        if len(t.children) == 1:
            return self._sub(t.children[0])
        cond, yes, no = (self._sub(c) for c in t.children)
        return lambda a: yes(a) if truth(cond(a)) else no(a)

    def _conditionalor(self, t: Tree[Any]) -> Fn:
        if len(t.children) == 1:
            return self._sub(t.children[0])
        left, right = self._sub(t.children[0]), self._sub(t.children[1])
        return _logic(left, right, True)

    def _conditionaland(self, t: Tree[Any]) -> Fn:
        if len(t.children) == 1:
            return self._sub(t.children[0])
        left, right = self._sub(t.children[0]), self._sub(t.children[1])
        return _logic(left, right, False)

    def _binary(self, t: Tree[Any], table: dict[str, Callable[[Any, Any], Any]]) -> Fn:
        if len(t.children) == 1:
            return self._sub(t.children[0])
        op_node, right_node = t.children
        fn = table[op_node.data]
        left, right = self._sub(op_node.children[0]), self._sub(right_node)
        return lambda a: fn(left(a), right(a))

    def _relation(self, t: Tree[Any]) -> Fn:
        return self._binary(t, _RELATIONS)

    def _addition(self, t: Tree[Any]) -> Fn:
        return self._binary(t, _ADDITIONS)

    def _multiplication(self, t: Tree[Any]) -> Fn:
        return self._binary(t, _MULTIPLICATIONS)

    def _unary(self, t: Tree[Any]) -> Fn:
        if len(t.children) == 1:
            return self._sub(t.children[0])
        op, operand = t.children[0].data, self._sub(t.children[1])
        if op == "unary_not":
            return lambda a: not truth(operand(a))

        def negate(a: Activation) -> Any:
            v = operand(a)
            if not is_num(v):
                raise CelFailure(f"no such overload: -{kind_of(v)}")
            return -v

        return negate

    # ---- members ----
    def _member(self, t: Tree[Any]) -> Fn:
        return self._sub(t.children[0])

    def _primary(self, t: Tree[Any]) -> Fn:
        return self._sub(t.children[0])

    def _paren_expr(self, t: Tree[Any]) -> Fn:
        return self._sub(t.children[0])

    def _literal(self, t: Tree[Any]) -> Fn:
        value = _literal(_token(t.children[0]))
        return lambda a: value

    def _ident(self, t: Tree[Any]) -> Fn:
        token = t.children[0]
        name = str(token)
        if name not in self.names:
            raise CelCompileError(f"undeclared reference to {name!r}", *_position(token))

        def read(a: Activation) -> Any:
            try:
                return a[name]
            except KeyError:
                raise CelFailure(f"{name} is not available here") from None

        return read

    def _member_dot(self, t: Tree[Any]) -> Fn:
        target, field = self._sub(t.children[0]), str(t.children[1])
        return lambda a: select(target(a), field)

    def _member_index(self, t: Tree[Any]) -> Fn:
        target, index = self._sub(t.children[0]), self._sub(t.children[1])
        return lambda a: index_into(target(a), index(a))

    def _list_lit(self, t: Tree[Any]) -> Fn:
        items = self._args(t.children[0] if t.children else None)
        return lambda a: [i(a) for i in items]

    def _map_lit(self, t: Tree[Any]) -> Fn:
        inits = t.children[0] if t.children else None
        parts = [self._sub(c) for c in (inits.children if inits is not None else ())]
        pairs = list(zip(parts[::2], parts[1::2], strict=True))
        return lambda a: {k(a): v(a) for k, v in pairs}

    def _args(self, exprlist: Any) -> list[Fn]:
        return [self._sub(c) for c in exprlist.children] if exprlist is not None else []

    def _ident_arg(self, t: Tree[Any]) -> Fn:
        token, exprlist = t.children[0], t.children[1] if len(t.children) > 1 else None
        name = str(token)
        raw_args = list(exprlist.children) if exprlist is not None else []
        if name == "has":
            return self._has(raw_args, _token(token))
        found = FUNCTIONS.get(name)
        if found is None:
            raise CelCompileError(_unknown(name, "function"), *_position(token))
        counts, fn = found
        if len(raw_args) not in counts:
            raise CelCompileError(_arity(name, counts, len(raw_args)), *_position(token))
        args = [self._sub(c) for c in raw_args]
        if len(args) == 1:
            (only,) = args
            return lambda a: fn(only(a))
        return lambda a: fn(*(x(a) for x in args))

    def _has(self, args: list[Any], token: Token) -> Fn:
        inner = _unwrap(args[0]) if len(args) == 1 else None
        if inner is None or inner.data != "member_dot":
            raise CelCompileError("has() takes a field selection, e.g. has(object.spec.replicas)",
                                  *_position(token))
        target, field = self._sub(inner.children[0]), str(inner.children[1])

        def has(a: Activation) -> bool:
            x = target(a)
            if isinstance(x, dict):
                return field in x
            raise CelFailure(f"has() on {kind_of(x)}")

        return has

    def _member_dot_arg(self, t: Tree[Any]) -> Fn:
        target_node, token = t.children[0], t.children[1]
        exprlist = t.children[2] if len(t.children) > 2 else None
        name = str(token)
        raw_args = list(exprlist.children) if exprlist is not None else []
        if name in MACROS:
            return self._macro(name, self._sub(target_node), raw_args, _token(token))
        found = METHODS.get(name)
        if found is None:
            raise CelCompileError(_unknown(name, "function"), *_position(token))
        counts, fn = found
        if len(raw_args) not in counts:
            raise CelCompileError(_arity(name, counts, len(raw_args)), *_position(token))
        target = self._sub(target_node)
        args = [self._sub(c) for c in raw_args]
        if name in _URL_METHODS:
            return lambda a: fn(_url_value(target(a)))
        if not args:
            return lambda a: fn(target(a))
        if len(args) == 1:
            (only,) = args
            return lambda a: fn(target(a), only(a))
        return lambda a: fn(target(a), *(x(a) for x in args))

    def _macro(self, name: str, target: Fn, raw_args: list[Any], token: Token) -> Fn:
        wanted = (2, 3) if name == "map" else (2,)
        if len(raw_args) not in wanted:
            raise CelCompileError(f"{name}() takes {' or '.join(map(str, wanted))} arguments", *_position(token))
        var_node = _unwrap(raw_args[0])
        if var_node is None or var_node.data != "ident":
            raise CelCompileError(f"the first argument of {name}() is a variable name", *_position(token))
        var = str(var_node.children[0])
        inner = CelCompiler(self.names | {var})
        body = [inner.compile(c) for c in raw_args[1:]]
        return _MACRO_BUILDERS[name](target, var, body)

    def _member_object(self, t: Tree[Any]) -> Fn:
        raise Unsupported("message construction")

    def _dot_ident(self, t: Tree[Any]) -> Fn:
        raise Unsupported("qualified identifier")

    def _dot_ident_arg(self, t: Tree[Any]) -> Fn:
        raise Unsupported("qualified function")


_URL_METHODS = frozenset({"getScheme", "getHost", "getHostname", "getPort", "getEscapedPath", "getQuery"})


def _url_value(x: Any) -> Any:
    if hasattr(x, "scheme") and hasattr(x, "netloc"):
        return x
    raise CelFailure(f"expected a url, got {kind_of(x)}")


def _token(node: Any) -> Token:
    if _is_token(node):
        return node  # type: ignore[no-any-return]
    raise Unsupported(repr(node))


def _unknown(name: str, what: str) -> str:
    import difflib

    known = [*FUNCTIONS, *METHODS, *MACROS, "has"]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"undeclared {what} {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


def _unwrap(node: Any) -> Tree[Any] | None:
    """The meaningful node under the chain of single-child wrappers (expr → … → member → primary)."""
    while _is_tree(node) and node.data in _WRAPPERS and len(node.children) == 1:
        node = node.children[0]
    return node if _is_tree(node) else None


_WRAPPERS = frozenset({"expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication",
                       "unary", "member", "primary"})


def _logic(left: Fn, right: Fn, is_or: bool) -> Fn:
    """``||``/``&&`` with CEL's commutative error absorption: the side that decides wins over an error."""
    decisive = is_or

    def logic(a: Activation) -> Any:
        try:
            x = truth(left(a))
        except CelFailure:
            y = truth(right(a))
            if y is decisive:
                return decisive
            raise
        if x is decisive:
            return decisive
        return truth(right(a))

    return logic


def _iterate(x: Any) -> Sequence[Any]:
    if isinstance(x, dict):
        return list(x)
    if isinstance(x, list | tuple):
        return x
    raise CelFailure(f"cannot iterate over {kind_of(x)}")


def _all(target: Fn, var: str, body: list[Fn]) -> Fn:
    (pred,) = body

    def every(a: Activation) -> bool:
        error: CelFailure | None = None
        scope = dict(a)
        for item in _iterate(target(a)):
            scope[var] = item
            try:
                if not truth(pred(scope)):
                    return False
            except CelFailure as exc:
                error = exc
        if error is not None:
            raise error
        return True

    return every


def _exists(target: Fn, var: str, body: list[Fn]) -> Fn:
    (pred,) = body

    def exists(a: Activation) -> bool:
        error: CelFailure | None = None
        scope = dict(a)
        for item in _iterate(target(a)):
            scope[var] = item
            try:
                if truth(pred(scope)):
                    return True
            except CelFailure as exc:
                error = exc
        if error is not None:
            raise error
        return False

    return exists


def _exists_one(target: Fn, var: str, body: list[Fn]) -> Fn:
    (pred,) = body

    def exists_one(a: Activation) -> bool:
        scope = dict(a)
        count = 0
        for item in _iterate(target(a)):
            scope[var] = item
            count += truth(pred(scope))
        return count == 1

    return exists_one


def _map(target: Fn, var: str, body: list[Fn]) -> Fn:
    pred, transform = (body[0], body[1]) if len(body) == 2 else (None, body[0])

    def mapped(a: Activation) -> list[Any]:
        scope = dict(a)
        out = []
        for item in _iterate(target(a)):
            scope[var] = item
            if pred is None or truth(pred(scope)):
                out.append(transform(scope))
        return out

    return mapped


def _filter(target: Fn, var: str, body: list[Fn]) -> Fn:
    (pred,) = body

    def filtered(a: Activation) -> list[Any]:
        scope = dict(a)
        out = []
        for item in _iterate(target(a)):
            scope[var] = item
            if truth(pred(scope)):
                out.append(item)
        return out

    return filtered


_MACRO_BUILDERS: dict[str, Callable[[Fn, str, list[Fn]], Fn]] = {
    "all": _all, "exists": _exists, "exists_one": _exists_one, "map": _map, "filter": _filter}


def _in(a: Any, b: Any) -> bool:
    if isinstance(b, dict):
        return a in b
    if isinstance(b, list | tuple):
        return any(equal(a, x) for x in b)
    raise CelFailure(f"no such overload: {kind_of(a)} in {kind_of(b)}")


_RELATIONS: dict[str, Callable[[Any, Any], Any]] = {
    "relation_eq": equal, "relation_ne": lambda a, b: not equal(a, b),
    "relation_lt": order(lambda a, b: a < b), "relation_le": order(lambda a, b: a <= b),
    "relation_gt": order(lambda a, b: a > b), "relation_ge": order(lambda a, b: a >= b),
    "relation_in": _in,
}
_ADDITIONS = {"addition_add": arith("+"), "addition_sub": arith("-")}
_MULTIPLICATIONS = {"multiplication_mul": arith("*"), "multiplication_div": arith("/"),
                    "multiplication_mod": arith("%")}


def function_names(tree: Tree[Any]) -> list[tuple[str, int, int]]:
    """Every function a tree calls (name, line, column) that no library declares: for the fallback path."""
    unknown: list[tuple[str, int, int]] = []
    for node in tree.iter_subtrees():
        if node.data in ("ident_arg", "member_dot_arg"):
            token = node.children[0] if node.data == "ident_arg" else node.children[1]
            name = str(token)
            if name not in FUNCTIONS and name not in METHODS and name not in MACROS and name != "has":
                unknown.append((name, *_position(token)))
    return unknown


def _arity(name: str, counts: Sequence[int], got: int) -> str:
    """``size() takes 1 argument, got 2``; ``substring() takes 1 or 2 arguments, got 0``."""
    return f"{name}() takes {' or '.join(map(str, counts))} {plural('argument', max(counts))}, got {got}"
