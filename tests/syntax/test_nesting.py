"""Issue #13: an expression nested past ``MAX_NESTING`` levels is a located E310 from the parser, never a
RecursionError (main crashed with a traceback on 1,000 nested maps or quantifiers and put its E310 for
`not` chains at column 1); parentheses are no level, so 10,000 of them parse."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from policy_engine.codes import CODES
from policy_engine.syntax import ast
from policy_engine.syntax.parser import MAX_NESTING, parse

HEAD = 'policy "deep" {\n  match {\n    kinds workloads\n  }\n  when '

#: Each construct nested ``n`` levels, and where (counted from the expression's first character) the
#: subexpression that opens level ``MAX_NESTING + 1`` starts; a comparison around a chain is level 1.
CHAINS: dict[str, tuple[Callable[[int], str], int]] = {
    "not": (lambda n: "not " * (n - 1) + "gpus > 0", 1 + 4 * MAX_NESTING),
    "neg": (lambda n: "gpus > " + "-" * (n - 1) + "1", 8 + MAX_NESTING - 1),
    "sum": (lambda n: "gpus > " + " + ".join(["1"] * n), 8),  # left-nested: every level starts at the first 1
    "list": (lambda n: "gpus in " + "[" * (n - 1) + "1" + "]" * (n - 1), 9 + MAX_NESTING - 1),
    "map": (lambda n: "gpus in " + "{1: " * (n - 1) + "1" + "}" * (n - 1), 9 + 4 * (MAX_NESTING - 1)),
    "call": (lambda n: "gpus > " + "len(" * (n - 1) + "x" + ")" * (n - 1), 8 + 4 * (MAX_NESTING - 1)),
    "field": (lambda n: "object" + ".a" * (n - 1) + " == 1", 1),
    "index": (lambda n: "object" + '["a"]' * (n - 1) + " == 1", 1),
    "quantifier": (lambda n: "".join(f"all c{i} in containers: " for i in range(n - 1)) + "gpus > 0",
                   1 + len("".join(f"all c{i} in containers: " for i in range(MAX_NESTING)))),
    "parenthesised or": (lambda n: "gpus > 0 or (" * (n - 1) + "gpus > 0" + ")" * (n - 1),
                         1 + len("gpus > 0 or (") * (MAX_NESTING - 1)),  # the left operand at level 101
}
#: Where the expression starts on its line (after ``  when ``).
COLUMN = len("  when ")


def _policy(expression: str) -> str:
    return HEAD + expression + "\n  assert gpus <= 8\n}\n"


@pytest.mark.parametrize("construct", sorted(CHAINS))
def test_an_expression_nested_to_the_limit_parses(construct: str) -> None:
    build, _ = CHAINS[construct]
    result = parse(_policy(build(MAX_NESTING)), "deep.policy")
    assert result.module is not None, result.diagnostics
    assert not result.diagnostics


@pytest.mark.parametrize("construct", sorted(CHAINS))
@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 3_000])
def test_one_level_more_is_e310_at_the_subexpression_that_opens_it(construct: str, depth: int) -> None:
    build, offset = CHAINS[construct]
    result = parse(_policy(build(depth)), "deep.policy")
    assert result.module is None
    [diagnostic] = result.diagnostics
    assert diagnostic.code == "E310"
    assert (diagnostic.span.file, diagnostic.span.line, diagnostic.span.column) == ("deep.policy", 5, COLUMN + offset)
    assert f"more than {MAX_NESTING} levels" in diagnostic.message


def test_parentheses_are_no_level_and_every_deep_expression_is_reported() -> None:
    parenthesised = "(" * 10_000 + "gpus > 0" + ")" * 10_000
    result = parse(_policy(parenthesised), "parens.policy")
    assert result.module is not None and not result.diagnostics
    [when] = result.module.policies[0].whens
    assert isinstance(when.condition, ast.Compare)
    text = _policy("not " * 200 + "gpus > 0").replace("assert gpus <= 8", "assert " + "-" * 300 + "gpus < 8")
    lines = [d.span.line for d in parse(text, "two.policy").diagnostics]
    assert lines == [5, 6]


def test_a_chain_of_ands_is_one_level_however_long() -> None:
    result = parse(_policy(" and ".join(f"gpus != {i}" for i in range(5_000))), "long.policy")
    assert result.module is not None and not result.diagnostics


def test_the_code_registry_states_the_limit() -> None:
    assert f"more than {MAX_NESTING} levels" in CODES["E310"].summary
