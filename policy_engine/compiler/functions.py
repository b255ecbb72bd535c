"""Built-in functions callable from expressions: signature, result type and implementation.

``cel("...")`` is not here: it is compiled by ``compiler.cel`` because its argument is a program.
Every implementation is total: a null or wrongly typed argument gives null (or false), never an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from policy_engine.compiler import types as t
from policy_engine.model.runtime import parse_duration
from policy_engine.quantity import quantity
from policy_engine.records import frozen_record


def _duration(x: Any) -> float | None:
    if isinstance(x, int | float) and not isinstance(x, bool):
        return float(x)
    return parse_duration(x) if isinstance(x, str) else None


def _quantity(x: Any) -> Any:
    return quantity(x) if isinstance(x, str | int | float) and not isinstance(x, bool) else None


def _int(x: Any) -> int | None:
    """CEL's ``int()``: a number truncated toward zero, or a string of an integer; null otherwise."""
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return x
    if isinstance(x, float):
        return int(x) if x == x and abs(x) != float("inf") else None
    if isinstance(x, str):
        text = x.strip()
        digits = text[1:] if text[:1] in "+-" else text
        return int(text) if digits.isdigit() and digits.isascii() else None
    return None


def _len(x: Any) -> int | None:
    return len(x) if isinstance(x, str | list | dict) else None


def _str_fn(fn: Callable[[str], Any]) -> Callable[..., Any]:
    def call(x: Any) -> Any:
        return fn(x) if isinstance(x, str) else None

    return call


def _str_pred(fn: Callable[[str, str], bool]) -> Callable[..., Any]:
    def call(x: Any, y: Any) -> bool:
        return isinstance(x, str) and isinstance(y, str) and fn(x, y)

    return call


@frozen_record
class Function:
    """A built-in function policies can call: its signature, implementation and documentation."""

    name: str
    params: tuple[str, ...]  # argument types ("any" accepts everything)
    result: str
    impl: Callable[..., Any]
    doc: str


_TABLE = (
    Function("len", (t.ANY,), t.NUMBER, _len, "length of a string, list or map (null otherwise)"),
    Function("lower", (t.STRING,), t.STRING, _str_fn(str.lower), "the string in lower case"),
    Function("upper", (t.STRING,), t.STRING, _str_fn(str.upper), "the string in upper case"),
    Function("startswith", (t.STRING, t.STRING), t.BOOL, _str_pred(str.startswith),
             "whether the first string starts with the second"),
    Function("endswith", (t.STRING, t.STRING), t.BOOL, _str_pred(str.endswith),
             "whether the first string ends with the second"),
    Function("contains", (t.STRING, t.STRING), t.BOOL, _str_pred(lambda a, b: b in a),
             "whether the first string contains the second"),
    Function("has", (t.ANY,), t.BOOL, lambda x: x is not None, "whether a value is present (not null)"),
    Function("duration", (t.ANY,), t.DURATION, _duration,
             "a string such as \"8h\" or \"1h30m\" (or seconds) as a duration; null when it is not one"),
    Function("int", (t.ANY,), t.NUMBER, _int,
             "a string of an integer (\"5\") or a number (truncated) as a whole number; null otherwise"),
    Function("quantity", (t.ANY,), t.QUANTITY, _quantity,
             "a string such as \"512Mi\" or \"500m\" as a quantity; null when it is not one"),
)

FUNCTIONS: dict[str, Function] = {f.name: f for f in _TABLE}
#: Names the checker accepts as functions; cel is compiled separately.
FUNCTION_NAMES: tuple[str, ...] = (*FUNCTIONS, "cel")
