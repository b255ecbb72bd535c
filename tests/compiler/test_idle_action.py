"""The controller's small addition to the live idle rule: `then notify` / `then stop after D, options`."""

from __future__ import annotations

import pytest

from policy_engine.authoring.fmt import format_text
from policy_engine.compiler import compile_text

HEAD = 'policy "idle" {\n  match {\n    kinds [Notebook]\n  }\n'


def _compile(rule: str):  # type: ignore[no-untyped-def]
    return compile_text(HEAD + f"  {rule}\n}}\n", "idle.policy")


def test_stop_after_a_notice_with_options() -> None:
    result = _compile("idle gpu_utilisation < 10% for 2h then stop after 30m, delete_pods, act")
    assert result.ok, result.diagnostics
    assert result.policy_set is not None
    (live,) = result.policy_set.policies[0].live_idle
    assert (live.utilisation_below, live.for_seconds) == (0.1, 7200.0)
    assert (live.action, live.notice_seconds, live.delete_pods, live.act) == ("stop", 1800.0, True, True)


def test_without_then_it_only_reports_and_notify_never_acts() -> None:
    plain = _compile("idle gpu_utilisation < 10% for 1h").policy_set
    notify = _compile("idle gpu_utilisation < 10% for 1h then notify").policy_set
    assert plain is not None and notify is not None
    assert plain.policies[0].live_idle[0].action == "report"
    assert notify.policies[0].live_idle[0].action == "notify"


@pytest.mark.parametrize(("rule", "message"), [
    ("idle gpu_utilisation < 10% for 1h then stopp after 5m", "unknown idle action 'stopp'"),
    ("idle gpu_utilisation < 10% for 1h then stop", "`then stop` needs a notice period"),
    ("idle gpu_utilisation < 10% for 1h then stop after 5m, delete_pod", "unknown idle option 'delete_pod'"),
    ("idle gpu_utilisation < 10% for 1h then stop after 10%", "the notice period"),
])
def test_mistakes_are_located_errors(rule: str, message: str) -> None:
    result = _compile(rule)
    assert not result.ok
    (diag,) = [d for d in result.diagnostics if d.is_error]
    assert message in diag.message
    assert diag.span.line == 5


def test_fmt_keeps_the_action() -> None:
    text = HEAD + "  idle gpu_utilisation < 10% for 2h then stop after 30m, act\n}\n"
    assert format_text(text, "idle.policy") == text
