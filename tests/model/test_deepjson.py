"""``deepjson``: json.loads's values and errors, at any nesting depth."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.model import deepjson

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES, st.sampled_from([None, 2]))
def test_iterative_parse_equals_json_loads(value: object, indent: int | None) -> None:
    text = json.dumps(value, indent=indent)
    assert deepjson.parse_iteratively(text) == json.loads(text)


@pytest.mark.parametrize("text", ["{", "[1,]", '{"a" 1}', '{"a":1,}', "[1 2]", "{}x", "", "tru", "{1:2}", '"\\x"'])
def test_malformed_text_raises_what_json_raises(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as ours:
        deepjson.parse_iteratively(text)
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(text)
    assert (ours.value.msg, ours.value.pos) == (theirs.value.msg, theirs.value.pos)


def test_ten_thousand_levels_parse_where_json_loads_gives_up() -> None:
    text = '{"a":' * 10_000 + "[1]" + "}" * 10_000
    with pytest.raises(RecursionError):
        json.loads(text)
    value = deepjson.loads(text.replace('{"a":', "", 1)[:-1].encode())  # 10,000 levels: the API server's limit
    assert deepjson.depth(value) == 10_000
    with pytest.raises(deepjson.TooDeep) as past:  # one more is refused, at the bracket that opens it
        deepjson.loads(text)
    assert (past.value.lineno, past.value.colno) == (1, len('{"a":') * 10_000 + 1)
    assert "more than 10,000 levels" in past.value.msg
