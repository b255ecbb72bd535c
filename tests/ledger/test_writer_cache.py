"""The ledger writer fed by the real cluster-state cache (list+watch over the local server that speaks the
API's wire format): pods added and deleted through watch events end up in the ledger, deleted ones still
counted; a writer that is not the leader writes nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from policy_engine.cluster import ClusterState, Timing
from policy_engine.compiler.program import Period
from policy_engine.ledger.observe import ledger_rules
from policy_engine.ledger.store import Ledger
from policy_engine.ledger.writer import CacheSource, LedgerWriter
from tests.cluster.fake_apiserver import FakeApiServer, running

from .cluster import HOUR, NODES, T0, SimPod, engine

FAST = Timing(watch_timeout_seconds=60, resync_seconds=3600, backoff_initial=0.05, backoff_max=0.2)


def _wait(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 15
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with running() as srv:
        srv.load("namespaces", [{"metadata": {"name": "team-nlp", "labels": {"team": "nlp"}}}])
        srv.load("nodes", NODES)
        srv.load("pods", [])
        yield srv


def test_watch_events_reach_the_ledger(server: FakeApiServer, tmp_path: Path) -> None:
    e = engine()
    clock = {"now": T0 + 2 * HOUR}
    state = ClusterState.from_configuration(client.Configuration(host=server.url), timing=FAST,
                                            catalog=e.catalog, clock=lambda: clock["now"])
    state.start()
    leading = {"yes": True}
    try:
        with Ledger(tmp_path / "l.db") as ledger:
            writer = LedgerWriter(ledger, CacheSource(state), lambda: e.policies, lambda: e.catalog,
                                  clock=lambda: clock["now"], should_write=lambda: leading["yes"])
            _wait(lambda: state.synced, "the cache to sync")
            a = SimPod("a-0", "nlp", 4, "gpu-a", T0, None, deleted=False)
            b = SimPod("b-0", "nlp", 2, "gpu-b", T0 + HOUR, None, deleted=False)
            for p in (a, b):
                server.apply("pods", "ADDED", p.obj(clock["now"]))
            _wait(lambda: len(state.store.records()) == 2, "two GPU pods in the cache")
            assert writer.cycle() is not None
            clock["now"] = T0 + 5 * HOUR
            server.apply("pods", "DELETED", b.obj(clock["now"]))  # b is deleted at hour 5
            _wait(lambda: any(r.ended for r in state.store.records()), "the deletion in the cache")
            leading["yes"] = False
            assert writer.cycle() is None  # not the leader: nothing written
            leading["yes"] = True
            assert writer.cycle() is not None
            rule = ledger_rules(e.policies)[0].id
            clock["now"] = T0 + 10 * HOUR
            writer.cycle()
            figures = ledger.group_usage(rule, Period.MONTH, clock["now"])["nlp"]
            assert figures.gpu_hours == pytest.approx(4 * 10 + 2 * 4)  # b's 4 hours stay counted
            assert figures.gpu_rate == 4 and ledger.pods() == 2
    finally:
        state.stop()
