"""The parser: every construct becomes a located AST node; syntax errors are located and in words."""

from __future__ import annotations

from pathlib import Path

from policy_engine.diagnostics import render_all
from policy_engine.syntax import ast
from policy_engine.syntax.parser import parse

FIXTURES = Path(__file__).parent.parent / "fixtures" / "syntax"


def _parse_fixture(name: str) -> tuple[str, ast.Module | None, str]:
    text = (FIXTURES / name).read_text()
    result = parse(text, name)
    return text, result.module, render_all(result.diagnostics, {name: text})


def test_every_construct_parses_into_typed_nodes() -> None:
    _, module, rendered = _parse_fixture("every_construct.policy")
    assert module is not None, rendered
    assert [type(i).__name__ for i in module.items] == ["Import", "Param", "Policy"]
    policy = module.policies[0]
    assert policy.name.value == "gpu-allow"
    bodies = [type(r.body).__name__ for r in policy.rules]
    assert bodies == [
        "RequireKeys", "RequireKey", "RequireKey", "PatternList", "PatternList", "RequirePinned",
        "RequireSpot", "RequireIdle", "RequireDeadline", "Assert", "Assert", "LiveIdle", "Aggregate",
        "Aggregate", "Assert",
    ]
    assert {s.key.name for s in policy.settings} == {
        "description", "severity", "enforcement", "on_error", "exemptions"}


def test_literals_keep_raw_text_and_normalised_values() -> None:
    module = parse('param a = [90m, 2h, 80%, $1,500, $0.50, 7, 1.5, "x\\"y"]').module
    assert module is not None
    items = module.params[0].value
    assert isinstance(items, ast.ListExpr)
    values = [(i.raw, i.value) for i in items.items if isinstance(i, ast.Literal)]
    assert values == [("90m", 5400.0), ("2h", 7200.0), ("80%", 0.8), ("$1,500", 1500.0),
                      ("$0.50", 0.5), ("7", 7), ("1.5", 1.5), ('"x\\"y"', 'x"y')]


def test_comments_are_collected_with_positions() -> None:
    text = '# top\npolicy "p" {  # trailing\n  require spot\n}\n'
    module = parse(text, "c.policy").module
    assert module is not None
    assert [(c.text, c.span.line, c.span.column) for c in module.comments] == [
        ("# top", 1, 1), ("# trailing", 2, 15)]


def test_spans_locate_nodes() -> None:
    module = parse('policy "p" {\n  assert gpus <= 8\n}', "s.policy").module
    assert module is not None
    rule = module.policies[0].rules[0]
    assert isinstance(rule.body, ast.Assert)
    cond = rule.body.condition
    assert (cond.span.line, cond.span.column, cond.span.end_column) == (2, 10, 19)


def test_several_syntax_errors_are_reported_in_one_run() -> None:
    _, module, rendered = _parse_fixture("broken_blocks.policy")
    assert module is None
    assert rendered == (FIXTURES / "broken_blocks.expected").read_text().rstrip("\n")


def test_syntax_errors_never_name_lark_tokens() -> None:
    for text in ['policy "p" { when gpus > }', "policy {", 'policy "p" { severity }', "param = 3",
                 'policy "p" { require labels "x" }', 'policy "p" { assert ) }']:
        result = parse(text, "t.policy")
        assert result.diagnostics, text
        rendered = render_all(result.diagnostics)
        for internal in ("LSQB", "RBRACE", "__ANON", "$END", "STRING", "NAME", "LPAR"):
            assert internal not in rendered, rendered


def _walk(node: object) -> list[object]:
    import dataclasses

    out = [node]
    if dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            out.extend(_walk(getattr(node, f.name)))
    elif isinstance(node, tuple):
        for item in node:
            out.extend(_walk(item))
    return out


def test_no_lark_object_escapes_the_syntax_package() -> None:
    _, module, _ = _parse_fixture("every_construct.policy")
    nodes = _walk(module)
    assert len(nodes) > 200
    assert not [n for n in nodes if type(n).__module__.startswith("lark")]
    spans = [n for n in nodes if type(n).__name__ == "Span"]
    assert all(s.file == "every_construct.policy" and s.line >= 1 for s in spans)  # type: ignore[attr-defined]


def test_an_error_on_the_next_block_keyword_blames_the_unclosed_block() -> None:
    text = 'policy "a" {\n  require spot\n\npolicy "b" {\n  require spot if\n}\n'
    result = parse(text, "r.policy")
    lines = [d.span.line for d in result.diagnostics]
    assert lines == [4, 6]  # block a is cut at 'policy', then b's own error is still found
    assert "unexpected 'policy'" in result.diagnostics[0].message
