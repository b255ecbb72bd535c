"""docs/language.md stays in step with the compiler: attribute and function tables, error codes, examples."""

from __future__ import annotations

import re
from pathlib import Path

from policy_engine.compiler import compile_text
from policy_engine.compiler.attributes import ATTRIBUTES
from policy_engine.compiler.functions import FUNCTIONS

ROOT = Path(__file__).resolve().parent.parent.parent
DOC = (ROOT / "docs" / "language.md").read_text()
ERRORS = ROOT / "tests" / "fixtures" / "compiler" / "errors"


def _rows(header: str) -> list[list[str]]:
    """The rows of the markdown table that follows ``header``."""
    start = DOC.index(header)
    rows = []
    for line in DOC[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_attribute_table_matches_the_attribute_module() -> None:
    rows = _rows("| Attribute | Type | Meaning |")
    documented = {r[0].strip("`"): (r[1], r[2]) for r in rows}
    assert documented == {a.name: (a.type, a.doc) for a in ATTRIBUTES.values()}


def test_function_table_matches_the_function_module() -> None:
    rows = _rows("| Function | Result | Meaning |")
    documented = {re.sub(r"\(.*", "", r[0].strip("`")) for r in rows}
    assert documented == {*FUNCTIONS, "cel"}


def test_every_error_code_is_documented_with_an_example() -> None:
    table = {r[0] for r in _rows("| Code | Meaning |")}
    examples = set(re.findall(r"^#### (\w+)", DOC, re.MULTILINE))
    expanded = {c.strip() for e in examples for c in e.split(",")} | {"E002", "E003"}
    golden = {p.stem for p in ERRORS.glob("*.expected")}
    assert golden <= table and golden <= expanded
    assert table - golden == {"E001", "E002", "E003"}  # syntax codes: tests/syntax golden file


def test_documented_examples_compile() -> None:
    """Every ``policy`` example in the reference compiles (parameters it uses are declared)."""
    blocks = re.findall(r"```\n(.*?)```", DOC, re.DOTALL)
    examples = [b for b in blocks if b.lstrip().startswith(("policy ", "# Every GPU", "param max_gpus"))]
    assert examples
    for text in examples:
        result = compile_text(text, "doc.policy")
        assert result.ok, [d.headline() for d in result.diagnostics]
