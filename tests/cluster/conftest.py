"""A fake API server loaded with the recorded lists, and a started ClusterState pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from policy_engine.cluster import ClusterState
from policy_engine.engine import Engine, load_engine

from .fake_apiserver import FakeApiServer, fixture, running
from .helpers import POLICIES, Clock, make_state, wait_for


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with running() as srv:
        for resource in ("namespaces", "nodes", "pods"):
            srv.load(resource, fixture(f"{resource}.json")["items"])
        yield srv


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(server: FakeApiServer, clock: Clock) -> Iterator[ClusterState]:
    st = make_state(server, clock)
    st.start()
    wait_for(lambda: st.synced, "the initial lists")
    yield st
    st.stop()


@pytest.fixture(scope="session")
def engine() -> Engine:
    return load_engine([POLICIES])
