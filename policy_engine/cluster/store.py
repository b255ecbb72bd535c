"""The cache's memory: namespace labels, node labels and GPU pod records, kept consistent under one lock.

Reflector threads feed it whole lists (``replace``) and watch events (``apply``); admission requests read
it (``namespace_labels``, ``records``). A namespace or node that changes re-derives the pods that depend
on it (inherited labels, price). A pod that disappears is not forgotten: its record is closed at the time
it went and kept until every period it ran in has passed, because "used this period" must still count it;
its last object is kept with it, so a namespace or node that changes later re-derives ended pods too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from policy_engine.cluster.pods import PodRecord, build_record, price_record
from policy_engine.pricing.catalog import Catalog

NAMESPACES, NODES, PODS = "namespaces", "nodes", "pods"


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    raw = (obj.get("metadata") or {}).get("labels")
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _uid(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")


class Store:
    def __init__(self, catalog: Catalog, inherit_keys: Sequence[str]) -> None:
        self.lock = threading.RLock()
        self.catalog = catalog
        self.inherit_keys = tuple(inherit_keys)
        self.namespaces: dict[str, dict[str, str]] = {}
        self.nodes: dict[str, dict[str, str]] = {}
        self.pods: dict[str, PodRecord] = {}  # uid -> record, live and ended; record.source re-derives it
        self.generation = 0  # bumped on every change that can move usage

    # -- writes (reflector threads) ---------------------------------------------------------------------

    def replace(self, resource: str, objects: Iterable[dict[str, Any]], now: datetime) -> None:
        """A full list: the new truth. Pods missing from it went while we were not watching: closed now."""
        with self.lock:
            if resource == NAMESPACES:
                fresh = {_name(o): _labels(o) for o in objects}
                changed = {n for n in fresh.keys() | self.namespaces.keys()
                           if fresh.get(n) != self.namespaces.get(n)}
                self.namespaces = fresh
                self._rederive(lambda r: r.namespace in changed, now)
            elif resource == NODES:
                fresh = {_name(o): _labels(o) for o in objects}
                changed = {n for n in fresh.keys() | self.nodes.keys() if fresh.get(n) != self.nodes.get(n)}
                self.nodes = fresh
                self._rederive(lambda r: r.node in changed, now)
            else:
                seen = set()
                for obj in objects:
                    seen.add(_uid(obj))
                    self._put_pod(obj, now)
                for uid in [u for u, r in self.pods.items() if r.ended is None and u not in seen]:
                    self._end_pod(uid, now)
            self.generation += 1

    def apply(self, resource: str, event: str, obj: dict[str, Any], now: datetime) -> None:
        """One ADDED / MODIFIED / DELETED watch event."""
        with self.lock:
            name = _name(obj)
            if resource == NAMESPACES:
                labels = None if event == "DELETED" else _labels(obj)
                if labels != self.namespaces.get(name):
                    self._set(self.namespaces, name, labels)
                    self._rederive(lambda r: r.namespace == name, now)
            elif resource == NODES:
                labels = None if event == "DELETED" else _labels(obj)
                if labels != self.nodes.get(name):
                    self._set(self.nodes, name, labels)
                    self._rederive(lambda r: r.node == name, now)
            elif event == "DELETED":
                self._put_pod(obj, now)
                self._end_pod(_uid(obj), now)
            else:
                self._put_pod(obj, now)
            self.generation += 1

    def reprice(self, catalog: Catalog, chunk: int = 200) -> int:
        """Price every pod again with a new catalog (a reload changed ``--pricing``); returns how many.

        Pods are repriced a chunk at a time so that an admission request reading usage waits for one chunk
        (a few milliseconds), not the whole cluster. Pods arriving meanwhile are priced with the new
        catalog already.
        """
        with self.lock:
            self.catalog = catalog
            records = list(self.pods.values())
        for start in range(0, len(records), chunk):
            with self.lock:
                for record in records[start : start + chunk]:
                    price_record(record, self.nodes.get(record.node) if record.node else None, catalog)
                self.generation += 1
        return len(records)

    def prune(self, before: datetime) -> int:
        """Forget pods that ended before ``before`` (the oldest current period start); returns how many."""
        with self.lock:
            old = [u for u, r in self.pods.items() if r.ended is not None and r.ended < before]
            for uid in old:
                del self.pods[uid]
            if old:
                self.generation += 1
            return len(old)

    @staticmethod
    def _set(table: dict[str, dict[str, str]], name: str, labels: dict[str, str] | None) -> None:
        if labels is None:
            table.pop(name, None)
        else:
            table[name] = labels

    def _put_pod(self, obj: dict[str, Any], now: datetime) -> None:
        uid = _uid(obj)
        ns = str((obj.get("metadata") or {}).get("namespace") or "")
        record = build_record(obj, self.namespaces.get(ns), self.inherit_keys, now, catalog=self.catalog)
        if record is None:  # not (or no longer) a GPU pod
            self.pods.pop(uid, None)
            return
        previous = self.pods.get(uid)
        if previous is not None and previous.ended is not None and record.ended is None:
            record.ended = previous.ended  # a late MODIFIED after we saw it go does not revive it
        price_record(record, self.nodes.get(record.node) if record.node else None, self.catalog)
        self.pods[uid] = record

    def _end_pod(self, uid: str, now: datetime) -> None:
        record = self.pods.get(uid)
        if record is not None and record.ended is None:
            record.ended = now

    def _rederive(self, affected: Callable[[PodRecord], bool], now: datetime) -> None:
        for record in list(self.pods.values()):
            if affected(record):
                self._put_pod(record.source, now)

    # -- reads (admission requests) ----------------------------------------------------------------------

    def namespace_labels(self, name: str) -> dict[str, str] | None:
        with self.lock:
            labels = self.namespaces.get(name)
            return dict(labels) if labels is not None else None

    def records(self) -> list[PodRecord]:
        with self.lock:
            return list(self.pods.values())
