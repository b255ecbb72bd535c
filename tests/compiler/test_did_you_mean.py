"""A misspelt keyword, attribute or label reference gets a "did you mean" that names the right spelling."""

from __future__ import annotations

import pytest

from policy_engine.compiler import compile_text


def _hints(text: str) -> list[tuple[str, str | None]]:
    return [(d.code, d.hint) for d in compile_text(text, "p.policy").diagnostics if d.is_error]


def test_misspelt_keyword() -> None:
    [(code, hint)] = _hints('policy "p" {\n  requre labels ["team"]\n}\n')
    assert code == "E001" and hint == "did you mean 'require'?"


def test_unrelated_word_still_lists_what_was_expected() -> None:
    [(_, hint)] = _hints('policy "p" {\n  zzz labels ["team"]\n}\n')
    assert hint is not None and hint.startswith("expected ")


@pytest.mark.parametrize(("name", "hint"), [
    ("gpu_count", "did you mean 'gpus'?"),
    ("num_gpus", "did you mean 'gpus'?"),
    ("gpus_count", "did you mean 'gpus'?"),
])
def test_attribute_synonyms_and_near_misses(name: str, hint: str) -> None:
    assert _hints(f'policy "p" {{\n  assert {name} <= 4\n}}\n') == [("E101", hint)]


def test_a_bare_label_key_points_at_labels() -> None:
    text = 'policy "p" {\n  quota gpu_hours 100 per month by team\n}\n'
    assert _hints(text) == [("E101", 'did you mean labels["team"]? (labels are read by key)')]
