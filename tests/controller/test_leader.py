"""Two ``policy-engine controller`` processes against the fake API server: only the Lease holder audits and
writes; kill it and the standby takes over within the lease duration; a graceful stop hands over at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.fake_apiserver import FakeApiServer

from .scenario import FIXTURES

LEASES = "coordination.k8s.io/v1/leases"
REPORTS = "wgpolicyk8s.io/v1alpha2/policyreports"
LEASE_SECONDS = 3


class Proc:
    def __init__(self, folder: Path, name: str, kubeconfig: Path, settings: Path) -> None:
        self.log = folder / f"{name}.log"
        env = {**os.environ, "POD_NAME": name, "POD_NAMESPACE": "policy-engine"}
        with self.log.open("wb") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "policy_engine.cli.main", "controller", "--kubeconfig", str(kubeconfig),
                 "--config", str(settings), "--policies", str(FIXTURES / "policies")],
                stdout=subprocess.DEVNULL, stderr=log, env=env)
        self.identity = f"{name}_{self.process.pid}"

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def audits(self) -> int:
        return sum(1 for r in self.lines() if r.get("event") == "audit")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def wait_for(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def setup(apiserver: FakeApiServer, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": apiserver.url}}],
        "users": [{"name": "fake", "user": {"token": "unused"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}))
    settings = tmp_path / "settings.yaml"
    settings.write_text(yaml.safe_dump({
        "interval_seconds": 0.5, "debounce_seconds": 0, "listen": "127.0.0.1:0",
        "leader_election": {"lease_duration_seconds": LEASE_SECONDS, "renew_deadline_seconds": 2,
                            "retry_period_seconds": 0.25, "namespace": "policy-engine"}}))
    yield kubeconfig, settings


def holder(apiserver: FakeApiServer) -> str:
    lease = apiserver.get(LEASES, "policy-engine", "policy-engine-controller")
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def test_only_the_leader_acts_and_the_standby_takes_over(apiserver: FakeApiServer, setup: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    kubeconfig, settings = setup
    a = Proc(tmp_path, "controller-a", kubeconfig, settings)
    b = Proc(tmp_path, "controller-b", kubeconfig, settings)
    try:
        wait_for(lambda: holder(apiserver) in (a.identity, b.identity), "a leader")
        leader, standby = (a, b) if holder(apiserver) == a.identity else (b, a)
        wait_for(lambda: leader.audits() >= 2, "the leader's audits")
        wait_for(lambda: any(r.get("event") == "cache_list" for r in standby.lines()), "the standby's cache")
        time.sleep(1.0)
        assert standby.audits() == 0  # warm cache, no evaluation, no writes
        assert apiserver.get(REPORTS, "ml-vision", "policy-engine-audit") is not None

        killed_at = time.monotonic()
        leader.process.send_signal(signal.SIGKILL)  # no chance to release the lease
        leader.process.wait(10)
        wait_for(lambda: holder(apiserver) == standby.identity, "the standby to take the lease", 15)
        took = time.monotonic() - killed_at
        assert took <= LEASE_SECONDS + 2.0, f"took over after {took:.1f} s"
        wait_for(lambda: standby.audits() >= 1, "the new leader's audit")
        lease = apiserver.get(LEASES, "policy-engine", "policy-engine-controller")
        assert lease is not None and lease["spec"]["leaseTransitions"] >= 1

        # a graceful stop releases the lease: a fresh replica gets it well before the lease would expire
        c = Proc(tmp_path, "controller-c", kubeconfig, settings)
        try:
            wait_for(lambda: any(r.get("event") == "cache_list" for r in c.lines()), "the third replica's cache")
            standby.process.send_signal(signal.SIGTERM)
            assert standby.process.wait(30) == 0
            assert any(r.get("event") == "lease_released" for r in standby.lines())
            wait_for(lambda: holder(apiserver) == c.identity, "the third replica to lead", LEASE_SECONDS)
        finally:
            c.stop()
    finally:
        a.stop()
        b.stop()
