"""List then watch one resource with the official kubernetes client, on a thread, forever (until stop).

The loop client-go's reflector runs, in Python:
- list (paged with ``limit``/``continue``) and hand the whole set to the store; remember the list's
  ``resourceVersion``;
- watch from that resourceVersion with bookmarks on; every event and every BOOKMARK moves the remembered
  resourceVersion forward;
- a stream that ends (the server's ``timeoutSeconds``, a dropped connection) → watch again from the last
  resourceVersion: nothing is missed and nothing is listed again;
- ``410 Gone`` (an ERROR event with code 410, or the HTTP status) → the history we would resume from is
  compacted away: list again;
- any other error → wait with capped exponential backoff and jitter, then retry the step that failed;
- every ``resync_seconds`` → list again anyway, to repair anything a bug or a lost event left behind.
Objects stay plain dicts (the JSON the server sent): building client model objects for every pod is
slow, and the cache reads a handful of fields.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from policy_engine.jsonlog import FIELDS

GONE = 410
LOG = logging.getLogger("policy_engine.cluster")
Handler = Callable[[str, dict[str, Any]], None]
Replacer = Callable[[list[dict[str, Any]]], None]


class RawWatch(watch.Watch):
    """A Watch that yields the server's JSON objects as dicts.

    With no return type the client skips building model objects. (Its ``deserialize=False`` switch
    would too, but then an ERROR event raises a KeyError instead of the ApiException we need for 410.)
    """

    def get_return_type(self, func: Callable[..., Any]) -> None:
        return None


@dataclass(slots=True)
class ReflectorStats:
    synced: bool = False  # the first list is done
    lists: int = 0
    relists: int = 0  # lists after the first: 410 Gone, resync, or recovery from a failed list
    gone: int = 0  # 410 answers seen
    watch_restarts: int = 0  # watches opened again from the last resourceVersion
    events: int = 0
    bookmarks: int = 0
    errors: int = 0
    last_list: datetime | None = None
    last_event: datetime | None = None
    last_error: str | None = None
    resource_version: str | None = None


@dataclass(frozen=True, slots=True)
class Timing:
    watch_timeout_seconds: int = 300  # asked of the server; it ends the stream then (jittered ±10%)
    resync_seconds: float = 1800.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    page_size: int = 500
    connect_timeout: float = 10.0


class Reflector:
    def __init__(self, resource: str, list_func: Callable[..., Any], replace: Replacer, handle: Handler,
                 timing: Timing, clock: Callable[[], float] = time.monotonic) -> None:
        self.resource = resource
        self.list_func = list_func
        self.replace = replace
        self.handle = handle
        self.timing = timing
        self.clock = clock
        self.stats = ReflectorStats()
        self._stop = threading.Event()
        self._watch: RawWatch | None = None
        self._thread = threading.Thread(target=self._run, name=f"reflector-{resource}", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            if self._watch is not None:
                self._watch.stop()  # shuts the socket down, unblocking the read
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # -- the loop -----------------------------------------------------------------------------------------

    def _run(self) -> None:
        rv: str | None = None
        delay = self.timing.backoff_initial
        resync_at = 0.0
        gone_in_a_row = 0
        while not self._stop.is_set():
            try:
                if rv is None or self.clock() >= resync_at:
                    rv = self._list()
                    resync_at = self.clock() + self.timing.resync_seconds * random.uniform(0.9, 1.1)
                rv = self._watch_from(rv, resync_at)
                delay = self.timing.backoff_initial
                gone_in_a_row = 0
                if rv is not None and not self._stop.is_set():
                    self.stats.watch_restarts += 1
            except ApiException as exc:
                if exc.status == GONE:
                    self.stats.gone += 1
                    gone_in_a_row += 1
                    self._log(logging.INFO, f"{self.resource}: resourceVersion {rv} is gone (410): listing again",
                              event="cache_gone")
                    rv = None  # list again: at once the first time, after a backoff if it keeps happening
                    if gone_in_a_row > 1:
                        delay = self._fail("410 Gone again right after a list", delay)
                    continue
                delay = self._fail(f"HTTP {exc.status}: {exc.reason}", delay)
            except (HTTPError, OSError, ValueError, KeyError, TypeError) as exc:
                delay = self._fail(f"{type(exc).__name__}: {exc}", delay)
            except Exception as exc:  # a bug must not silently end the thread: the cache would go stale
                LOG.exception(f"{self.resource}: unexpected error in the reflector",
                              extra={FIELDS: {"resource": self.resource, "event": "cache_error"}})
                delay = self._fail(f"{type(exc).__name__}: {exc}", delay)
        self.stats.resource_version = rv

    def _fail(self, reason: str, delay: float) -> float:
        if self._stop.is_set():
            return delay
        self.stats.errors += 1
        self.stats.last_error = reason
        self._log(logging.WARNING, f"{self.resource}: list/watch failed ({reason}); retrying in {delay:.1f} s",
                  event="cache_error", reason=reason)
        self._stop.wait(delay * random.uniform(0.8, 1.2))
        return min(delay * 2, self.timing.backoff_max)

    def _log(self, level: int, message: str, **fields: Any) -> None:
        LOG.log(level, message, extra={FIELDS: {"resource": self.resource, **fields}})

    def _list(self) -> str:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": self.timing.page_size, "_preload_content": False,
                                      "_request_timeout": (self.timing.connect_timeout, 60.0)}
            if token:
                kwargs["_continue"] = token
            response = self.list_func(**kwargs)
            try:
                body = json.loads(response.data)
            finally:
                response.release_conn()
            kind = str(body.get("kind") or "").removesuffix("List")
            for item in body.get("items") or ():
                # list items come without kind/apiVersion (watch events carry them): restore them
                item.setdefault("kind", kind)
                item.setdefault("apiVersion", body.get("apiVersion", "v1"))
                items.append(item)
            meta = body.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                break
        self.replace(items)
        self._log(logging.INFO, f"{self.resource}: listed {len(items)} objects", event="cache_list",
                  items=len(items), first=not self.stats.synced)
        if self.stats.synced:
            self.stats.relists += 1
        self.stats.lists += 1
        self.stats.synced = True
        self.stats.last_list = datetime.now(UTC)
        rv = str(meta["resourceVersion"])
        self.stats.resource_version = rv
        return rv

    def _watch_from(self, rv: str, resync_at: float) -> str | None:
        """Stream events from ``rv`` until the stream ends; the last resourceVersion seen (None: relist)."""
        timeout = max(1, round(self.timing.watch_timeout_seconds * random.uniform(0.9, 1.1)))
        w = RawWatch()
        with self._lock:
            if self._stop.is_set():
                return rv
            self._watch = w
        try:
            for event in w.stream(self.list_func, resource_version=rv, timeout_seconds=timeout,
                                  allow_watch_bookmarks=True,
                                  _request_timeout=(self.timing.connect_timeout, timeout + 30)):
                if self._stop.is_set():
                    break
                kind = event["type"]
                obj = event["raw_object"]
                if kind == "BOOKMARK":
                    self.stats.bookmarks += 1
                else:
                    self.handle(kind, obj)  # if this raises, the watch resumes from before this event
                    self.stats.events += 1
                    self.stats.last_event = datetime.now(UTC)
                rv = str(obj["metadata"]["resourceVersion"])
                self.stats.resource_version = rv
                if self.clock() >= resync_at:
                    return None  # time for a full list
        finally:
            with self._lock:
                self._watch = None
        return rv
