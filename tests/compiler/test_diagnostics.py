"""Every diagnostic code: its rendered text and location, from golden files under tests/fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_engine.compiler import compile_policies, compile_text
from policy_engine.diagnostics import render_all

ERRORS = Path(__file__).parent.parent / "fixtures" / "compiler" / "errors"
CASES = sorted(p.stem for p in ERRORS.glob("*.policy"))


def _render(path: str) -> tuple[str, list[str], bool]:
    result = compile_policies([path])
    return render_all(result.diagnostics, result.sources), [d.code for d in result.diagnostics], result.ok


@pytest.mark.parametrize("code", CASES)
def test_each_code_renders_located_with_caret(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ERRORS)
    rendered, codes, ok = _render(f"{code}.policy")
    assert codes == [code]
    assert ok == code.startswith("W")  # warnings do not stop compilation
    assert rendered + "\n" == (ERRORS / f"{code}.expected").read_text()


def test_import_cycle_names_the_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ERRORS)
    rendered, codes, ok = _render("cycle/a.policy")
    assert codes == ["E402"] and not ok
    assert rendered + "\n" == (ERRORS / "E402.expected").read_text()


def test_every_error_of_a_file_is_reported_at_once_sorted() -> None:
    text = (
        'policy "p" {\n'
        "  severity hihg\n"
        "  when gpuz > 0\n"
        '  assert idle_timeout > "30m"\n'
        "  quota gpu_hours 10\n"
        "}\n"
    )
    result = compile_text(text, "many.policy")
    located = [(d.span.line, d.code) for d in result.diagnostics]
    assert located == [(2, "E105"), (3, "E101"), (4, "E201"), (5, "E304"), (5, "E305")]
    assert result.policy_set is None


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.policy").write_text('policy "same" {\n  require spot\n}\n')
    (tmp_path / "b.policy").write_text('policy "same" {\n  require pinned\n}\n')
    result = compile_policies([tmp_path])
    [diag] = result.diagnostics
    assert diag.code == "E301" and diag.span.file.endswith("b.policy")
    assert "a.policy:1:8" in diag.notes[0]


def test_missing_policy_path_is_located() -> None:
    result = compile_policies(["/nonexistent/dir"])
    assert [d.code for d in result.diagnostics] == ["E401"] and not result.ok


def test_cel_error_points_inside_the_string() -> None:
    text = 'policy "p" {\n  assert cel("object.spec.x ==")\n}\n'
    [diag] = compile_text(text, "c.policy").diagnostics
    assert diag.code == "E206"
    # CEL stops at the dangling '=='; the caret sits there inside the policy file
    line = text.splitlines()[1]
    assert (diag.span.line, diag.span.column) == (2, line.index('=="') + 1)
