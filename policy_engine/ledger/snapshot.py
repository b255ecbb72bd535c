"""The webhook's usage for quota decisions: a snapshot of the ledger (or Prometheus), refreshed in the background.

An admission never waits on a query: ``usage(rule, key)`` is two dictionary lookups in the snapshot the
background thread last built. Every replica reading the same history (one ledger file, or one Prometheus)
builds the same snapshot, so two replicas answer the same request the same way, and a restarted replica
answers from the history, not from what it has seen since it started. A snapshot older than
``max_age`` (the history stopped answering) makes ``usage`` return None: each policy's ``on_error``
failure mode decides, as it does for an unsynced cluster cache.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from policy_engine.compiler.program import AggregateRule, Period, PolicySet
from policy_engine.engine.aggregate import Usage
from policy_engine.ledger.observe import LedgerRule, ledger_rules
from policy_engine.ledger.report import UnknownRule
from policy_engine.ledger.store import Figures, Ledger

LOG = logging.getLogger("policy_engine.ledger")
ZERO = Usage(0.0, 0.0)


class History(Protocol):
    """Where usage per group comes from: the ledger, or Prometheus' kube-state-metrics history."""

    def group_figures(self, rule: LedgerRule, now: datetime) -> Mapping[str, Figures]:
        """Figures per group; raises ``UnknownRule`` when the history cannot group by the rule's key."""
        ...


class LedgerHistory:
    """The ledger file as a history; opened on first use (the writer may not have created it yet)."""

    def __init__(self, ledger: Ledger | Callable[[], Ledger]) -> None:
        self._ledger = ledger if isinstance(ledger, Ledger) else None
        self._open = None if isinstance(ledger, Ledger) else ledger

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            assert self._open is not None
            self._ledger = self._open()
        return self._ledger

    def group_figures(self, rule: LedgerRule, now: datetime) -> Mapping[str, Figures]:
        if not self.ledger.knows(rule.id):
            raise UnknownRule(f"the ledger's writer does not group pods by {rule.id} (it keys by the rules of "
                              f"its own policies: run the controller with the same policies)")
        return self.ledger.group_usage(rule.id, rule.rule.period, now)

    def usage_by(self, dimensions: Sequence[str], period: Period, now: datetime) -> list[Figures]:
        return self.ledger.usage_by(dimensions, period, now)

    def pod_figures(self, period: Period, now: datetime, *, rule: str | None = None,
                    dimensions: Sequence[str] = ()) -> list[tuple[str, str, tuple[str, ...], float, float]]:
        return self.ledger.pod_figures(period, now, rule=rule, dimensions=dimensions)


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: datetime  # the time the figures are for
    built: float  # time.monotonic() when built
    by_rule: Mapping[int, tuple[AggregateRule, Mapping[str, Usage]]]  # id(rule) -> (rule, key -> usage)


def build_snapshot(history: History, policies: PolicySet, now: datetime) -> Snapshot:
    by_rule: dict[int, tuple[AggregateRule, Mapping[str, Usage]]] = {}
    shared: dict[tuple[str, str], Mapping[str, Figures]] = {}  # rules grouping alike share one query
    for r in ledger_rules(policies):
        try:
            figures = shared.get((r.id, r.rule.period.value))
            if figures is None:
                figures = shared[(r.id, r.rule.period.value)] = history.group_figures(r, now)
        except UnknownRule as exc:  # usage stays unknown for this rule: its failure mode decides
            LOG.warning(f"{r.name}: {exc}")
            continue
        metric = r.rule.metric
        by_rule[id(r.rule)] = (r.rule, {k: Usage(f.used(metric), f.running(metric)) for k, f in figures.items()})
    return Snapshot(now, time.monotonic(), by_rule)


class SnapshotUsage:
    """The engine's ``UsageProvider`` from a background-refreshed snapshot of a ``History``."""

    def __init__(self, history: History, policies: Callable[[], PolicySet], *, max_age: float = 300.0,
                 interval: float = 30.0, clock: Callable[[], datetime] | None = None,
                 on_refresh: Callable[[SnapshotUsage], object] | None = None) -> None:
        self.history = history
        self.policies = policies
        self.max_age = max_age
        self.interval = interval
        self.clock = clock or (lambda: datetime.now(UTC))
        self.on_refresh = on_refresh
        self.snapshot: Snapshot | None = None
        self.errors = 0
        self.last_error: str | None = None
        self.attempted = threading.Event()  # the first refresh has run (succeeded or not)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what admission reads (never blocks) ------------------------------------------------------------

    def usage(self, rule: AggregateRule, key: str) -> Usage | None:
        snap = self.snapshot
        if snap is None or time.monotonic() - snap.built > self.max_age:
            return None
        entry = snap.by_rule.get(id(rule))
        if entry is None or entry[0] is not rule:  # policies reloaded since: not known until the next refresh
            return None
        return entry[1].get(key, ZERO)

    @property
    def age(self) -> float | None:
        """Seconds since the snapshot in force was built; None before the first one."""
        snap = self.snapshot
        return None if snap is None else time.monotonic() - snap.built

    @property
    def fresh(self) -> bool:
        age = self.age
        return age is not None and age <= self.max_age

    # -- the background refresh ---------------------------------------------------------------------------

    def refresh(self) -> bool:
        try:
            self.snapshot = build_snapshot(self.history, self.policies(), self.clock())
        except Exception as exc:  # a history that fails keeps the last snapshot until it is too old
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            LOG.warning(f"usage snapshot refresh failed ({self.last_error}); keeping the last one")
            return False
        finally:
            self.attempted.set()
            if self.on_refresh is not None:
                self.on_refresh(self)
        return True

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="usage-snapshot", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Refresh now rather than at the next interval (policies were reloaded: their rules are new)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self.refresh()
            self._wake.wait(self.interval)


class UsageView:
    """The webhook's cluster view with quota usage read from the snapshot; namespace labels (inheritance)
    still come from the cluster-state cache when there is one."""

    def __init__(self, usage: SnapshotUsage, cluster: object | None = None) -> None:
        self.snapshot_usage = usage
        self.cluster = cluster

    @property
    def synced(self) -> bool:
        """Ready once the cache (if any) has synced and the first snapshot refresh has run: from then on a
        missing or stale snapshot is each policy's failure mode, not a reason to take the replica out."""
        return bool(getattr(self.cluster, "synced", True)) and self.snapshot_usage.attempted.is_set()

    def namespace_labels(self, namespace: str) -> Mapping[str, str] | None:
        read = getattr(self.cluster, "namespace_labels", None)
        return read(namespace) if callable(read) else None

    def usage(self, rule: AggregateRule, key: str) -> Usage | None:
        return self.snapshot_usage.usage(rule, key)

    def start(self) -> None:
        start = getattr(self.cluster, "start", None)
        if callable(start):
            start()
        self.snapshot_usage.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.snapshot_usage.stop(timeout)
        stop = getattr(self.cluster, "stop", None)
        if callable(stop):
            stop(timeout)

    def set_catalog(self, catalog: object) -> int:
        """A policy reload took effect: reprice the cache's pods (if any) and rebuild the snapshot for the
        new rules now (until then their usage is unknown)."""
        self.snapshot_usage.wake()
        reprice = getattr(self.cluster, "set_catalog", None)
        return int(reprice(catalog)) if callable(reprice) else 0

    def __getattr__(self, name: str) -> object:  # sync_info: the cache's, when there is one
        if name == "sync_info" and self.cluster is not None:
            return getattr(self.cluster, name)
        raise AttributeError(name)
