"""The ledger's settings (the controller's ``ledger:`` section) and the writer they build.

```yaml
ledger:
  path: /var/lib/policy-engine/ledger.db   # on a PersistentVolume; unset: no ledger
  interval_seconds: 30                     # one cycle (one transaction) this often
  retention_days: 100
  alerts:
    alertmanager_urls: [http://alertmanager-operated.monitoring:9093]
    chat_webhook_url_file: /etc/policy-engine/chat-webhook-url   # a Secret mounted as a file
    timeout_seconds: 5
```
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from policy_engine.compiler.program import PolicySet
from policy_engine.ledger.alerts import Alerter, Notifier
from policy_engine.ledger.store import Ledger
from policy_engine.ledger.writer import CacheSource, LedgerWriter
from policy_engine.pricing.catalog import Catalog


class AlertSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alertmanager_urls: tuple[str, ...] = ()
    chat_webhook_url: str | None = None
    """A Slack-compatible incoming webhook. Prefer ``chat_webhook_url_file`` (the URL is a secret)."""
    chat_webhook_url_file: str | None = None
    timeout_seconds: float = Field(default=5.0, gt=0)
    top_workloads: int = Field(default=5, ge=0)

    @field_validator("alertmanager_urls")
    @classmethod
    def _http(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return value

    def notifiers(self) -> list[Notifier]:
        from policy_engine.ledger.notify import AlertmanagerNotifier, ChatWebhookNotifier

        out: list[Notifier] = [AlertmanagerNotifier(u, timeout=self.timeout_seconds) for u in self.alertmanager_urls]
        chat = self.chat_webhook_url
        if self.chat_webhook_url_file:
            chat = Path(self.chat_webhook_url_file).read_text().strip()
        if chat:
            out.append(ChatWebhookNotifier(chat, timeout=self.timeout_seconds))
        return out


class LedgerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    """The ledger file; unset: the controller keeps no ledger (and sends no budget alerts)."""
    interval_seconds: float = Field(default=30.0, gt=0)
    retention_days: float = Field(default=100.0, gt=0)
    alerts: AlertSettings = Field(default_factory=AlertSettings)


def build_writer(settings: LedgerSettings, cluster_state: Any, policies: Callable[[], PolicySet],
                 catalog: Callable[[], Catalog], *, clock: Callable[[], datetime] | None = None,
                 should_write: Callable[[], bool] | None = None) -> LedgerWriter | None:
    """The writer the controller runs (None without ``path``): fed by its cluster-state cache, alerting
    after each cycle when notifiers are configured. Start it with ``writer.start(settings.interval_seconds)``."""
    if not settings.path:
        return None
    ledger = Ledger(settings.path)
    notifiers = settings.alerts.notifiers()
    alerter = Alerter(ledger, policies, notifiers, top=settings.alerts.top_workloads) if notifiers else None
    return LedgerWriter(ledger, CacheSource(cluster_state), policies, catalog, clock=clock,
                        retention=timedelta(days=settings.retention_days), after_cycle=alerter,
                        should_write=should_write)
