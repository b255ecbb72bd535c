"""``Controller``: the long-running process around the audit — cycles, leadership, health, shutdown.

Every replica keeps the inventory warm (list+watch). Only the replica holding the Lease audits, writes
reports and acts; a standby takes over within the lease duration (or at once, when the leader releases
the lease on a graceful shutdown). A cycle runs every ``interval_seconds`` and, after a change in the
cluster, once the cluster has been quiet for ``debounce_seconds``. SIGTERM finishes the cycle in flight,
releases the lease and stops the watches. ``/healthz`` answers while the loop is alive, ``/readyz`` once
the inventory has synced, ``/metrics`` in the Prometheus text format.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from policy_engine.cluster import ClusterState, Timing
from policy_engine.controller import actual, reports
from policy_engine.controller import audit as audit_mod
from policy_engine.controller.inventory import Inventory
from policy_engine.controller.kinds import workload_resources
from policy_engine.controller.kube import Kube
from policy_engine.controller.leader import LeaderElector
from policy_engine.controller.metrics import Metrics
from policy_engine.controller.settings import ControllerSettings
from policy_engine.controller.shutdown import Record, Shutdown
from policy_engine.controller.spend import spend
from policy_engine.controller.telemetry import GpuTelemetry, Telemetry
from policy_engine.engine import Engine
from policy_engine.engine.aggregate import period_bounds
from policy_engine.engine.findings import ResourceRef
from policy_engine.jsonlog import FIELDS
from policy_engine.ledger.db import LedgerError
from policy_engine.ledger.prometheus import mean_utilisation
from policy_engine.ledger.settings import build_writer
from policy_engine.prometheus import PrometheusError

LOG = logging.getLogger("policy_engine.controller")
Clock = Callable[[], datetime]


def identity() -> str:
    """This replica's name in the Lease: the pod name (downward API) or host, and the process id."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{os.getpid()}"


