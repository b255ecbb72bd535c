"""Kubernetes quantities (``500m``, ``2``, ``512Mi``, ``1.5Gi``, ``1e3``): the one parser, exact as ``Decimal``.

It sits at the package root because both the policy language's literals (``syntax``) and the workload
model read quantities, and ``syntax`` may not import the model. A parsed value is a ``Quantity``: a
``Decimal`` (exact comparison and arithmetic) that remembers how it was written, so a message quotes
``512Mi`` rather than ``536870912``. Arithmetic on quantities gives plain ``Decimal`` numbers.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from policy_engine.errors import QuantityError

_QUANTITY = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$"
)
SUFFIXES: dict[str, Decimal] = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
BINARY_SUFFIXES = frozenset({"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"})
_EXPONENT = re.compile(r"[eE][+-]?[0-9]+")


class Quantity(Decimal):
    """A quantity's exact value; ``str()`` gives it as written (``512Mi``)."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, value: Decimal, text: str) -> Quantity:
        q = super().__new__(cls, value)
        q.text = text
        return q

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Quantity({self.text!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Quantity, (Decimal(self), self.text))


def is_suffix(unit: str) -> bool:
    """Whether ``unit`` is a quantity suffix (``Mi``, ``k``, ``m``, an exponent ``e3``)."""
    return (unit in SUFFIXES and unit != "") or _EXPONENT.fullmatch(unit) is not None


def parse_quantity(value: object) -> Decimal:
    """A Kubernetes quantity (``500m``, ``1.5Gi``, ``2``, ``1e3``) as a number, else ``QuantityError``."""
    if type(value) is str:  # the usual case first: a pod of 20,000 containers may have as many amounts
        match = _QUANTITY.match(value.strip())
        if match is not None:
            number, exponent, suffix = match.groups()
            if not exponent:
                try:
                    return Decimal(number) * SUFFIXES[suffix or ""]
                except (InvalidOperation, OverflowError):
                    pass  # said below
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        raise QuantityError(f"{value!r} is not a quantity")
    match = _QUANTITY.match(value.strip())
    if match is None:
        raise QuantityError(f"{value!r} is not a Kubernetes quantity (e.g. 500m, 2, 16Gi)")
    number, exponent, suffix = match.groups()
    try:
        base = Decimal(number)
        if exponent:
            return base * (Decimal(10) ** int(exponent[1:]))
        return base * SUFFIXES[suffix or ""]
    except (InvalidOperation, OverflowError) as exc:
        raise QuantityError(f"{value!r} is not a Kubernetes quantity") from exc


def quantity(value: object) -> Quantity | None:
    """``value`` (a manifest's string or number) as a ``Quantity``, or None when it is not one."""
    if isinstance(value, Quantity):
        return value
    try:
        parsed = parse_quantity(value)
    except QuantityError:
        return None
    return Quantity(parsed, str(value).strip())


def is_binary(text: str) -> bool:
    """Whether a quantity is written with a byte suffix (``Ki`` … ``Ei``): it is a size in bytes."""
    return text[-2:] in BINARY_SUFFIXES
