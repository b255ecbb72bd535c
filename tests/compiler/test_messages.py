"""Message templates cut at their placeholders at compile time render what ``str.format_map`` rendered: the
rule's own values first, then parameters, then attributes; escaped braces; a placeholder used twice; and a
template that is more than plain names fails as it did."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.compiler.messages import compile_template
from tests.workloads import role, workload

W = workload(role(replicas=2, gpus=4), name="train", namespace="ml")


@pytest.mark.parametrize(("text", "context", "expected"), [
    ("{name} asks for {gpus} GPUs (max {max_gpus})", {}, "train asks for 8 GPUs (max 8)"),
    ("{policy}: {name} in {namespace}", {"policy": "p"}, "p: train in ml"),
    ("{max_gpus} is the limit, not {value}", {"value": "12", "max_gpus": "6"}, "6 is the limit, not 12"),
    ("{{literal}} {name} {{{name}}} {name}", {}, "{literal} train {train} train"),
    ("no placeholder {{at all}}", {}, "no placeholder {at all}"),
    ("{elements}", {"elements": ""}, ""),
    ("", {}, ""),
])
def test_a_template_renders_what_format_map_renders(text: str, context: dict[str, str], expected: str) -> None:
    template = compile_template(text, {"max_gpus": "8"})
    assert template.pieces or not text.strip("{}")
    assert template.render(W, context) == expected


@pytest.mark.parametrize(("text", "error"), [("{name!r}", KeyError), ("{name:>8}", KeyError), ("{name", ValueError),
                                             ("{unknown}", KeyError)])
def test_what_is_more_than_plain_names_fails_as_before(text: str, error: type[Exception]) -> None:
    """The checker refuses these (E106); were one compiled, rendering it fails as ``format_map`` over the
    placeholders' values did: an error finding under the policy's failure mode, never a wrong message."""
    template = compile_template(text, {})
    with pytest.raises(error):
        template.render(W, {})


_PIECES = st.sampled_from(["{name}", "{gpus}", "{namespace}", "{max_gpus}", "{policy}", "{condition}", "{elements}",
                           "{unknown}", "{name!r}", "{{", "}}", " x ", "é", ": ", "{"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=8).map("".join), st.text(max_size=5),
       st.sampled_from([{}, {"policy": "p"}, {"policy": "p", "condition": "c > 1"}, {"max_gpus": "3", "name": "n"}]))
def test_a_bound_template_renders_what_render_renders(text: str, value: str, fixed: dict[str, str]) -> None:
    """``Template.bound`` (an assert's message, its context's keys known at compile time) gives what ``render``
    gives over the whole context, or fails as it fails, whatever the template, the value and the fixed context."""
    template = compile_template(text, {"max_gpus": "8"})
    try:
        expected: object = template.render(W, {**fixed, "elements": value})
    except (KeyError, ValueError) as exc:
        expected = type(exc)
    try:
        got: object = template.bound(fixed, "elements")(W, value)
    except (KeyError, ValueError) as exc:
        got = type(exc)
    assert got == expected
