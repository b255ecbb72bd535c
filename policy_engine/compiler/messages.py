"""Violation messages: values rendered for people, and policy-written templates with ``{placeholders}``.

A template is parsed once at compile time (unknown placeholders are error E106); at run time only the
placeholders it uses are computed.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from policy_engine.compiler.attributes import ATTRIBUTES, Attribute
from policy_engine.model.workload import Workload
from policy_engine.records import frozen_record
from policy_engine.syntax import ast

#: Placeholders each rule form provides, beyond attributes, parameters and {policy}.
RULE_PLACEHOLDERS: dict[type, frozenset[str]] = {
    ast.RequireKeys: frozenset({"missing", "keys"}),
    ast.RequireKey: frozenset({"key", "value", "allowed", "pattern"}),
    ast.PatternList: frozenset({"role", "value", "patterns"}),
    ast.RequirePinned: frozenset({"role"}),
    ast.RequireSpot: frozenset({"role", "value"}),
    ast.RequireIdle: frozenset({"value", "maximum"}),
    ast.RequireDeadline: frozenset({"value", "maximum"}),
    ast.Assert: frozenset({"condition", "elements"}),
    ast.LiveIdle: frozenset({"threshold", "duration"}),
    # filled in by the engine when it decides a quota or budget
    ast.Aggregate: frozenset({"group", "key", "used", "limit", "percent", "over", "period", "workloads",
                              "threshold"}),
}


def render_value(value: Any, type_: str = "") -> str:
    """How a value reads in a message: 30m, $1,500.00, 80%, 4, "unset" for null."""
    if value.__class__ is str:  # a name, a label: the commonest, as it is
        return value
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if type_ == "duration" and isinstance(value, int | float):
        return render_duration(float(value))
    if type_ == "money" and isinstance(value, int | float):
        return f"${value:,.2f}"
    if type_ == "percent" and isinstance(value, int | float):
        return f"{value * 100:g}%"
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e15 else str(value)
    if isinstance(value, list | tuple | frozenset | set):
        return _render_items(value, type_[5:-1] if type_.startswith("list[") else "")
    return str(value)


def _render_items(values: Iterable[Any], type_: str) -> str:
    """A collection's values, each as ``render_value`` shows it (apart: in ``render_value`` the comprehension
    would make a cell on every call)."""
    return ", ".join(render_value(v, type_) for v in values)


def render_duration(seconds: float) -> str:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    if seconds >= 3600:
        return f"{seconds / 3600:g}h"
    if seconds >= 60:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def placeholders(template: str) -> list[str] | None:
    """The placeholder names of a template, or None when its braces are unbalanced.

    A format spec or conversion (``{gpus:.1f}``, ``{name!r}``) is kept in the name, so it reads as an
    unknown placeholder: values are already rendered for people.
    """
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return None
    names = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        names.append(name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else ""))
    return names


def unknown_placeholders(template: str, allowed: Iterable[str]) -> list[str] | None:
    names = placeholders(template)
    if names is None:
        return None
    known = set(allowed)
    return [n for n in names if n not in known]


@frozen_record
class Template:
    """A compiled message template: literal text and the getters for the placeholders it uses."""

    text: str
    fields: tuple[str, ...]
    constants: Mapping[str, str]
    #: per field: its parameter's value, or the attribute read for it (None: neither, read from the context)
    sources: tuple[tuple[str, str | None, Attribute | None], ...] = ()

    #: the text cut at its placeholders: literal pieces, and None where ``slots`` put a value; empty when the
    #: text is not that simple (a format spec, a conversion, unbalanced braces): then ``str.format_map``
    pieces: tuple[str | None, ...] = ()
    slots: tuple[tuple[int, str, str | None, Attribute | None], ...] = ()  # (position in pieces, its source)

    def render(self, w: Workload, context: Mapping[str, str]) -> str:
        if not self.pieces:
            return self.text.format_map(_values(w, context, self.sources))
        out: list[str | None] = list(self.pieces)
        for i, name, constant, attribute in self.slots:  # a rule's own placeholders first, then parameters
            if name in context:
                out[i] = context[name]
            elif constant is not None:
                out[i] = constant
            elif attribute is not None:
                out[i] = render_value(attribute.getter(w), attribute.type)
            else:
                raise KeyError(name)
        return "".join(out)  # type: ignore[arg-type]  # every None filled in

    def bound(self, fixed: Mapping[str, str], name: str) -> Callable[[Workload, str], str]:
        """``render(w, {**fixed, name: value})`` as a function of ``(w, value)``, its context's keys known at
        compile time: each placeholder is decided once (the context's value, a parameter's, or an attribute to
        read), and a message only reads its attributes and joins (an assert over containers, per finding)."""
        if not self.pieces or any(slot not in fixed and slot != name and constant is None and attribute is None
                                  for _, slot, constant, attribute in self.slots):
            return lambda w, value: self.render(w, {**fixed, name: value})  # format_map's, or its KeyError
        out: list[str | None] = list(self.pieces)
        given: list[int] = []
        read: list[tuple[int, Callable[[Workload], Any], str]] = []
        for i, slot, constant, attribute in self.slots:
            if slot == name:
                given.append(i)
            elif slot in fixed:
                out[i] = fixed[slot]
            elif constant is not None:
                out[i] = constant
            elif attribute is not None:
                read.append((i, attribute.getter, attribute.type))
        pieces = tuple(out)
        return lambda w, value: _joined(pieces, given, read, w, value)


def _joined(pieces: tuple[str | None, ...], given: list[int], read: list[tuple[int, Callable[[Workload], Any], str]],
            w: Workload, value: str) -> str:
    """A bound template's message (``Template.bound``): ``value`` where its placeholder is, attributes read."""
    out = list(pieces)
    for i in given:
        out[i] = value
    for i, getter, type_ in read:
        out[i] = render_value(getter(w), type_)
    return "".join(out)  # type: ignore[arg-type]  # every None filled in


