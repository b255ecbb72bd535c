"""The ledger's writer: every cycle, what the cluster-state cache holds goes into the ledger in one transaction.

The cache (list+watch of pods, nodes and namespaces) already knows every GPU pod's lifetime, node price
and group keys; the writer copies the records that changed since the last cycle. The first cycle after
a start writes every record and, once the cache has synced, closes pods the ledger still thinks are
running but the cluster no longer has (they went while no writer watched). A cycle killed half-way
commits nothing; the next one writes it again: the ledger is keyed by pod uid, so nothing counts twice.
After the cycle, alerting (``policy_engine.ledger.alerts``) runs over the fresh figures.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from policy_engine.compiler.program import PolicySet
from policy_engine.ledger.observe import LedgerRule, Observation, PodLike, ledger_rules, observe
from policy_engine.ledger.store import Ledger
from policy_engine.pricing.catalog import Catalog

LOG = logging.getLogger("policy_engine.ledger")
DEFAULT_RETENTION = timedelta(days=100)  # three months and a bit: the anomaly baseline and last month's report


class PodSource(Protocol):
    """The cluster-state cache as the writer reads it."""

    @property
    def synced(self) -> bool: ...

    def pod_records(self) -> Sequence[PodLike]: ...


@dataclass(frozen=True, slots=True)
class CacheSource:
    """Adapts the cluster-state cache (``ClusterState``: ``synced`` and a ``store`` of pod records)."""

    state: Any

    @property
    def synced(self) -> bool:
        return bool(self.state.synced)

    def pod_records(self) -> Sequence[PodLike]:
        records: Sequence[PodLike] = self.state.store.records()
        return records


@dataclass(frozen=True, slots=True)
class CycleStats:
    at: datetime
    written: int
    pods: int
    complete: bool


class LedgerWriter:
    def __init__(self, ledger: Ledger, source: PodSource, policies: Callable[[], PolicySet],
                 catalog: Callable[[], Catalog], clock: Callable[[], datetime] | None = None,
                 retention: timedelta = DEFAULT_RETENTION,
                 after_cycle: Callable[[datetime], object] | None = None,
                 should_write: Callable[[], bool] | None = None) -> None:
        self.ledger = ledger
        self.source = source
        self.policies = policies
        self.catalog = catalog
        self.clock = clock or (lambda: datetime.now(UTC))
        self.retention = retention
        self.after_cycle = after_cycle
        self.should_write = should_write or (lambda: True)  # the controller's leader election: one writer
        self.cycles = 0
        self.last: CycleStats | None = None
        self._written: dict[str, tuple[object, datetime | None, float | None, str | None]] = {}
        self._rules: list[LedgerRule] = []
        self._policy_set: PolicySet | None = None
        self._closed_missing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def cycle(self) -> CycleStats | None:
        """One cycle; None when this process must not write (not the leader): it forgets what it wrote, so
        that when it leads again its first cycle writes everything and closes what went meanwhile."""
        if not self.should_write():
            self._written.clear()
            self._closed_missing = False
            return None
        now = self.clock()
        policy_set = self.policies()
        if policy_set is not self._policy_set:  # first cycle or a reload: key everything by the new rules
            self._rules = ledger_rules(policy_set)
            self.ledger.sync_rules(self._rules, horizon=now - self.retention)
            self._policy_set = policy_set
            self._written.clear()
        synced = self.source.synced
        records = self.source.pod_records() if synced else ()
        catalog = self.catalog()
        changed: list[Observation] = []
        for r in records:
            marker = (r, r.ended, r.hourly, r.node)
            previous = self._written.get(r.uid)
            if previous is not None and previous[0] is r and previous[1:] == marker[1:]:
                continue
            changed.append(observe(r, catalog, self._rules))
            self._written[r.uid] = marker
        complete = synced and not self._closed_missing
        written = self.ledger.record(changed, now, complete=complete) if (changed or complete) else 0
        if complete:
            self._closed_missing = True
            self.ledger.prune(now - self.retention)
        live = {r.uid for r in records}
        for uid in [u for u in self._written if u not in live]:
            del self._written[uid]
        if self.after_cycle is not None and synced:
            try:
                self.after_cycle(now)
            except Exception:  # alerting must not stop the ledger
                LOG.exception("alerting after a ledger cycle failed")
        self.cycles += 1
        self.last = CycleStats(now, written, len(records), complete)
        return self.last

    # -- running in the background ------------------------------------------------------------------------

    def start(self, interval: float = 30.0) -> None:
        self._thread = threading.Thread(target=self._run, args=(interval,), name="ledger-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.ledger.close()

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                self.cycle()
            except Exception:
                LOG.exception("ledger cycle failed; retrying next cycle")
            self._stop.wait(interval)
