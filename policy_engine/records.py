"""``record`` and ``frozen_record``: the package's dataclasses, at a fraction of ``@dataclass``'s start-up cost.

On Python 3.11 ``@dataclass`` writes the source of each method it adds (``__init__``, ``__eq__``, ``__repr__``,
and for ``frozen=True`` ``__hash__``, ``__setattr__``, ``__delattr__``) and compiles it, ~60 µs apiece: for the
hundred-odd records ``check`` imports, six methods each came to a third of its whole start-up. Here only
``__init__`` is generated; equality, hashing and ``repr`` are written once for all, computed from the fields::

    @frozen_record
    class Ident:
        name: str
        span: Span

Both are dataclasses with ``__slots__`` (``dataclasses.fields``, ``replace`` and ``asdict`` work on them) whose
methods behave as the generated ones: equal when of the same class with equal compared fields
(``field(compare=False)`` left out), else ``NotImplemented``; the repr is ``Class(field=value, ...)`` over the
fields with ``repr=True``, ``...`` where a record contains itself. A ``frozen_record`` is a value: hashed on
the tuple of its compared (and hashed) fields, and frozen to the type checker (``dataclass_transform``:
mypy --strict refuses an assignment to a field), which is what keeps it unchanged, as the parser's trees and
the catalog's prices must stay; at run time its fields are plain slots, as in a mutable record, which saves
generating ``__setattr__`` and ``__delattr__`` (and makes building one cheaper). A ``record`` is mutable, and
unhashable as a mutable dataclass with ``eq`` is. Write ``@dataclass`` where one needs what these leave out
(ordering, runtime immutability, its own hash: ``ResourceRef``, hashed several times per finding, keeps the
generated one).
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")
_Fields = Callable[[Any], tuple[Any, ...]]
_compared: dict[type, _Fields] = {}
_hashed: dict[type, _Fields] = {}
_shown: dict[type, tuple[str, ...]] = {}


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def frozen_record(cls: type[T]) -> type[T]:
    """A value: a dataclass with slots, equal and hashed by its fields, its fields read-only to the type checker."""
    return _with_methods(dataclasses.dataclass(slots=True, eq=False, repr=False)(cls), hashable=True)


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: type[T]) -> type[T]:
    """A mutable dataclass with slots, equal by its fields and unhashable."""
    return _with_methods(dataclasses.dataclass(slots=True, eq=False, repr=False)(cls), hashable=False)


def _with_methods(cls: type[T], hashable: bool) -> type[T]:
    own = cls.__dict__  # a method the class writes itself is kept
    methods = {"__eq__": _eq, "__repr__": _repr, "__hash__": _hash if hashable else None}
    for name, method in methods.items():
        if own.get(name) is None:
            setattr(cls, name, method)
    return cls


def _getter(names: tuple[str, ...]) -> _Fields:
    """The tuple of those attributes of a record (``attrgetter`` of one name gives the value alone)."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda value: (one(value),)
    return lambda value: ()


def _fields_of(cls: type, table: dict[type, Any], pick: Callable[[dataclasses.Field[Any]], bool],
               make: Callable[[tuple[str, ...]], Any]) -> Any:
    found = table.get(cls)
    if found is None:
        found = table[cls] = make(tuple(f.name for f in dataclasses.fields(cls) if pick(f)))
    return found


def _eq(self: object, other: object) -> object:  # a bool, or NotImplemented
    if other.__class__ is not self.__class__:
        return NotImplemented
    get: _Fields = _fields_of(self.__class__, _compared, lambda f: f.compare, _getter)
    equal: bool = get(self) == get(other)
    return equal


def _hash(self: object) -> int:
    get: _Fields = _fields_of(self.__class__, _hashed, lambda f: f.compare if f.hash is None else f.hash, _getter)
    return hash(get(self))


@reprlib.recursive_repr()
def _repr(self: object) -> str:
    names: tuple[str, ...] = _fields_of(self.__class__, _shown, lambda f: f.repr, tuple)
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
    return f"{self.__class__.__qualname__}({shown})"
