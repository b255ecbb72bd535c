"""The values and library of Kubernetes CEL as ``compiler.cel_compile``'s closures evaluate them.

CEL's runtime errors (``CelFailure``: the expression has no value), its equality and ordering across
kinds, arithmetic with overflow and division checks, field selection and indexing, and the Kubernetes
libraries: strings, lists, regex (RE2, linear time), url and quantity. ``METHODS`` and ``FUNCTIONS``
name every function a compiled expression may call, with the argument counts each accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any
from urllib.parse import parse_qs, urlsplit

from policy_engine.compiler.regex import Pattern, compile_regex, problem
from policy_engine.model.runtime import parse_duration
from policy_engine.quantity import Quantity, quantity


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

def is_num(x: Any) -> bool:
    return isinstance(x, int | float | Decimal) and not isinstance(x, bool)


def kind_of(x: Any) -> str:
    if isinstance(x, bool):
        return "bool"
    if is_num(x):
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


def equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    try:
        return bool(a == b)
    except TypeError:
        return False


def order(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        ka, kb = kind_of(a), kind_of(b)
        if ka != kb or ka not in ("number", "string", "bool", "duration"):
            raise CelFailure(f"no such overload: {ka} {kb}")
        return op(a, b)

    return compare


def _int_div(a: int, b: int) -> int:
    if b == 0:
        raise CelFailure("division by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def arith(op: str) -> Callable[[Any, Any], Any]:
    def compute(a: Any, b: Any) -> Any:
        ka, kb = kind_of(a), kind_of(b)
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


def select(x: Any, field: str) -> Any:
    if isinstance(x, dict):
        if field in x:
            return x[field]
        raise CelFailure(f"no such key: {field}")
    raise CelFailure(f"no such field {field!r} on {kind_of(x)}")


def index_into(x: Any, i: Any) -> Any:
    if isinstance(x, dict):
        if i in x:
            return x[i]
        raise CelFailure(f"no such key: {i!r}")
    if isinstance(x, list | tuple) and isinstance(i, int) and not isinstance(i, bool):
        if 0 <= i < len(x):
            return x[i]
        raise CelFailure(f"index out of range: {i}")
    raise CelFailure(f"no such overload: {kind_of(x)}[{kind_of(i)}]")


def truth(x: Any) -> bool:
    if isinstance(x, bool):
        return x
    raise CelFailure(f"no such overload: expected bool, got {kind_of(x)}")


def _string(x: Any) -> str:
    if isinstance(x, str):
        return x
    raise CelFailure(f"expected a string, got {kind_of(x)}")


def _list(x: Any) -> Sequence[Any]:
    if isinstance(x, list | tuple):
        return x
    raise CelFailure(f"expected a list, got {kind_of(x)}")


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
    raise CelFailure(f"no such overload: size({kind_of(x)})")


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
    raise CelFailure(f"no such overload: int({kind_of(x)})")


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
    raise CelFailure(f"no such overload: string({kind_of(x)})")


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
        if equal(item, sub):
            return i
    return -1


def _last_index_of(x: Any, sub: Any) -> int:
    if isinstance(x, str):
        return x.rfind(_string(sub))
    items = _list(x)
    for i in range(len(items) - 1, -1, -1):
        if equal(items[i], sub):
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
    less = order(lambda a, b: a <= b)
    return all(less(a, b) for a, b in pairwise(values))


def _sum(items: Any) -> Any:
    values = _list(items)
    if not values:
        return 0
    add = arith("+")
    total = values[0]
    for v in values[1:]:
        total = add(total, v)
    return total


def _extreme(pick: Callable[..., Any]) -> Callable[[Any], Any]:
    def extreme(items: Any) -> Any:
        values = _list(items)
        if not values:
            raise CelFailure("min/max of an empty list")
        kinds = {kind_of(v) for v in values}
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
    "bool": ((1,), truth),
    "dyn": ((1,), lambda x: x),
    "duration": ((1,), _duration),
    "matches": ((2,), _matches),
    "quantity": ((1,), _to_quantity),
    "isQuantity": ((1,), lambda s: isinstance(s, str) and quantity(s) is not None),
    "url": ((1,), _url),
    "isURL": ((1,), _is_url),
}
MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
