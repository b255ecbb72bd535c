"""The controller's ``ledger:`` settings build the writer and its notifiers; bad settings are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from policy_engine.ledger.alerts import Alerter
from policy_engine.ledger.notify import AlertmanagerNotifier, ChatWebhookNotifier
from policy_engine.ledger.settings import LedgerSettings, build_writer

from .cluster import Cache, engine


def test_writer_with_alerts_from_settings(tmp_path: Path) -> None:
    e = engine()
    secret = tmp_path / "chat-url"
    secret.write_text("http://127.0.0.1:9/hook\n")
    settings = LedgerSettings.model_validate({"path": str(tmp_path / "l.db"), "alerts": {
        "alertmanager_urls": ["http://127.0.0.1:9093"], "chat_webhook_url_file": str(secret)}})
    writer = build_writer(settings, Cache(e.catalog).store_state(), lambda: e.policies, lambda: e.catalog)
    assert writer is not None and isinstance(writer.after_cycle, Alerter)
    kinds = [type(n) for n in writer.after_cycle.notifiers]
    assert kinds == [AlertmanagerNotifier, ChatWebhookNotifier]
    assert writer.after_cycle.notifiers[1].url == "http://127.0.0.1:9/hook"  # type: ignore[attr-defined]
    assert build_writer(LedgerSettings(), None, lambda: e.policies, lambda: e.catalog) is None


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="not an http"):
        LedgerSettings.model_validate({"alerts": {"alertmanager_urls": ["alertmanager:9093"]}})
    with pytest.raises(ValidationError, match="Extra inputs"):
        LedgerSettings.model_validate({"pth": "/x"})
    with pytest.raises(ValidationError):
        LedgerSettings.model_validate({"interval_seconds": 0})
