"""The webhook's settings file: defaults, the webhook's own namespace, and every error located."""

from __future__ import annotations

import pytest

from policy_engine.errors import DiagnosticError
from policy_engine.webhook.config import WebhookConfig, load_config, parse_config

from .reviews import FIXTURES


def test_defaults_exempt_kube_system_and_the_webhooks_own_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    assert WebhookConfig().exempt_namespaces == ("kube-system", "policy-engine")
    monkeypatch.setenv("POD_NAMESPACE", "governance")
    assert load_config(None).exempt_namespaces == ("kube-system", "governance")
    assert WebhookConfig().inherit_labels == ("team", "cost-center")


def test_fixture_config_reads() -> None:
    config = load_config(FIXTURES / "config.yaml")
    assert config.exempt_users == ("system:serviceaccount:kube-system:*",)
    assert config.reload_interval_seconds == 0.2


def test_every_error_is_reported_with_its_line() -> None:
    with pytest.raises(DiagnosticError) as caught:
        load_config(FIXTURES / "bad-config" / "config.yaml")
    lines = {(d.span.line, d.message.split(":")[0]) for d in caught.value.diagnostics}
    assert lines == {(2, "max_body_bytes"), (3, "internal_error"), (4, "unknown_key")}
    assert "   3 | internal_error: sideways" in str(caught.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("exempt_users: [\n", "invalid YAML"),
    ("- a\n- b\n", "must be a mapping"),
    ("exempt_namespaces: ['ok', '  ']\n", "entries must be non-empty"),
])
def test_malformed_files_are_located(text: str, expected: str) -> None:
    with pytest.raises(DiagnosticError) as caught:
        parse_config(text, "config.yaml")
    assert expected in str(caught.value) and "config.yaml:" in str(caught.value)


def test_empty_file_means_defaults() -> None:
    assert parse_config("# nothing set\n", "config.yaml") == WebhookConfig()


def test_missing_file_is_a_located_error() -> None:
    with pytest.raises(DiagnosticError, match="cannot read config file"):
        load_config("/nonexistent/config.yaml")


def test_a_misspelt_setting_gets_did_you_mean() -> None:
    from policy_engine.errors import DiagnosticError
    from policy_engine.webhook.config import parse_config

    with pytest.raises(DiagnosticError) as caught:
        parse_config("reload_interval_second: 5\ninherit_label: [team]\n", "webhook.yaml")
    found = [(d.span.line, d.message, d.hint) for d in caught.value.diagnostics]
    assert found == [(1, "reload_interval_second: unknown setting", "did you mean 'reload_interval_seconds'?"),
                     (2, "inherit_label: unknown setting", "did you mean 'inherit_labels'?")]
