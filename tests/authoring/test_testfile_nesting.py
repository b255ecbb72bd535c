"""Issue #13: a policy test file nests as deep as a manifest may, the API server's 10,000 levels, and one
level more is E606 where that level opens (main stopped at libyaml's 1,000 with an E902 "exceeded maximum
nesting depth", and a mapping key that is itself a collection was printed by a recursive ``repr``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_engine.authoring.testfile import load_suite
from policy_engine.cli.main import main
from policy_engine.model import deepjson
from policy_engine.model.documents import MAX_DEPTH

POLICY = ('policy "deep-extra" {\n  description "d"\n  severity low\n  enforcement deny\n'
          "  match {\n    kinds [Pod]\n  }\n  assert gpus <= 8\n}\n")
HEAD = "policies: [deep.policy]\nresources:\n  - "
CASES = "\ncases:\n  - {policy: deep-extra, resource: Pod/deep, expect: pass}\n"


def _suite_text(levels: int) -> str:
    """A test file nesting ``levels`` in all: the file (1), its resources (2), the Pod (3), its spec (4),
    then lists under ``spec.extra``."""
    lists = levels - 4
    pod = ("{apiVersion: v1, kind: Pod, metadata: {name: deep}, spec: {containers: [{name: c, image: x}], "
           f"extra: {'[' * lists}1{']' * lists}}}}}")
    return HEAD + pod + CASES


def test_a_test_file_nested_to_the_limit_loads_with_its_deep_value(tmp_path: Path) -> None:
    suite, errors = load_suite(_suite_text(MAX_DEPTH), "deep.test.yaml")
    assert errors == [] and suite is not None
    [pod] = suite.inline
    assert deepjson.depth(pod.obj) == MAX_DEPTH - 2  # the file and its resources list hold the rest
    (tmp_path / "deep.policy").write_text(POLICY)
    (tmp_path / "deep.test.yaml").write_text(_suite_text(MAX_DEPTH))
    assert main(["test", str(tmp_path / "deep.test.yaml")]) == 0


def test_one_level_more_is_e606_at_the_bracket_that_opens_it(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    text = _suite_text(MAX_DEPTH + 1)
    suite, [error] = load_suite(text, "deep.test.yaml")
    assert suite is None
    line = text.splitlines()[2]
    column = line.index("extra: [") + len("extra: ") + (MAX_DEPTH - 4) + 1  # its first bracket is level 5
    assert (error.code, error.span.line, error.span.column) == ("E606", 3, column)
    assert error.message == f"nested more than {MAX_DEPTH:,} levels deep (the API server's limit); not read"
    (tmp_path / "deep.policy").write_text(POLICY)
    (tmp_path / "deep.test.yaml").write_text(text)
    assert main(["test", str(tmp_path / "deep.test.yaml")]) == 2
    assert f"deep.test.yaml:3:{column}: error[E606]" in capsys.readouterr().out


def test_block_style_past_libyamls_own_limit_loads() -> None:
    block = "".join(" " * (8 + 2 * i) + f"k{i}:\n" for i in range(1_200)) + " " * 2_408 + "leaf: 1\n"
    text = (HEAD + "apiVersion: v1\n    kind: Pod\n    metadata: {name: deep}\n"
            "    spec:\n      containers: [{name: c, image: x}]\n      extra:\n" + block + CASES)
    suite, errors = load_suite(text, "block.test.yaml")
    assert errors == [] and suite is not None
    assert deepjson.depth(suite.inline[0].obj["spec"]["extra"]) == 1_201  # k0 … k1199, then the leaf


def test_deep_values_where_the_schema_wants_names_are_located_errors() -> None:
    deep = "[" * 9_000 + "x" + "]" * 9_000
    text = f"policies: [p.policy]\nresources: []\ncases:\n  - ? {deep}\n    : 1\n    policy: p\n  - {deep}\n"
    suite, errors = load_suite(text, "odd.test.yaml")
    assert suite is None
    found = {(e.code, e.span.line, e.span.column, e.message) for e in errors}
    assert {("E902", 4, 7, "cases[0]: a field name must be a string"),
            ("E902", 7, 5, "cases[1]: expected a mapping")} <= found, found
