"""The fast builder of a frozen dataclass (``policy_engine.frozen``) builds what the constructor builds; the records a
worker returns as plain tuples come back as they were."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.compiler.program import Enforcement, Severity
from policy_engine.engine.aggregate import Contribution
from policy_engine.engine.findings import Finding, ResourceRef, new_ref
from policy_engine.frozen import builder
from policy_engine.reporters.costs import WorkloadCost

_text = st.text(max_size=8)


@settings(max_examples=100, deadline=None)
@given(values=st.tuples(_text, _text, st.none() | _text, _text, st.integers(1, 10**6), _text))
def test_the_builder_builds_the_object_the_constructor_builds(values: tuple[Any, ...]) -> None:
    fast, made = new_ref(*values), ResourceRef(*values)
    assert type(fast) is ResourceRef and fast == made and hash(fast) == hash(made) and repr(fast) == repr(made)
    for original in (fast, made):  # pickled (a worker's results): the builder is found by its name
        back = pickle.loads(pickle.dumps(original, pickle.HIGHEST_PROTOCOL))
        assert type(back) is ResourceRef and back == made
    with pytest.raises(dataclasses.FrozenInstanceError):  # still frozen at run time
        fast.kind = "Job"  # type: ignore[misc]


def test_a_builder_wants_every_field() -> None:
    with pytest.raises(TypeError):
        new_ref("Pod", "web", None, "a.yaml", 1)  # type: ignore[call-arg]  # api_version too, though it has a default


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


def test_records_a_worker_returns_come_back_equal_from_their_plain_tuples() -> None:
    ref = ResourceRef("Job", "train", "ml", "jobs/train.yaml", 3, "batch/v1")
    records = [
        Finding("max-gpus", "gpus", Severity.HIGH, Enforcement.DENY, "too many", ref, 9, ("spec", "x"), 12.5, None,
                None, (ref,), (("gpus", 16),), False),
        Contribution("quota", 0, "team-a", ref, 3.5, True, 720.0, None),
        WorkloadCost(ref, "team-a", 8.0, None),
    ]
    for original in records:
        back = pickle.loads(pickle.dumps(original, pickle.HIGHEST_PROTOCOL))
        assert type(back) is type(original) and back == original and repr(back) == repr(original)
