"""Typed reads of manifest fields: labels and annotations as strings, whatever YAML made of them."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from policy_engine.model.fields import string_map


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
