"""The language's types and what each operator accepts; the checker and codegen share these rules.

Types are plain names: number, string, bool, duration, money, percent, map, any, null and
``list[T]``. ``error`` marks an expression already reported, so one mistake yields one diagnostic.
"""

from __future__ import annotations

NUMBER, STRING, BOOL, DURATION, MONEY, PERCENT = "number", "string", "bool", "duration", "money", "percent"
MAP, ANY, NULL, ERROR = "map", "any", "null", "error"

_WORDS = {
    NUMBER: "a number", STRING: "a string", BOOL: "a boolean", DURATION: "a duration", MONEY: "money",
    PERCENT: "a percentage", MAP: 'a map (read one key with ["key"])', ANY: "a raw object value",
    NULL: "null", ERROR: "an invalid value",
}
_NUMERIC = {NUMBER, PERCENT}


def list_of(element: str) -> str:
    return f"list[{element}]"


def element_of(type_: str) -> str | None:
    return type_[5:-1] if type_.startswith("list[") else None


def describe(type_: str) -> str:
    element = element_of(type_)
    if element is not None:
        return "a list" if element in (ANY, NULL, ERROR) else f"a list of {describe(element)}"
    return _WORDS.get(type_, type_)


def loose(type_: str) -> bool:
    """Types whose values are only known at run time (raw object fields) or already reported."""
    return type_ in (ANY, ERROR)


def unify(a: str, b: str) -> str | None:
    """The common type of two values, if they may meet in ``==``, a list or a comparison."""
    if a == b or loose(b) or b == NULL:
        return a
    if loose(a) or a == NULL:
        return b
    if a in _NUMERIC and b in _NUMERIC:
        return NUMBER
    ea, eb = element_of(a), element_of(b)
    if ea is not None and eb is not None:
        common = unify(ea, eb)
        return None if common is None else list_of(common)
    return None


def orderable(a: str, b: str) -> bool:
    """``< <= > >=``: numbers with numbers, durations with durations, money with money, strings."""
    if loose(a) or loose(b) or NULL in (a, b):
        return True
    common = unify(a, b)
    return common in (NUMBER, DURATION, MONEY, STRING, PERCENT)


_ARITHMETIC: dict[tuple[str, str, str], str] = {}
for _op in "+-*/":
    _ARITHMETIC[(_op, NUMBER, NUMBER)] = NUMBER
for _unit in (DURATION, MONEY):
    _ARITHMETIC[("+", _unit, _unit)] = _unit
    _ARITHMETIC[("-", _unit, _unit)] = _unit
    _ARITHMETIC[("*", _unit, NUMBER)] = _unit
    _ARITHMETIC[("*", NUMBER, _unit)] = _unit
    _ARITHMETIC[("/", _unit, NUMBER)] = _unit
    _ARITHMETIC[("/", _unit, _unit)] = NUMBER
_ARITHMETIC[("+", STRING, STRING)] = STRING


def arithmetic(op: str, a: str, b: str) -> str | None:
    """The result type of ``a op b``, or None when the operator does not apply."""
    if loose(a) or loose(b):
        return ANY if ERROR not in (a, b) else ERROR
    a = NUMBER if a == PERCENT else a
    b = NUMBER if b == PERCENT else b
    return _ARITHMETIC.get((op, a, b))
