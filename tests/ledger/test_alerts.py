"""Budget alerts from the ledger: thresholds, forecast and anomaly, each once per group per period,
delivered to a real Alertmanager (checked through its v2 API) and to a chat webhook receiver."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from policy_engine.engine import Engine, load_engine
from policy_engine.ledger.alerts import Alert, Alerter
from policy_engine.ledger.notify import AlertmanagerNotifier, ChatWebhookNotifier
from policy_engine.ledger.store import Ledger
from policy_engine.ledger.writer import LedgerWriter

from .cluster import HOUR, Cache, SimPod
from .servers import Receiver, alertmanager, receiver

POLICY = Path(__file__).resolve().parents[1] / "fixtures" / "ledger" / "alerts.policy"
# Alertmanager treats an alert whose endsAt has passed on its own clock as resolved: the simulated month is
# next month, so that the alerts (active until the period ends) are active for the real Alertmanager.
_today = datetime.now(UTC)
M0 = datetime(_today.year + _today.month // 12, _today.month % 12 + 1, 1, tzinfo=UTC)


def NOV(day: int, hour: int = 0) -> datetime:
    return M0.replace(day=day, hour=hour)


PODS = [
    # nlp: 4 pods × 8 A100s on-demand from 01:00 on the 1st: $87.83 an hour, $40,000 reached on the 20th
    *(SimPod(f"nlp-train-{i}", "nlp", 8, "gpu-a", M0 + HOUR, None, deleted=False) for i in range(4)),
    # vision: one GPU all month, and a burst of 64 GPUs for 12 hours on the 15th (an anomaly)
    SimPod("vision-serve-0", "vision", 1, "gpu-a", M0 + HOUR, None, deleted=False),
    *(SimPod(f"vision-burst-{i}", "vision", 8, "gpu-a", NOV(15, 6), NOV(15, 18), deleted=False) for i in range(8)),
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Receiver]]:
    with receiver() as rec, alertmanager(tmp_path_factory.mktemp("am"), f"{rec.url}/alertmanager-hook") as am:
        yield am, rec


@pytest.fixture(scope="module")
def engine() -> Engine:
    return load_engine([POLICY])


@pytest.fixture()
def http() -> Iterator[httpx.Client]:
    """The notifiers' HTTP client, closed after the test (its kept-alive connections with it)."""
    with httpx.Client(timeout=5.0) as client:
        yield client


class World:
    def __init__(self, path: Path, engine: Engine, am: str, chat: str, http: httpx.Client) -> None:
        self.ledger = Ledger(path)
        self.cache = Cache(engine.catalog)
        self.now = M0
        self.alerter = Alerter(self.ledger, lambda: engine.policies,
                               [AlertmanagerNotifier(am, client=http), ChatWebhookNotifier(chat, client=http)])
        self.writer = LedgerWriter(self.ledger, self.cache, lambda: engine.policies, lambda: engine.catalog,
                                   clock=lambda: self.now, after_cycle=self._alert)
        self.sent: list[Alert] = []

    def _alert(self, now: datetime) -> None:
        self.sent = self.alerter(now)

    def at(self, now: datetime) -> list[str]:
        self.now = now
        self.cache.list_at(PODS, now)
        self.writer.cycle()
        return [f"{a.group}:{a.name}" for a in self.sent]


def _am_alerts(am: str, **labels: str) -> list[dict[str, Any]]:
    flt = [f'{k}="{v}"' for k, v in labels.items()]
    alerts = httpx.get(f"{am}/api/v2/alerts", params=[("filter", f) for f in flt], timeout=5).json()
    assert isinstance(alerts, list)
    return alerts


def test_thresholds_forecast_and_anomaly_fire_once_each(tmp_path: Path, engine: Engine,
                                                        servers: tuple[str, Receiver], http: httpx.Client) -> None:
    am, rec = servers
    world = World(tmp_path / "l.db", engine, am, f"{rec.url}/chat", http)
    # 23% used, but at $87.83/h the remaining budget is gone around the 20th, before the month ends
    fired = world.at(NOV(5))
    assert fired == ["team nlp:forecast"]
    forecast = world.sent[0]
    assert "team nlp will exceed its $40,000 budget around the 20th" in forecast.summary
    assert forecast.workloads[0][0] == "team-nlp/Job/nlp-train"
    assert world.at(NOV(10)) == []  # once per group per period
    assert world.at(NOV(11)) == ["team nlp:threshold-50"]
    assert world.at(NOV(12)) == []
    # the 15th's burst is 20x vision's daily average: alerted on the 16th, once
    assert world.at(NOV(16)) == [f"team vision:anomaly-{NOV(15):%Y-%m-%d}"]
    assert world.at(NOV(16, 1)) == []
    assert world.at(NOV(17)) == ["team nlp:threshold-80"]
    # a jump past 100% (nothing in between alerted twice), and a restart keeps the memory
    world.ledger.close()
    world = World(tmp_path / "l.db", engine, am, f"{rec.url}/chat", http)
    assert world.at(NOV(20)) == []  # $39,977: not yet
    assert world.at(NOV(21)) == ["team nlp:threshold-100"]
    assert world.at(NOV(22)) == []

    # Alertmanager holds them, with the routing labels and the figures
    nlp = {a["labels"]["alert"]: a for a in _am_alerts(am, team="nlp", policy="team-budget")}
    assert set(nlp) == {"forecast", "threshold-50", "threshold-80", "threshold-100"}
    full = nlp["threshold-100"]
    assert full["labels"]["severity"] == "critical" and full["labels"]["period"] == f"{M0:%Y-%m}"
    assert full["labels"]["alertname"] == "PolicyEngineUsageThreshold"
    assert full["annotations"]["limit"] == "$40,000"
    assert "team-nlp/Job/nlp-train" in full["annotations"]["top_workloads"]
    assert full["endsAt"].startswith(f"{(M0 + 32 * 24 * HOUR).replace(day=1):%Y-%m-%d}")
    assert nlp["forecast"]["annotations"]["forecast_at"].startswith(f"{NOV(20):%Y-%m-%d}")
    vision = _am_alerts(am, team="vision")
    assert [a["labels"]["alertname"] for a in vision] == ["PolicyEngineUsageAnomaly"]
    # ... and the chat webhook got one Slack-compatible message per alert
    texts = [b["text"] for b in rec.posted("/chat")]
    assert len(texts) == 5 and all(t.count("[team-budget]") == 1 for t in texts)
    assert any("around the 20th" in t for t in texts)
    # Alertmanager routed them on to its own webhook receiver
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not rec.posted("/alertmanager-hook"):
        time.sleep(0.1)
    assert rec.posted("/alertmanager-hook"), "alertmanager did not route the alerts to its receiver"


def test_a_failed_delivery_is_retried_next_cycle(tmp_path: Path, engine: Engine,
                                                 servers: tuple[str, Receiver], http: httpx.Client) -> None:
    am, _ = servers
    with receiver() as chat:
        world = World(tmp_path / "l.db", engine, am, f"{chat.url}/chat", http)
        chat.fail = True
        assert world.at(NOV(11)) == []  # the chat webhook answered 500: nothing remembered
        assert world.ledger.fired_alerts() == []
        chat.fail = False
        assert sorted(world.at(NOV(11, 1))) == ["team nlp:forecast", "team nlp:threshold-50"]
        assert len(chat.posted("/chat")) == 2
        assert world.at(NOV(11, 2)) == []
