"""The fast builders of frozen dataclasses (``policy_engine.frozen``) build what the constructors build."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.compiler.program import Enforcement, Severity
from policy_engine.engine.aggregate import Contribution, new_contribution
from policy_engine.engine.findings import Finding, ResourceRef, new_finding, new_ref
from policy_engine.frozen import builder
from policy_engine.model.pods import Replicas, new_replicas
from policy_engine.model.workload import Cost, Provenance, RunKind, RunTime, new_cost, new_provenance, new_run_time
from policy_engine.reporters.costs import WorkloadCost, new_workload_cost

_text = st.text(max_size=8)
_number = st.none() | st.floats(allow_nan=False)
_path = st.lists(_text | st.integers(0, 9), max_size=4).map(tuple)
_refs = st.builds(ResourceRef, _text, _text, st.none() | _text, _text, st.integers(1, 10**6), _text)
_provenances = st.builds(Provenance, _path, _text)

#: each builder, its class and what its fields may hold, in order
CASES: list[tuple[Callable[..., Any], type, st.SearchStrategy[tuple[Any, ...]]]] = [
    (new_finding, Finding, st.tuples(
        _text, _text, st.sampled_from(Severity), st.sampled_from(Enforcement), _text, _refs,
        st.none() | st.integers(1, 10**6), _path, _number, _number, st.none() | _text,
        st.lists(_refs, max_size=2).map(tuple), st.lists(st.tuples(_text, _text | _number), max_size=3).map(tuple),
        st.booleans())),
    (new_ref, ResourceRef, st.tuples(_text, _text, st.none() | _text, _text, st.integers(1, 10**6), _text)),
    (new_contribution, Contribution, st.tuples(_text, st.integers(0, 5), _text, _refs, _number, st.booleans(),
                                               st.floats(allow_nan=False), _number)),
    (new_cost, Cost, st.tuples(st.booleans(), _number, _number, _text, st.none() | _text, _number, _number,
                               st.lists(_text, max_size=2).map(tuple), st.lists(_text, max_size=2).map(tuple),
                               _number)),
    (new_run_time, RunTime, st.tuples(st.sampled_from(RunKind), _number, st.floats(0, 100), _text,
                                      st.none() | _provenances)),
    (new_provenance, Provenance, st.tuples(_path, _text)),
    (new_workload_cost, WorkloadCost, st.tuples(_refs, _text, st.floats(0, 64), _number)),
    (new_replicas, Replicas, st.tuples(st.integers(0, 99), st.none() | st.integers(0, 9),
                                       st.none() | st.integers(0, 99), st.none() | _path, _text)),
]


@pytest.mark.parametrize(("build", "cls", "values"), CASES, ids=[c[1].__name__ for c in CASES])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_builder_builds_the_object_the_constructor_builds(build: Callable[..., Any], cls: type,
                                                            values: st.SearchStrategy[tuple[Any, ...]],
                                                            data: st.DataObject) -> None:
    given_values = data.draw(values)
    fast, made = build(*given_values), cls(*given_values)
    assert type(fast) is cls and fast == made and hash(fast) == hash(made) and repr(fast) == repr(made)
    for original in (fast, made):  # pickled (a worker's results): the builder is found by its name
        back = pickle.loads(pickle.dumps(original, pickle.HIGHEST_PROTOCOL))
        assert type(back) is cls and back == made
    field = dataclasses.fields(cls)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(fast, field, getattr(fast, field))


def test_a_builder_wants_every_field() -> None:
    with pytest.raises(TypeError):
        new_provenance(("spec",))  # type: ignore[call-arg]


def test_only_frozen_dataclasses_with_slots_have_builders() -> None:
    @dataclasses.dataclass(slots=True)
    class Plain:
        a: int

    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    for cls in (Plain, NoSlots, int):
        with pytest.raises(TypeError):
            builder(cls, "new")
