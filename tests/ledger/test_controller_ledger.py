"""``policy-engine controller`` writes the ledger: its leader runs the writer over its own cluster cache."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from kubernetes import client

from policy_engine.cluster import Timing
from policy_engine.compiler.program import Period
from policy_engine.controller.runner import Controller
from policy_engine.controller.settings import ControllerSettings, LeaderSettings
from policy_engine.ledger.observe import ledger_rules
from policy_engine.ledger.settings import LedgerSettings
from policy_engine.ledger.store import Ledger
from tests.cluster.fake_apiserver import FakeApiServer, running

from .cluster import HOUR, NODES, POLICIES, T0, SimPod, engine

FAST = Timing(watch_timeout_seconds=60, resync_seconds=3600, backoff_initial=0.05, backoff_max=0.2)
PODS = [SimPod("train-0", "nlp", 8, "gpu-a", T0, None, deleted=False),
        SimPod("eval-0", "vision", 2, "gpu-b", T0 + HOUR, T0 + 3 * HOUR, deleted=False)]
NOW = T0 + 6 * HOUR


@pytest.fixture
def apiserver() -> Iterator[FakeApiServer]:
    with running() as srv:
        srv.load("namespaces", [])
        srv.load("nodes", NODES)
        srv.load("pods", [p.obj(NOW) for p in PODS])
        yield srv


def test_the_controller_keeps_the_ledger(apiserver: FakeApiServer, tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    settings = ControllerSettings(leader_election=LeaderSettings(enabled=False), listen="127.0.0.1:0",
                                  exempt_namespaces=("kube-system",),
                                  ledger=LedgerSettings(path=str(path), interval_seconds=0.2))
    api = client.ApiClient(client.Configuration(host=apiserver.url))
    now: list[datetime] = [NOW]
    controller = Controller(settings, engine(), api, clock=lambda: now[0], timing=FAST, name="test-0")
    assert controller.ledger is not None
    controller.start(serve_http=False)
    try:
        deadline = time.monotonic() + 20
        while controller.ledger.last is None or controller.ledger.last.pods < 2:
            assert time.monotonic() < deadline, "the ledger writer never saw the pods"
            time.sleep(0.05)
    finally:
        controller.stop(timeout=10)
    rule = ledger_rules(engine().policies)[0].id
    with Ledger(path, readonly=True) as ledger:
        figures = ledger.group_usage(rule, Period.MONTH, NOW)
    assert figures["nlp"].gpu_hours == pytest.approx(8 * 6)
    assert figures["vision"].gpu_hours == pytest.approx(2 * 2)


def test_ledger_settings_in_the_controller_file(tmp_path: Path) -> None:
    from policy_engine.controller.settings import load_settings

    f = tmp_path / "controller.yaml"
    f.write_text("ledger:\n  path: /var/lib/policy-engine/ledger.db\n  alerts:\n"
                 "    alertmanager_urls: [http://alertmanager:9093]\n")
    assert load_settings(f).ledger.alerts.alertmanager_urls == ("http://alertmanager:9093",)
    assert POLICIES.exists()
