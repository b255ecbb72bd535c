"""What the cluster-state tests share: a clock, a wait, a state against the fake API server."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kubernetes import client

from policy_engine.cluster import ClusterState, Timing
from policy_engine.compiler.program import AggregateRule
from policy_engine.engine import Engine

from .fake_apiserver import FakeApiServer

POLICIES = Path(__file__).resolve().parents[1] / "fixtures" / "cluster" / "policies"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday
FAST = Timing(watch_timeout_seconds=60, resync_seconds=3600, backoff_initial=0.05, backoff_max=0.2)


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


def wait_for(condition: Callable[[], object], what: str, timeout: float = 15.0) -> None:
    """Wait for the reflector threads to catch up (they run concurrently with the test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def make_state(srv: FakeApiServer, clock: Clock, timing: Timing = FAST) -> ClusterState:
    return ClusterState.from_configuration(client.Configuration(host=srv.url), timing=timing, clock=clock)


def rule(engine: Engine, policy: str) -> AggregateRule:
    found = engine.policies.get(policy)
    assert found is not None
    return found.aggregates[0]

