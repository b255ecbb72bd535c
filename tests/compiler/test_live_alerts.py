"""The live-alert options of quotas and budgets: ``alert at`` (default 50/80/100%), ``alert forecast``,
``alert anomaly F over D``: compiled, checked with located errors, formatted back unchanged."""

from __future__ import annotations

from policy_engine.authoring.fmt import format_text
from policy_engine.compiler import compile_text
from tests.workloads import compile_one

POLICY = """policy "b" {{
  match {{
    kinds workloads
  }}
  {rule}
}}
"""


def _rule(rule: str):  # type: ignore[no-untyped-def]
    return compile_one(POLICY.format(rule=rule)).aggregates[0]


def test_defaults_and_options() -> None:
    plain = _rule('budget $40,000 per month by labels["team"]')
    assert plain.alert_thresholds == (0.5, 0.8, 1.0) and plain.thresholds == (1.0,)
    assert not plain.forecast and plain.anomaly_factor is None
    full = _rule('budget $40,000 per month by labels["team"] alert at 90%, 60% alert forecast '
                 'alert anomaly 2.5 over 14d')
    assert full.alert_thresholds == (0.6, 0.9) == full.thresholds
    assert full.forecast and full.anomaly_factor == 2.5 and full.anomaly_days == 14
    assert _rule('quota gpu_hours 10 per week by namespace alert anomaly 3').anomaly_days == 7


def test_wrong_types_are_located_errors() -> None:
    text = POLICY.format(rule='budget $1 per month by namespace alert anomaly 300% over 7')
    result = compile_text(text, "t.policy")
    assert result.policy_set is None
    errors = {(d.code, d.span.line, d.span.column, d.message) for d in result.diagnostics if d.is_error}
    assert ("E201", 5, 50, "the anomaly factor must be a number, but this is a percentage") in errors
    assert ("E201", 5, 60, "the anomaly window must be a duration, but this is a number") in errors


def test_fmt_keeps_the_options() -> None:
    text = POLICY.format(rule='budget $40,000 per month by labels["team"] alert forecast alert anomaly 3 over 7d')
    formatted = format_text(text, "t.policy")
    assert formatted == text
