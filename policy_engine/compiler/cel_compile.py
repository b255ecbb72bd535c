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
from datetime import timedelta
from decimal import Decimal
from itertools import pairwise
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from policy_engine.compiler.regex import Pattern, compile_regex, problem
from policy_engine.model.runtime import parse_duration
from policy_engine.quantity import Quantity, quantity
from policy_engine.wording import plural

if TYPE_CHECKING:  # lark only for types: a policy set without CEL never imports it
    from lark import Token, Tree

Activation = dict[str, Any]
Fn = Callable[[Activation], Any]

#: The variables a ValidatingAdmissionPolicy's expressions see.
ROOTS = frozenset({"object", "oldObject", "params", "request", "namespaceObject", "variables"})


class CelFailure(Exception):
    """A CEL evaluation error: the expression has no value (``cel()`` is then null)."""


class CelCompileError(Exception):
    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


class Unsupported(Exception):
    """A construct this compiler leaves to cel-python (a message literal, bytes)."""


def _regex(pattern: str) -> Pattern:
    """RE2, as Kubernetes CEL matches: linear time whatever the pattern (``compiler.regex``)."""
    compiled = compile_regex(pattern)
    if compiled is None:
        raise CelFailure(f"invalid regex {pattern!r}: {problem(pattern)}")
    return compiled


def _fail(message: str) -> Any:
    raise CelFailure(message)


# ---- values ---------------------------------------------------------------------------------------------

def _is_num(x: Any) -> bool:
    return isinstance(x, int | float | Decimal) and not isinstance(x, bool)


def _kind(x: Any) -> str:
    if isinstance(x, bool):
        return "bool"
    if _is_num(x):
        return "number"
    if isinstance(x, str):
        return "string"
    if isinstance(x, list | tuple):
        return "list"
    if isinstance(x, dict):
        return "map"
    if isinstance(x, timedelta):
        return "duration"
    return type(x).__name__


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    try:
        return bool(a == b)
    except TypeError:
        return False


