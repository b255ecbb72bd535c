"""Typed reads of manifest fields: labels and annotations as strings, whatever YAML made of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from policy_engine.errors import WorkloadError
from policy_engine.model.documents import Document
from policy_engine.model.fields import get, integer, string_map
from policy_engine.model.kinds_core import job_replicas
from policy_engine.model.pods import Replicas


class Text(str):
    """A ``str`` subclass: not taken as it is by the all-strings shortcut."""


_scalars = st.one_of(st.text(max_size=5), st.builds(Text, st.text(max_size=3)), st.booleans(), st.none(),
                     st.integers(-3, 3), st.floats(allow_nan=False, width=16))


@given(st.dictionaries(_scalars, _scalars, max_size=6))
def test_string_map_is_every_key_and_value_as_text(mapping: dict[Any, Any]) -> None:
    """The shortcut for a mapping of strings only gives what the item-by-item reading gives, in order."""
    expected = {str(k): "" if v is None else (str(v).lower() if isinstance(v, bool) else str(v))
                for k, v in mapping.items()}
    got = string_map(mapping)
    assert list(got.items()) == list(expected.items())
    assert all(type(k) is str and type(v) is str for k, v in got.items())
    assert got is not mapping  # a copy: the workload's labels never alias the object's


def test_a_yaml_true_label_reads_as_true_and_a_missing_block_as_nothing() -> None:
    assert string_map({"gpu": True, "n": 1, "none": None, "team": "a"}) == {"gpu": "true", "n": "1", "none": "",
                                                                           "team": "a"}
    assert string_map(None) == {} and string_map(["a"]) == {}


_amounts = st.one_of(st.none(), st.integers(-2, 5), st.booleans(), st.sampled_from(["3", " +2", "x", "$N", "1.5"]),
                     st.floats(allow_nan=False, width=16), st.lists(st.integers(0, 2), max_size=2))
_specs = st.one_of(st.dictionaries(st.sampled_from(["parallelism", "completions", "replicas"]), _amounts, max_size=3),
                   st.lists(st.integers(0, 2), max_size=2), st.none(), st.text(max_size=2))


def _outcome(read: Callable[[], Any]) -> Any:
    try:
        return ("value", read())
    except WorkloadError as exc:
        return ("error", exc.diagnostic.code, exc.diagnostic.message, exc.diagnostic.span.line)


@given(spec=_specs, default=st.sampled_from([None, 1]))
def test_an_integer_read_by_its_caller_is_read_as_integer_reads_it(spec: Any, default: int | None) -> None:
    """``integer(..., value=...)`` (the field's value already read) gives what reading it gives, errors alike."""
    doc = Document({"kind": "Job", "spec": spec}, "f.yaml", 1)
    path = ("spec", "parallelism")
    assert _outcome(lambda: integer(doc, path, default, value=get(doc.obj, path))) == \
        _outcome(lambda: integer(doc, path, default))


@given(spec=_specs)
def test_a_job_s_replicas_read_from_its_spec_once_are_those_read_field_by_field(spec: Any) -> None:
    """``job_replicas`` reads the job spec once: the same count, note, path and errors as reading each field."""
    doc = Document({"kind": "Job", "spec": spec}, "f.yaml", 1)

    def field_by_field() -> Replicas:
        parallelism = integer(doc, ("spec", "parallelism"), 1)
        completions = integer(doc, ("spec", "completions"), None)
        assert parallelism is not None
        present = get(doc.obj, ("spec", "parallelism")) is not None
        note = "parallelism" + ("" if present else " absent: default 1")
        if completions is not None and completions < parallelism:
            note = f"completions {completions} < parallelism {parallelism}"
        count = parallelism if completions is None else min(parallelism, completions)
        return Replicas(count, None, None, ("spec", "parallelism") if present else None, note)

    assert _outcome(lambda: job_replicas(doc, ("spec",))) == _outcome(field_by_field)