class Controller:
    def __init__(self, settings: ControllerSettings, engine: Engine, api: client.ApiClient, *, act: bool = False,
                 clock: Clock | None = None, timing: Timing | None = None, name: str | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.api = api
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.identity = name or identity()
        self.metrics = Metrics()
        self.kube = Kube(api)
        timing = timing or Timing()

        def state(pod_observer: Any) -> ClusterState:
            return ClusterState(api, catalog=engine.catalog, inherit_labels=settings.inherit_labels,
                                authoritative_labels=settings.authoritative_labels, timing=timing,
                                clock=self.clock, pod_observer=pod_observer)

        self.inventory = Inventory(api, state, workload_resources(), timing)
        # the usage ledger (docs/usage.md): written from the same cache, by the leader only
        self.ledger = build_writer(settings.ledger, self.inventory.state, lambda: self.engine.policies,
                                   lambda: self.engine.catalog, clock=self.clock, should_write=lambda: self.leading)
        self.prometheus = GpuTelemetry(settings.prometheus)
        # the serving engines' counters for unit costs: the same Prometheus client, needed only with a ledger
        self.serving = self.prometheus.client if settings.prometheus.url and self.ledger else None
        self.writer = reports.ReportWriter(self.kube, settings.reports.name, settings.reports.api)
        self.shutdown = Shutdown(self.kube, act=act or settings.idle.act,
                                 max_actions=settings.idle.max_actions_per_cycle,
                                 notify_url=settings.idle.notify_url, identity=self.identity,
                                 require_expiry=settings.require_exemption_expiry,
                                 max_days=settings.exemption_max_days, metrics=self.metrics)
        self.elector: LeaderElector | None = None
        if settings.leader_election.enabled:
            self.elector = LeaderElector(self.kube, settings.leader_election, self.identity,
                                         on_change=self._leadership)
        self.last_audit: audit_mod.Audit | None = None
        self._utilisation: tuple[float, datetime, dict[tuple[str, str], float]] | None = None  # (at, month, mean)
        self.last_actions: list[Record] = []
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._http: ThreadingHTTPServer | None = None
        self._loop = threading.Thread(target=self._run, name="controller", daemon=True)
        self._alive_at = time.monotonic()

    # -- lifecycle ----------------------------------------------------------------------------------------

    @property
    def leading(self) -> bool:
        return self.elector.leading if self.elector is not None else True

    def start(self, serve_http: bool = True) -> None:
        self.inventory.start()
        if serve_http:
            self._serve()
        if self.elector is not None:
            self.elector.start()
        else:
            self.metrics.leader.set(1)
        if self.ledger is not None:
            self.ledger.start(self.settings.ledger.interval_seconds)
        self._loop.start()
        LOG.info("controller started", extra={FIELDS: {"event": "started", "identity": self.identity,
                                                       "act": self.shutdown.act}})

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful: let the cycle in flight finish, release the lease, stop watching."""
        self._stop.set()
        self._wake.set()
        if self._loop.is_alive():
            self._loop.join(timeout)
        if self.ledger is not None:  # the cycle in flight commits or rolls back whole
            self.ledger.stop(timeout)
        if self.elector is not None:
            self.elector.stop(release=True)
        self.inventory.stop()
        self.prometheus.close()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        LOG.info("controller stopped", extra={FIELDS: {"event": "stopped", "identity": self.identity}})

    def wait(self) -> None:
        while self._loop.is_alive():
            self._loop.join(0.5)

    def _leadership(self, leading: bool) -> None:
        self.metrics.leader.set(1 if leading else 0)
        if leading:
            self._wake.set()  # audit at once on taking over

    # -- the loop -----------------------------------------------------------------------------------------

    def _run(self) -> None:
        s = self.settings
        next_full = 0.0
        while not self._stop.is_set():
            self._alive_at = time.monotonic()
            synced = self.inventory.synced
            self.metrics.synced.set(1 if synced else 0)
            if synced and self.leading:
                changed = self.inventory.changed.is_set()
                if time.monotonic() >= next_full or changed:
                    if changed and time.monotonic() < next_full:
                        self._stop.wait(s.debounce_seconds)  # let a burst of changes settle
                    self.inventory.changed.clear()
                    self.cycle()
                    next_full = time.monotonic() + s.interval_seconds
            self._wake.wait(min(1.0, max(next_full - time.monotonic(), 0.05)))
            self._wake.clear()

    def cycle(self) -> audit_mod.Audit | None:
        """One audit: evaluate, write reports, act. Only the leader calls it (tests call it directly)."""
        started = time.perf_counter()
        now = self.clock()
        try:
            self.inventory.probe()  # a CRD installed since the last cycle is watched from now on
            result = audit_mod.run_as_set(self.engine, self.inventory, self.settings, now=now,
                                          telemetry=self._telemetry(now))
            self.metrics.observe(result)
            self.observe_spend(now)
            if not self.leading:  # lost the lease while evaluating: write nothing
                return result
            if self.settings.reports.enabled:
                self.writer.write(reports.build(result, self.settings.reports.name, self.settings.reports.api,
                                                self.settings.reports.max_results, self._actuals(result, now)))
            self.last_actions = self.shutdown.run(result, now)
            self.last_audit = result
            self.metrics.cycles.labels("ok").inc()
            LOG.info("audit cycle", extra={FIELDS: {"event": "audit", **audit_mod.describe(result),
                                                    "actions": len(self.last_actions),
                                                    "report_writes": self.writer.writes}})
            return result
        except (ApiException, HTTPError, OSError) as exc:
            self.metrics.cycles.labels("error").inc()
            LOG.error(f"audit cycle failed: {type(exc).__name__}: {exc}", extra={FIELDS: {"event": "audit_error"}})
            return None
        finally:
            self.metrics.cycle.observe(time.perf_counter() - started)

    def _actuals(self, audit: audit_mod.Audit, now: datetime) -> dict[tuple[str, str, str], dict[str, str]] | None:
        """Each workload's actual spend this period from the ledger, split by utilisation (controller/actual.py);
        None without a ledger or before its first cycle. A failure leaves the figures out, never the reports."""
        if self.ledger is None or self.ledger.last is None:
            return None
        utilisation = None
        start = period_bounds(actual.PERIOD, now)[0]
        if self.settings.prometheus.url:
            cached = self._utilisation
            if cached is not None and cached[1] == start and time.monotonic() - cached[0] < actual.UTILISATION_TTL:
                utilisation = cached[2]
            else:  # a month of DCGM samples per GPU is a heavy query: once per UTILISATION_TTL at most
                try:
                    utilisation = mean_utilisation(self.prometheus.client, start, now,
                                                   self.settings.prometheus.step_seconds)
                    self._utilisation = (time.monotonic(), start, utilisation)
                except PrometheusError as exc:
                    LOG.warning(f"actual cost not split by utilisation: {exc}", extra={FIELDS: {"event": "actuals"}})
        try:
            workloads = {ResourceRef.of(w): w for w in audit.result.workloads}
            return actual.report_properties(self.ledger.ledger, self.inventory, audit.entries, workloads, now,
                                            utilisation)
        except (LedgerError, sqlite3.Error) as exc:
            LOG.warning(f"actual cost left out of the reports: {exc}", extra={FIELDS: {"event": "actuals"}})
            return None

    def _telemetry(self, now: datetime) -> Callable[[float], Telemetry]:
        return lambda window: self.prometheus.fetch(window, now.timestamp())

    # -- health and metrics -------------------------------------------------------------------------------

    def _serve(self) -> None:
        host, _, port = self.settings.listen.rpartition(":")
        controller = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/healthz":
                    ok = controller._loop.is_alive() or not controller._stop.is_set()
                    self._send(200 if ok else 503, b"ok\n" if ok else b"loop stopped\n")
                elif path == "/readyz":
                    ok = controller.inventory.synced
                    self._send(200 if ok else 503, b"ok\n" if ok else b"cache not synced\n")
                elif path == "/metrics":
                    self._send(200, controller.metrics.exposition(), "text/plain; version=0.0.4")
                else:
                    self._send(404, b"not found\n")

            def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._http = ThreadingHTTPServer((host.strip("[]") or "0.0.0.0", int(port)), Handler)
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, name="controller-http", daemon=True).start()

    @property
    def http_port(self) -> int | None:
        return self._http.server_address[1] if self._http is not None else None

    # -- from the ledger ----------------------------------------------------------------------------------

    def observe_spend(self, now: datetime) -> None:
        """Budget burn and unit costs from the ledger into the metrics (controller/spend.py); a ledger that
        cannot be read leaves the last figures and is logged, never fails the cycle."""
        if self.ledger is None:
            return
        try:
            figures = spend(self.ledger.ledger, self.engine.policies, now, self.serving)
        except (LedgerError, sqlite3.Error) as exc:
            LOG.warning(f"budget and unit-cost metrics not updated: {exc}", extra={FIELDS: {"event": "spend"}})
            return
        if figures.units.error:
            LOG.warning(figures.units.error, extra={FIELDS: {"event": "spend"}})
        self.metrics.observe_spend(figures)