def _order(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        ka, kb = _kind(a), _kind(b)
        if ka != kb or ka not in ("number", "string", "bool", "duration"):
            raise CelFailure(f"no such overload: {ka} {kb}")
        return op(a, b)

    return compare


def _int_div(a: int, b: int) -> int:
    if b == 0:
        raise CelFailure("division by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _arith(op: str) -> Callable[[Any, Any], Any]:
    def compute(a: Any, b: Any) -> Any:
        ka, kb = _kind(a), _kind(b)
        if op == "+" and ka == kb and ka in ("string", "list", "duration"):
            return [*a, *b] if ka == "list" else a + b
        if op == "-" and ka == kb == "duration":
            return a - b
        if ka != "number" or kb != "number" or isinstance(a, int) != isinstance(b, int):
            raise CelFailure(f"no such overload: {ka} {op} {kb}")
        if isinstance(a, int) and isinstance(b, int):
            if op == "/":
                return _int_div(a, b)
            if op == "%":
                if b == 0:
                    raise CelFailure("modulus by zero")
                return a - b * _int_div(a, b)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b if b else (float("inf") if a > 0 else float("-inf") if a < 0 else float("nan"))
        raise CelFailure(f"no such overload: {ka} % {kb}")

    return compute


def _select(x: Any, field: str) -> Any:
    if isinstance(x, dict):
        if field in x:
            return x[field]
        raise CelFailure(f"no such key: {field}")
    raise CelFailure(f"no such field {field!r} on {_kind(x)}")


def _index(x: Any, i: Any) -> Any:
    if isinstance(x, dict):
        if i in x:
            return x[i]
        raise CelFailure(f"no such key: {i!r}")
    if isinstance(x, list | tuple) and isinstance(i, int) and not isinstance(i, bool):
        if 0 <= i < len(x):
            return x[i]
        raise CelFailure(f"index out of range: {i}")
    raise CelFailure(f"no such overload: {_kind(x)}[{_kind(i)}]")


def _bool(x: Any) -> bool:
    if isinstance(x, bool):
        return x
    raise CelFailure(f"no such overload: expected bool, got {_kind(x)}")


def _string(x: Any) -> str:
    if isinstance(x, str):
        return x
    raise CelFailure(f"expected a string, got {_kind(x)}")


def _list(x: Any) -> Sequence[Any]:
    if isinstance(x, list | tuple):
        return x
    raise CelFailure(f"expected a list, got {_kind(x)}")


def _to_quantity(x: Any) -> Quantity:
    if isinstance(x, Quantity):
        return x
    q = quantity(x) if isinstance(x, str) else None
    if q is None:
        raise CelFailure(f"invalid quantity {x!r}")
    return q


def _size(x: Any) -> int:
    if isinstance(x, str | list | tuple | dict):
        return len(x)
    raise CelFailure(f"no such overload: size({_kind(x)})")


def _to_int(x: Any) -> int:
    if isinstance(x, bool):
        raise CelFailure("no such overload: int(bool)")
    if isinstance(x, int | float | Decimal):
        return int(x)
    if isinstance(x, str):
        try:
            return int(x)
        except ValueError:
            raise CelFailure(f"cannot convert {x!r} to int") from None
    raise CelFailure(f"no such overload: int({_kind(x)})")


def _to_double(x: Any) -> float:
    if isinstance(x, bool):
        raise CelFailure("no such overload: double(bool)")
    try:
        return float(x)
    except (TypeError, ValueError):
        raise CelFailure(f"cannot convert {x!r} to double") from None


def _to_string(x: Any) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, str | int | float | Decimal):
        return str(x)
    raise CelFailure(f"no such overload: string({_kind(x)})")


def _duration(x: Any) -> timedelta:
    seconds = parse_duration(x) if isinstance(x, str) and not x.strip().replace(".", "").isdigit() else None
    if seconds is None:
        raise CelFailure(f"invalid duration {x!r}")
    return timedelta(seconds=seconds)


def _url(x: Any) -> Any:
    text = _string(x)
    parts = urlsplit(text)
    if not parts.scheme and not text.startswith("/"):
        raise CelFailure(f"invalid url {text!r}")
    return parts


def _is_url(x: Any) -> bool:
    try:
        _url(x)
    except CelFailure:
        return False
    return True


def _split(value: Any, separator: Any, n: Any = -1) -> list[str]:
    s, sep = _string(value), _string(separator)
    if n == 0:
        return []
    if sep == "":
        chars = list(s)
        return chars if n < 0 or n >= len(chars) else [*chars[: n - 1], s[n - 1:]]
    return s.split(sep, n - 1 if n > 0 else -1)


def _substring(value: Any, start: Any, end: Any = None) -> str:
    s = _string(value)
    stop = len(s) if end is None else end
    if not (0 <= start <= stop <= len(s)):
        raise CelFailure(f"substring out of range [{start}, {stop}) of {len(s)}")
    return s[start:stop]


def _index_of(x: Any, sub: Any, offset: int = 0) -> int:
    if isinstance(x, str):
        if not 0 <= offset <= len(x):
            raise CelFailure("index out of range")
        return x.find(_string(sub), offset)
    for i, item in enumerate(_list(x)):
        if _equal(item, sub):
            return i
    return -1


def _last_index_of(x: Any, sub: Any) -> int:
    if isinstance(x, str):
        return x.rfind(_string(sub))
    items = _list(x)
    for i in range(len(items) - 1, -1, -1):
        if _equal(items[i], sub):
            return i
    return -1


def _char_at(value: Any, i: Any) -> str:
    s = _string(value)
    if not 0 <= i <= len(s):
        raise CelFailure("index out of range")
    return s[i : i + 1]


def _replace(s: Any, old: Any, new: Any, n: Any = -1) -> str:
    return _string(s).replace(_string(old), _string(new), n)


def _join(items: Any, sep: Any = "") -> str:
    return _string(sep).join(_string(x) for x in _list(items))


def _sorted(items: Any) -> bool:
    values = _list(items)
    less = _order(lambda a, b: a <= b)
    return all(less(a, b) for a, b in pairwise(values))


def _sum(items: Any) -> Any:
    values = _list(items)
    if not values:
        return 0
    add = _arith("+")
    total = values[0]
    for v in values[1:]:
        total = add(total, v)
    return total


def _extreme(pick: Callable[..., Any]) -> Callable[[Any], Any]:
    def extreme(items: Any) -> Any:
        values = _list(items)
        if not values:
            raise CelFailure("min/max of an empty list")
        kinds = {_kind(v) for v in values}
        if len(kinds) != 1 or kinds & {"list", "map"}:
            raise CelFailure(f"no such overload: min/max over {', '.join(sorted(kinds))}")
        return pick(values)

    return extreme


def _find(s: Any, pattern: Any) -> str:
    m = _regex(_string(pattern)).search(_string(s))
    return m.group(0) if m else ""


def _find_all(s: Any, pattern: Any, n: Any = -1) -> list[str]:
    rx: Any = _regex(_string(pattern))
    found = [m.group(0) for m in rx.finditer(_string(s))]
    return found if n < 0 else found[:n]


def _matches(s: Any, pattern: Any) -> bool:
    return _regex(_string(pattern)).search(_string(s)) is not None


def _query(u: Any) -> dict[str, list[str]]:
    return {k: v for k, v in parse_qs(u.query, keep_blank_values=True).items()}


def _q_compare(a: Any, b: Any) -> int:
    x, y = _to_quantity(a), _to_quantity(b)
    return (x > y) - (x < y)


def _q_add(a: Any, b: Any) -> Quantity:
    total = _to_quantity(a) + (Decimal(b) if isinstance(b, int) and not isinstance(b, bool) else _to_quantity(b))
    return Quantity(total, format(total.normalize(), "f"))


def _q_sub(a: Any, b: Any) -> Quantity:
    return _q_add(a, -b if isinstance(b, int) else Quantity(-_to_quantity(b), "-" + str(b)))


def _q_int(a: Any) -> int:
    q = _to_quantity(a)
    if q != q.to_integral_value():
        raise CelFailure(f"{q} is not an integer")
    return int(q)


#: Receiver-style functions (``x.f(args)``): name -> (allowed argument counts, implementation).
METHODS: dict[str, tuple[tuple[int, ...], Callable[..., Any]]] = {
    "size": ((0,), _size),
    "startsWith": ((1,), lambda s, p: _string(s).startswith(_string(p))),
    "endsWith": ((1,), lambda s, p: _string(s).endswith(_string(p))),
    "contains": ((1,), lambda s, p: _string(p) in _string(s)),
    "matches": ((1,), _matches),
    "charAt": ((1,), _char_at),
    "indexOf": ((1, 2), _index_of),
    "lastIndexOf": ((1,), _last_index_of),
    "lowerAscii": ((0,), lambda s: _string(s).lower()),
    "upperAscii": ((0,), lambda s: _string(s).upper()),
    "replace": ((2, 3), _replace),
    "split": ((1, 2), _split),
    "substring": ((1, 2), _substring),
    "trim": ((0,), lambda s: _string(s).strip()),
    "join": ((0, 1), _join),
    "isSorted": ((0,), _sorted),
    "sum": ((0,), _sum),
    "min": ((0,), _extreme(min)),
    "max": ((0,), _extreme(max)),
    "find": ((1,), _find),
    "findAll": ((1, 2), _find_all),
    "getScheme": ((0,), lambda u: u.scheme),
    "getHost": ((0,), lambda u: u.netloc.rsplit("@", 1)[-1]),
    "getHostname": ((0,), lambda u: u.hostname or ""),
    "getPort": ((0,), lambda u: str(u.port) if u.port else ""),
    "getEscapedPath": ((0,), lambda u: u.path),
    "getQuery": ((0,), _query),
    "isLessThan": ((1,), lambda a, b: _q_compare(a, b) < 0),
    "isGreaterThan": ((1,), lambda a, b: _q_compare(a, b) > 0),
    "compareTo": ((1,), _q_compare),
    "add": ((1,), _q_add),
    "sub": ((1,), _q_sub),
    "asInteger": ((0,), _q_int),
    "asApproximateFloat": ((0,), lambda a: float(_to_quantity(a))),
    "sign": ((0,), lambda a: (_to_quantity(a) > 0) - (_to_quantity(a) < 0)),
    "isInteger": ((0,), lambda a: _to_quantity(a) == _to_quantity(a).to_integral_value()),
}

#: Global functions (``f(args)``), besides the macro ``has``.
FUNCTIONS: dict[str, tuple[tuple[int, ...], Callable[..., Any]]] = {
    "size": ((1,), _size),
    "int": ((1,), _to_int),
    "uint": ((1,), _to_int),
    "double": ((1,), _to_double),
    "string": ((1,), _to_string),
    "bool": ((1,), _bool),
    "dyn": ((1,), lambda x: x),
    "duration": ((1,), _duration),
    "matches": ((2,), _matches),
    "quantity": ((1,), _to_quantity),
    "isQuantity": ((1,), lambda s: isinstance(s, str) and quantity(s) is not None),
    "url": ((1,), _url),
    "isURL": ((1,), _is_url),
}
MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})


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
        return lambda a: yes(a) if _bool(cond(a)) else no(a)

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
            return lambda a: not _bool(operand(a))

        def negate(a: Activation) -> Any:
            v = operand(a)
            if not _is_num(v):
                raise CelFailure(f"no such overload: -{_kind(v)}")
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
        return lambda a: _select(target(a), field)

    def _member_index(self, t: Tree[Any]) -> Fn:
        target, index = self._sub(t.children[0]), self._sub(t.children[1])
        return lambda a: _index(target(a), index(a))

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
            raise CelFailure(f"has() on {_kind(x)}")

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
    raise CelFailure(f"expected a url, got {_kind(x)}")


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
            x = _bool(left(a))
        except CelFailure:
            y = _bool(right(a))
            if y is decisive:
                return decisive
            raise
        if x is decisive:
            return decisive
        return _bool(right(a))

    return logic


