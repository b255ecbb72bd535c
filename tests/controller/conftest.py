"""One real Prometheus per test module (over backfilled DCGM blocks) and a fake API server per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.fake_apiserver import FakeApiServer, running
from tests.prometheus_server import PrometheusServer, binaries, prometheus_over

from .scenario import cluster, openmetrics


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusServer]:
    if binaries() is None:
        pytest.skip("prometheus and promtool are not installed (Debian package `prometheus`; .ci/run installs it)")
    with prometheus_over(openmetrics()) as server:
        yield server


@pytest.fixture
def apiserver() -> Iterator[FakeApiServer]:
    with running() as srv:
        for resource, items in cluster().items():
            srv.load(resource, items)
        yield srv
