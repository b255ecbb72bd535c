"""The policy test runner: outcomes, expectations, groups, costs, and located errors in test files."""

from __future__ import annotations

from pathlib import Path

import yaml

from policy_engine.authoring.testfile import load_suite
from policy_engine.authoring.testing import run_tests
from policy_engine.authoring.testreport import render_junit, render_text

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "authoring" / "testing"


def _case_count(paths: list[Path]) -> int:
    return sum(len(yaml.safe_load(p.read_text())["cases"]) for p in paths)


def test_every_bundled_policy_has_tests_with_a_passing_and_a_failing_sample() -> None:
    tests = sorted((ROOT / "policies").rglob("*.test.yaml"))
    tested: dict[str, set[str]] = {}
    for path in tests:
        suite, errors = load_suite(path.read_text(), str(path))
        assert suite is not None, errors
        for case in suite.cases:
            tested.setdefault(case.policy, set()).add(case.expect or "")
    names = {p.stem for p in (ROOT / "policies").glob("*.policy")}
    assert len(names) >= 12
    assert set(tested) == names
    for name, outcomes in tested.items():
        if name != "gpu-idle-live":  # a live rule never fails statically: documented in its test file
            assert {"pass", "fail"} <= outcomes, name


def test_the_bundled_library_passes_its_own_tests() -> None:
    result = run_tests([str(ROOT / "policies")])
    assert result.all_errors == []
    assert result.failed == 0
    assert result.passed == _case_count(sorted((ROOT / "policies").rglob("*.test.yaml")))


def test_passing_file_checks_outcomes_messages_groups_and_costs() -> None:
    result = run_tests([str(FIXTURES / "passing")])
    assert result.all_errors == []
    assert (result.passed, result.failed) == (_case_count([FIXTURES / "passing" / "passing.test.yaml"]), 0)
    assert render_text(result).splitlines()[-1] == f"{result.passed} passed, 0 failed"


def test_failing_expectations_are_reported_with_expected_and_actual() -> None:
    result = run_tests([str(FIXTURES / "failing")])
    assert result.all_errors == []
    assert (result.passed, result.failed) == (1, 4)
    text = render_text(result)
    failed_lines = sorted(int(line.split(":")[1]) for line in text.splitlines() if ": FAIL " in line)
    assert failed_lines == [5, 6, 7, 8]
    assert "    - expected: pass\n    + actual:   fail (1 finding)" in text
    assert "message contains 'no such words'" in text
    assert "monthly_cost $1,468.76" in text
    assert text.splitlines()[-1] == "1 passed, 4 failed"


def test_bad_test_files_are_errors_naming_file_line_and_field() -> None:
    result = run_tests([str(FIXTURES / "erroring")])
    where = sorted((Path(e.span.file).name, e.span.line, e.message.split(":")[0]) for e in result.all_errors)
    assert where == [
        ("erroring.test.yaml", 4, "cases[0].expect"),
        ("erroring.test.yaml", 5, "cases[1].colour"),
        ("erroring.test.yaml", 6, "cases[2].policy"),
        ("erroring.test.yaml", 7, "cases[3].resource"),
        ("erroring.test.yaml", 8, "cases[4].message"),
        ("unknown.test.yaml", 4, "policy"),
        ("unknown.test.yaml", 5, "resource"),
    ]
    assert result.passed == result.failed == 0


def test_a_missing_path_and_an_empty_tree_are_errors(tmp_path: Path) -> None:
    assert [e.code for e in run_tests([str(tmp_path / "absent")]).all_errors] == ["E401"]
    assert [e.code for e in run_tests([str(tmp_path)]).all_errors] == ["E902"]


def test_policies_that_do_not_compile_are_reported_through_the_test_file(tmp_path: Path) -> None:
    (tmp_path / "bad.policy").write_text('policy "x" {\n  assert gpus <= "eight"\n}\n')
    (tmp_path / "x.test.yaml").write_text(
        "policies: [bad.policy]\nresources: [m.yaml]\ncases:\n  - {policy: x, resource: Pod/p, expect: pass}\n")
    (tmp_path / "m.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n")
    result = run_tests([str(tmp_path)])
    codes = [(Path(e.span.file).name, e.code) for e in result.all_errors]
    assert ("x.test.yaml", "E902") in codes and ("bad.policy", "E201") in codes


def test_junit_report_lists_failures_and_errors() -> None:
    import xml.etree.ElementTree as ET

    result = run_tests([str(FIXTURES / "failing"), str(FIXTURES / "erroring")])
    root = ET.fromstring(render_junit(result))
    assert root.get("failures") == "4"
    assert int(root.get("errors") or 0) == len(result.all_errors) > 0
    assert len(root.findall(".//failure")) == 4
