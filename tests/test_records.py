"""``record`` and ``frozen_record`` behave as the ``@dataclass`` methods they replace (equality, hash, repr)."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from dataclasses import dataclass, field

import pytest

from policy_engine.records import frozen_record, record


@frozen_record
class Point:
    """A value."""

    x: int
    y: int = 0
    note: str = field(default="", compare=False)


@frozen_record
class Pin:
    """A value of one field."""

    name: str


@record
class Box:
    """A mutable record."""

    items: list[object] = field(default_factory=list)


@dataclass(frozen=True)
class GeneratedPoint:
    x: int
    y: int = 0
    note: str = field(default="", compare=False)


def test_a_frozen_record_equals_and_hashes_as_a_frozen_dataclass() -> None:
    assert Point(1, 2) == Point(1, 2, note="ignored: compare=False")
    assert Point(1, 2) != Point(2, 1)
    assert hash(Point(1, 2)) == hash(GeneratedPoint(1, 2)) == hash((1, 2))
    assert hash(Pin("a")) == hash(("a",))
    assert len({Point(1, 2), Point(1, 2, "other"), Point(3)}) == 2
    other: object = GeneratedPoint(1, 2)
    assert Point(1, 2) != other  # another class: NotImplemented both ways, so unequal
    assert Point.__eq__(Point(1), (1, 0)) is NotImplemented


def test_the_repr_is_the_generated_one() -> None:
    assert repr(Point(1, 2, "n")) == repr(GeneratedPoint(1, 2, "n")).replace("GeneratedPoint", "Point")
    box = Box()
    box.items.append(box)
    assert repr(box) == "Box(items=[...])"  # a record holding itself


def test_a_mutable_record_is_unhashable_and_changes() -> None:
    box = Box()
    box.items.append(1)
    assert box == Box([1]) and box != Box()
    with pytest.raises(TypeError, match="unhashable"):
        hash(box)


def test_records_are_dataclasses_with_slots_that_copy_and_pickle() -> None:
    point = Point(1, 2, "n")
    assert dataclasses.is_dataclass(point) and not hasattr(point, "__dict__")
    assert [f.name for f in dataclasses.fields(point)] == ["x", "y", "note"]
    assert dataclasses.replace(point, y=5) == Point(1, 5)
    for copied in (copy.copy(point), copy.deepcopy(point), pickle.loads(pickle.dumps(point))):
        assert copied == point and copied.note == "n"
    with pytest.raises(AttributeError):
        point.z = 1  # type: ignore[attr-defined]  # slots: no other attribute