def _values(w: Workload, context: Mapping[str, str],
            sources: tuple[tuple[str, str | None, Attribute | None], ...]) -> dict[str, str]:
    return {name: _value(w, context, name, constant, attribute) for name, constant, attribute in sources}


def _value(w: Workload, context: Mapping[str, str], name: str, constant: str | None,
           attribute: Attribute | None) -> str:
    """A placeholder's value: the rule's own (``context``), else the parameter's, else the attribute's."""
    if name in context:
        return context[name]
    if constant is not None:
        return constant
    if attribute is None:
        raise KeyError(name)
    return render_value(attribute.getter(w), attribute.type)


def compile_template(text: str, constants: Mapping[str, str]) -> Template:
    names = placeholders(text) or []
    fields = tuple(dict.fromkeys(n for n in names if n))
    sources = tuple((n, constants.get(n), ATTRIBUTES.get(n)) for n in fields)
    return Template(text, fields, constants, sources, *_cut(text, constants))


def _cut(text: str, constants: Mapping[str, str]) -> tuple[tuple[str | None, ...],
                                                           tuple[tuple[int, str, str | None, Attribute | None], ...]]:
    """``text`` as literal pieces and placeholders (``Template.pieces``, ``.slots``); nothing when a placeholder
    is more than a plain name, which ``str.format_map`` renders (or refuses) instead."""
    pieces: list[str | None] = []
    slots = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:
        return (), ()
    for literal, name, spec, conversion in parsed:
        if literal:
            pieces.append(literal)
        if name is None:
            continue
        if spec or conversion or not name.isidentifier():
            return (), ()
        slots.append((len(pieces), name, constants.get(name), ATTRIBUTES.get(name)))
        pieces.append(None)
    return (tuple(pieces), tuple(slots)) if pieces else ((), ())
