"""Controller settings: strictly checked, every problem located, all at once."""

from __future__ import annotations

import pytest

from policy_engine.controller.settings import load_settings, parse_settings
from policy_engine.errors import DiagnosticError


def test_defaults_are_safe() -> None:
    s = parse_settings("", "controller.yaml")
    assert s.idle.act is False  # dry run unless asked
    assert s.leader_election.enabled and s.reports.api == "wgpolicyk8s.io"
    assert s.prometheus.url is None


def test_every_problem_is_located() -> None:
    text = ("interval_seconds: 60\n"
            "prometheus:\n"
            "  url: prometheus:9090\n"
            "  step_secs: 30\n"
            "idle:\n"
            "  max_actions_per_cycle: -1\n"
            "leader_election:\n"
            "  lease_duration_seconds: 5\n"
            "  renew_deadline_seconds: 10\n")
    with pytest.raises(DiagnosticError) as err:
        parse_settings(text, "controller.yaml")
    found = {(d.span.line, d.code) for d in err.value.diagnostics}
    messages = " | ".join(d.message for d in err.value.diagnostics)
    assert {(3, "E905"), (4, "E905"), (6, "E905")} <= found, messages
    assert "prometheus.url: must start with http:// or https://" in messages
    assert "prometheus.step_secs: Extra inputs are not permitted" in messages
    assert "retry_period_seconds < renew_deadline_seconds < lease_duration_seconds" in messages


def test_unreadable_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DiagnosticError) as err:
        load_settings(tmp_path / "missing.yaml")
    assert "cannot read settings file" in str(err.value)
