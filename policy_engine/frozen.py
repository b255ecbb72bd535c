"""A frozen dataclass built as fast as a plain one: ``ResourceRef``, which a run makes per workload.

A frozen dataclass's ``__init__`` cannot assign its fields (its own ``__setattr__`` refuses), so it sets
each through ``object.__setattr__``: ~0.15 µs a field. ``builder(cls)`` returns a function that builds
``cls(*values)``, every field given in order, in a fraction of that time: an instance of a twin class with
the same bases and slots, whose generated ``__init__`` assigns them plainly, then made a ``cls`` by
``__class__`` assignment (which CPython allows between classes of the same layout). The result is the frozen
``cls`` the constructor would have built: equal, hashed, pickled and refusing assignment alike. The package's
other records are ``records.frozen_record``s, frozen to the type checker only, whose own ``__init__`` already
assigns plainly: they need no builder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def builder(cls: type[T], name: str) -> Callable[..., T]:
    """``cls(*values)`` for a frozen dataclass with slots and every field given positionally, in order;
    ``name``: the module-level name the builder is kept under in ``cls``'s module (it pickles by that name)."""
    names = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or getattr(cls, "__slots__", None) != names:
        raise TypeError(f"{cls.__name__} is not a frozen dataclass with slots (a frozen_record needs no builder)")
    twin: Any = None  # made on first use: no cost at import for a run that builds none

    def build(*values: Any) -> T:
        nonlocal twin
        if twin is None:
            # on cls's own bases: CPython allows the class change only between classes of one layout, the
            # same slots added to the same base
            twin = dataclasses.make_dataclass(f"{cls.__name__}Builder", names, bases=cls.__bases__, slots=True,
                                              eq=False, repr=False)
        obj = twin(*values)
        obj.__class__ = cls  # the same slots in the same order: now a cls
        return obj  # type: ignore[no-any-return]

    build.__name__ = build.__qualname__ = name
    build.__module__ = cls.__module__
    return build
