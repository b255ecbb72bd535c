"""Where alerts go: Alertmanager's v2 API and Slack-compatible chat webhooks, over HTTP with httpx.

Alertmanager gets one alert per (policy, group, period, alert name), active until the period ends, with
labels for routing (``alertname``, ``severity``, ``policy``, ``group``, ``period`` and the grouping label,
e.g. ``team="nlp"``) and annotations carrying the figures and the top workloads. Route and silence them
as any other alert (docs/usage.md). A chat webhook gets a Slack-compatible ``{"text", "blocks"}`` message,
which Slack, Mattermost, Rocket.Chat and Microsoft Teams' Slack-compatible connectors accept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx

from policy_engine.ledger.alerts import Alert, amount
from policy_engine.ledger.db import LedgerError

ALERT_NAMES = {"threshold": "PolicyEngineUsageThreshold", "forecast": "PolicyEngineUsageForecast",
               "anomaly": "PolicyEngineUsageAnomaly"}


class NotifyError(LedgerError):
    """A notifier could not deliver: the alert is retried next cycle."""


def _rfc3339(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _label(name: str) -> str:
    """A Prometheus label name from a Kubernetes label key (``cost-center`` -> ``cost_center``)."""
    clean = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return clean if clean and not clean[0].isdigit() else f"_{clean}"


def _workloads(alert: Alert) -> str:
    return ", ".join(f"{name} ({amount(value, alert.metric)})" for name, value in alert.workloads) or "none"


def period_name(alert: Alert) -> str:
    if alert.period == "month":
        return f"{alert.period_start:%Y-%m}"
    if alert.period == "week":
        return f"week of {alert.period_start:%Y-%m-%d}"
    return f"{alert.period_start:%Y-%m-%d}"


def alertmanager_payload(alert: Alert, generator_url: str = "") -> dict[str, Any]:
    labels = {"alertname": ALERT_NAMES[alert.kind], "severity": alert.severity, "policy": alert.policy,
              "group": alert.group, "group_key": alert.rule, "period": period_name(alert), "alert": alert.name,
              "source": "policy-engine"}
    if alert.label_name:
        labels.setdefault(_label(alert.label_name), alert.key)
    annotations = {
        "summary": alert.summary, "used": amount(alert.used, alert.metric),
        "limit": amount(alert.limit, alert.metric), "forecast": amount(alert.projected, alert.metric),
        "top_workloads": _workloads(alert),
    }
    if alert.forecast_at is not None:
        annotations["forecast_at"] = _rfc3339(alert.forecast_at)
    if alert.trailing_average is not None:
        annotations["trailing_average"] = amount(alert.trailing_average, alert.metric)
    payload: dict[str, Any] = {"labels": labels, "annotations": annotations}
    if alert.ends_at is not None:
        payload["endsAt"] = _rfc3339(alert.ends_at)
    if generator_url:
        payload["generatorURL"] = generator_url
    return payload


def chat_payload(alert: Alert) -> dict[str, Any]:
    icon = {"critical": ":rotating_light:", "warning": ":warning:"}[alert.severity]
    fields = [("Group", alert.group), ("Period", period_name(alert)), ("Used", amount(alert.used, alert.metric)),
              ("Limit", amount(alert.limit, alert.metric)), ("Forecast", amount(alert.projected, alert.metric)),
              ("Top workloads", _workloads(alert))]
    text = f"{icon} {alert.summary} [{alert.policy}]"
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields]},
        ],
    }


class AlertmanagerNotifier:
    """POSTs to ``<url>/api/v2/alerts`` (one or several Alertmanagers of a cluster: give each)."""

    name = "alertmanager"

    def __init__(self, url: str, *, timeout: float = 5.0, generator_url: str = "",
                 client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self.generator_url = generator_url
        self.client = client or httpx.Client(timeout=timeout)

    def send(self, alerts: Sequence[Alert]) -> None:
        body = [alertmanager_payload(a, self.generator_url) for a in alerts]
        try:
            response = self.client.post(self.url, json=body)
        except httpx.HTTPError as exc:
            raise NotifyError(f"{self.url}: {exc}") from exc
        if response.status_code != 200:
            raise NotifyError(f"{self.url}: HTTP {response.status_code}: {response.text[:200]}")


class ChatWebhookNotifier:
    """POSTs a Slack-compatible message per alert to an incoming-webhook URL."""

    name = "chat"

    def __init__(self, url: str, *, timeout: float = 5.0, client: httpx.Client | None = None) -> None:
        self.url = url
        self.client = client or httpx.Client(timeout=timeout)

    def send(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            try:
                response = self.client.post(self.url, json=chat_payload(alert))
            except httpx.HTTPError as exc:
                raise NotifyError(f"chat webhook: {exc}") from exc
            if response.status_code >= 300:
                raise NotifyError(f"chat webhook: HTTP {response.status_code}: {response.text[:200]}")
