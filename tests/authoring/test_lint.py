"""validate: compiler diagnostics plus the smell warnings W501-W505, each located."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_engine.authoring.lint import label_key_problem, label_value_problem, validate_sources
from policy_engine.pricing.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "authoring" / "validate"


def _validate(*names: str) -> list[tuple[str, int, str]]:
    sources = {str(FIXTURES / n): (FIXTURES / n).read_text() for n in names}
    result = validate_sources(sources, load_catalog())
    return [(d.code, d.span.line, d.level.value) for d in result.diagnostics]


@pytest.mark.parametrize(("fixture", "expected"), [
    ("exclude-covers-match.policy", [("W501", 6, "warning")]),
    ("bad-label-keys.policy", [("W502", 5, "warning"), ("W502", 6, "warning"), ("W503", 7, "warning")]),
    ("contradiction.policy", [("W504", 4, "warning")]),
    ("unknown-catalog-entries.policy", [("W505", 5, "warning"), ("W505", 6, "warning")]),
    ("clean.policy", []),
    ("type-error.policy", [("E201", 5, "error")]),
])
def test_each_smell_is_reported_at_its_line(fixture: str, expected: list[tuple[str, int, str]]) -> None:
    assert _validate(fixture) == expected


def test_the_bundled_library_has_no_diagnostics() -> None:
    paths = sorted((ROOT / "policies").glob("*.policy"))
    result = validate_sources({str(p): p.read_text() for p in paths}, load_catalog())
    assert result.diagnostics == []


@pytest.mark.parametrize(("key", "valid"), [
    ("team", True), ("cost-center", True), ("example.com/team", True), ("app.kubernetes.io/name", True),
    ("a" * 63, True), ("a" * 64, False), ("cost center", False), ("-team", False), ("team_", False),
    ("Example.com/team", False), ("/team", False), ("example.com/", False), ("x" * 254 + "/team", False),
])
def test_label_key_rules_follow_kubernetes(key: str, valid: bool) -> None:
    assert (label_key_problem(key) is None) is valid


@pytest.mark.parametrize(("value", "valid"), [("", True), ("prod", True), ("v1.2_x-y", True), ("a b", False),
                                              ("-x", False), ("x" * 64, False)])
def test_label_value_rules_follow_kubernetes(value: str, valid: bool) -> None:
    assert (label_value_problem(value) is None) is valid
