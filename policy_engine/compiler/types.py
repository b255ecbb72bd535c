"""The language's types and what each operator accepts; the checker and codegen share these rules.

Types are plain names: number, string, bool, duration, money, percent, map (of strings), ``map[T]``,
any, null and ``list[T]``; quantities are ``quantity`` (no unit known), ``cpu`` (cores) and ``memory``
(bytes: memory, ephemeral storage), so comparing CPU with memory is a compile-time error; ``container``
and ``resources`` are records with fixed fields (``compiler.objects``). ``error`` marks an expression
already reported, so one mistake yields one diagnostic.
"""

from __future__ import annotations

NUMBER, STRING, BOOL, DURATION, MONEY, PERCENT = "number", "string", "bool", "duration", "money", "percent"
MAP, ANY, NULL, ERROR = "map", "any", "null", "error"
QUANTITY, CPU, MEMORY = "quantity", "cpu", "memory"
CONTAINER, RESOURCES = "container", "resources"
QUANTITIES = frozenset({QUANTITY, CPU, MEMORY})

_WORDS = {
    NUMBER: "a number", STRING: "a string", BOOL: "a boolean", DURATION: "a duration", MONEY: "money",
    PERCENT: "a percentage", MAP: 'a map (read one key with ["key"])', ANY: "a raw object value",
    NULL: "null", ERROR: "an invalid value", QUANTITY: "a quantity", CPU: "a CPU quantity",
    MEMORY: "a byte quantity (memory, storage)", CONTAINER: "a container", RESOURCES: "a set of resources",
}
_NUMERIC = {NUMBER, PERCENT}


def list_of(element: str) -> str:
    return f"list[{element}]"


def element_of(type_: str) -> str | None:
    return type_[5:-1] if type_.startswith("list[") else None


def map_of(value: str) -> str:
    return MAP if value == STRING else f"map[{value}]"


def map_value(type_: str) -> str | None:
    """The value type of a map type (``map`` holds strings), None for other types."""
    if type_ == MAP:
        return STRING
    return type_[4:-1] if type_.startswith("map[") else None


def describe(type_: str) -> str:
    value = map_value(type_)
    if value is not None and type_ != MAP:
        return f"a map of {describe(value)}"
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
    if a in QUANTITIES or b in QUANTITIES:
        return _unify_quantity(a, b)
    ea, eb = element_of(a), element_of(b)
    if ea is not None and eb is not None:
        common = unify(ea, eb)
        return None if common is None else list_of(common)
    return None


def _unify_quantity(a: str, b: str) -> str | None:
    """A plain number or a quantity of no known unit meets any quantity; CPU never meets memory."""
    a = QUANTITY if a in _NUMERIC else a
    b = QUANTITY if b in _NUMERIC else b
    if a not in QUANTITIES or b not in QUANTITIES:
        return None
    if a == QUANTITY:
        return b
    if b == QUANTITY or a == b:
        return a
    return None


def orderable(a: str, b: str) -> bool:
    """``< <= > >=``: numbers with numbers, durations with durations, money with money, strings."""
    if loose(a) or loose(b) or NULL in (a, b):
        return True
    common = unify(a, b)
    return common in (NUMBER, DURATION, MONEY, STRING, PERCENT) or common in QUANTITIES


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
    if a in QUANTITIES or b in QUANTITIES:
        return _quantity_arithmetic(op, a, b)
    return _ARITHMETIC.get((op, a, b))


def _quantity_arithmetic(op: str, a: str, b: str) -> str | None:
    """Quantities add and subtract within a unit, scale by numbers; a ratio of one unit is a number."""
    if (a not in QUANTITIES and a != NUMBER) or (b not in QUANTITIES and b != NUMBER):
        return None
    if op in "+-":
        return _unify_quantity(a, b)
    if op == "*":
        if a == NUMBER or b == NUMBER:
            return b if a == NUMBER else a
        return QUANTITY
    if b == NUMBER:
        return a
    if a == NUMBER:
        return QUANTITY
    return NUMBER if _unify_quantity(a, b) is not None else QUANTITY  # a ratio; else memory per core, ...