def _iterate(x: Any) -> Sequence[Any]:
    if isinstance(x, dict):
        return list(x)
    if isinstance(x, list | tuple):
        return x
    raise CelFailure(f"cannot iterate over {_kind(x)}")


def _all(target: Fn, var: str, body: list[Fn]) -> Fn:
    (pred,) = body

    def every(a: Activation) -> bool:
        error: CelFailure | None = None
        scope = dict(a)
        for item in _iterate(target(a)):
            scope[var] = item
            try:
                if not _bool(pred(scope)):
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
                if _bool(pred(scope)):
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
            count += _bool(pred(scope))
        return count == 1

    return exists_one


def _map(target: Fn, var: str, body: list[Fn]) -> Fn:
    pred, transform = (body[0], body[1]) if len(body) == 2 else (None, body[0])

    def mapped(a: Activation) -> list[Any]:
        scope = dict(a)
        out = []
        for item in _iterate(target(a)):
            scope[var] = item
            if pred is None or _bool(pred(scope)):
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
            if _bool(pred(scope)):
                out.append(item)
        return out

    return filtered


_MACRO_BUILDERS: dict[str, Callable[[Fn, str, list[Fn]], Fn]] = {
    "all": _all, "exists": _exists, "exists_one": _exists_one, "map": _map, "filter": _filter}


def _in(a: Any, b: Any) -> bool:
    if isinstance(b, dict):
        return a in b
    if isinstance(b, list | tuple):
        return any(_equal(a, x) for x in b)
    raise CelFailure(f"no such overload: {_kind(a)} in {_kind(b)}")


_RELATIONS: dict[str, Callable[[Any, Any], Any]] = {
    "relation_eq": _equal, "relation_ne": lambda a, b: not _equal(a, b),
    "relation_lt": _order(lambda a, b: a < b), "relation_le": _order(lambda a, b: a <= b),
    "relation_gt": _order(lambda a, b: a > b), "relation_ge": _order(lambda a, b: a >= b),
    "relation_in": _in,
}
_ADDITIONS = {"addition_add": _arith("+"), "addition_sub": _arith("-")}
_MULTIPLICATIONS = {"multiplication_mul": _arith("*"), "multiplication_div": _arith("/"),
                    "multiplication_mod": _arith("%")}


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
