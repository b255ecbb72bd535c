"""Leader election with a ``coordination.k8s.io/v1`` Lease, as client-go's leaderelection package does it.

Every replica runs the same loop every ``retry_period``: read the Lease; if it is free, expired
(``renewTime + leaseDurationSeconds`` passed on *our* clock since we last saw it change) or ours, write it
back with us as holder — a PUT carrying the resourceVersion we read, so of two replicas racing only one
write succeeds (the other gets 409 Conflict). The leader renews; if it cannot renew within
``renew_deadline`` it stops leading at once (before the lease can expire and another replica take over),
so two replicas never both act. A replica shutting down gracefully releases the lease (empty holder),
letting the standby take over at its next retry instead of after a full lease duration.

Expiry is judged by when *this* replica observed the record change (monotonic clock), not by comparing
``renewTime`` with the local wall clock, so clock skew between nodes cannot make two leaders.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from policy_engine.controller.kube import Kube
from policy_engine.controller.settings import LeaderSettings
from policy_engine.jsonlog import FIELDS

LOG = logging.getLogger("policy_engine.controller")
GROUP, VERSION, PLURAL = "coordination.k8s.io", "v1", "leases"


def _micro(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(self, kube: Kube, settings: LeaderSettings, identity: str,
                 on_change: Callable[[bool], None] | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.kube = kube
        self.settings = settings
        self.identity = identity
        self.on_change = on_change
        self.monotonic = monotonic
        self.transitions = 0
        self._leading = threading.Event()
        self._stop = threading.Event()
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0
        self._renewed_at = 0.0
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)

    @property
    def leading(self) -> bool:
        return self._leading.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self, release: bool = True, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if release and self.leading:
            self._release()
        self._set(False)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ok = self.try_acquire_or_renew()
            except (ApiException, HTTPError, OSError, ValueError) as exc:
                ok = False
                LOG.warning(f"lease {self.settings.lease_name}: {type(exc).__name__}: {exc}",
                            extra={FIELDS: {"event": "lease_error"}})
            if ok:
                self._renewed_at = self.monotonic()
                self._set(True)
            elif self.leading and self.monotonic() - self._renewed_at > self.settings.renew_deadline_seconds:
                LOG.error("lost the lease: could not renew within the renew deadline; stopped acting",
                          extra={FIELDS: {"event": "lease_lost", "identity": self.identity}})
                self._set(False)
            self._stop.wait(self.settings.retry_period_seconds)

    def _set(self, leading: bool) -> None:
        if leading == self.leading:
            return
        if leading:
            self._leading.set()
        else:
            self._leading.clear()
        self.transitions += 1
        LOG.info(f"{self.identity} {'is now the leader' if leading else 'is not the leader'}",
                 extra={FIELDS: {"event": "leader" if leading else "standby", "identity": self.identity}})
        if self.on_change is not None:
            self.on_change(leading)

    def try_acquire_or_renew(self) -> bool:
        s = self.settings
        now = datetime.now(UTC)
        lease = self.kube.get_custom(GROUP, VERSION, PLURAL, s.namespace, s.lease_name)
        spec_new = {"holderIdentity": self.identity, "leaseDurationSeconds": round(s.lease_duration_seconds),
                    "renewTime": _micro(now)}
        if lease is None:
            body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Lease",
                    "metadata": {"name": s.lease_name, "namespace": s.namespace},
                    "spec": {**spec_new, "acquireTime": _micro(now), "leaseTransitions": 0}}
            try:
                self.kube.create(GROUP, VERSION, PLURAL, s.namespace, body)
            except ApiException as exc:
                if exc.status == 409:  # another replica created it first
                    return False
                raise
            return True
        spec: dict[str, Any] = lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        record = (holder, str(spec.get("renewTime") or ""))
        if record != self._observed:
            self._observed, self._observed_at = record, self.monotonic()
        duration = float(spec.get("leaseDurationSeconds") or s.lease_duration_seconds)
        expired = self.monotonic() - self._observed_at > duration
        if holder and holder != self.identity and not expired:
            return False
        transitions = int(spec.get("leaseTransitions") or 0)
        if holder != self.identity:
            spec_new["acquireTime"] = _micro(now)
            transitions += 1
        else:
            spec_new["acquireTime"] = spec.get("acquireTime") or _micro(now)
        body = {**lease, "spec": {**spec, **spec_new, "leaseTransitions": transitions}}
        try:
            updated = self.kube.replace(GROUP, VERSION, PLURAL, s.namespace, s.lease_name, body)
        except ApiException as exc:
            if exc.status == 409:  # someone else wrote it since we read it
                return False
            raise
        new_spec = updated.get("spec") or {}
        self._observed = (str(new_spec.get("holderIdentity") or ""), str(new_spec.get("renewTime") or ""))
        self._observed_at = self.monotonic()
        return True

    def _release(self) -> None:
        s = self.settings
        try:
            lease = self.kube.get_custom(GROUP, VERSION, PLURAL, s.namespace, s.lease_name)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            spec = {**lease["spec"], "holderIdentity": "", "leaseDurationSeconds": 1,
                    "renewTime": _micro(datetime.now(UTC))}
            self.kube.replace(GROUP, VERSION, PLURAL, s.namespace, s.lease_name, {**lease, "spec": spec})
            LOG.info("released the lease", extra={FIELDS: {"event": "lease_released", "identity": self.identity}})
        except (ApiException, HTTPError, OSError) as exc:
            LOG.warning(f"could not release the lease: {exc}", extra={FIELDS: {"event": "lease_error"}})
