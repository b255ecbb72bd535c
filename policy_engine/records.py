"""Equality, hashing and ``repr`` by fields for the package's dataclasses, written once instead of per class.

``@dataclass`` writes the source of ``__eq__``, ``__hash__`` and ``__repr__`` for every class it decorates and
compiles each (~60 µs apiece): for the hundred-odd records ``check`` imports, a fifth of its whole start-up.
A dataclass that derives from ``Record`` (mutable) or ``FrozenRecord`` (``frozen=True``) and is decorated
with ``eq=False, repr=False`` gets the same three from here, computed from its fields::

    @dataclass(frozen=True, slots=True, eq=False, repr=False)
    class Ident(FrozenRecord):
        name: str
        span: Span

They behave as the generated ones: equal when of the same class with equal compared fields (``field(compare=
False)`` left out), else ``NotImplemented``; ``FrozenRecord`` hashes the tuple of the fields that are
compared and hashed, and ``Record`` is unhashable, as a mutable dataclass with ``eq`` is; the repr is
``Class(field=value, ...)`` over the fields with ``repr=True``, ``...`` where a record contains itself.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from operator import attrgetter
from typing import Any

_Fields = Callable[[Any], tuple[Any, ...]]
_compared: dict[type, _Fields] = {}
_hashed: dict[type, _Fields] = {}
_shown: dict[type, tuple[str, ...]] = {}


def _getter(names: tuple[str, ...]) -> _Fields:
    """The tuple of those attributes of a record (``attrgetter`` of one name gives the value alone)."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda record: (one(record),)
    return lambda record: ()


def _fields_of(cls: type, table: dict[type, Any], pick: Callable[[dataclasses.Field[Any]], bool],
               make: Callable[[tuple[str, ...]], Any]) -> Any:
    found = table.get(cls)
    if found is None:
        found = table[cls] = make(tuple(f.name for f in dataclasses.fields(cls) if pick(f)))
    return found


class _ByFields:
    """``__eq__`` and ``__repr__`` by fields, as ``@dataclass`` writes them."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        get: _Fields = _fields_of(self.__class__, _compared, lambda f: f.compare, _getter)
        return get(self) == get(other)

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        names: tuple[str, ...] = _fields_of(self.__class__, _shown, lambda f: f.repr, tuple)
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{self.__class__.__qualname__}({shown})"


class Record(_ByFields):
    """A mutable dataclass's ``__eq__`` and ``__repr__``; unhashable, as with ``@dataclass(eq=True)``."""

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]


class FrozenRecord(_ByFields):
    """A frozen dataclass's ``__eq__``, ``__repr__`` and ``__hash__`` (over its compared, hashed fields)."""

    __slots__ = ()

    def __hash__(self) -> int:
        get: _Fields = _fields_of(self.__class__, _hashed,
                                  lambda f: f.compare if f.hash is None else f.hash, _getter)
        return hash(get(self))
