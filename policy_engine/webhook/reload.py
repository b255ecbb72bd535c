"""Policy hot reload: poll the policy files, recompile on change, swap the engine atomically.

Polling, not inotify: a ConfigMap volume updates by writing a new timestamped directory and swapping the
``..data`` symlink, so the files' own paths never change and events on them are unreliable. Each poll
resolves every symlink and compares (real path, inode, size, mtime) of every file, which catches that
swap as well as an ordinary edit. A reload that does not compile is refused whole: the running set stays
in force, the located diagnostics go to the log, and the failure metric counts it.
"""

from __future__ import annotations

import fcntl
import gc
import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from policy_engine.discovery import find_policy_files
from policy_engine.errors import DiagnosticError
from policy_engine.jsonlog import log
from policy_engine.webhook.metrics import Metrics
from policy_engine.webhook.review import LoadedEngine
from policy_engine.wording import count

FileStamp = tuple[str, str, int, int, int]  # (path as listed, real path, inode, size, mtime_ns)
Fingerprint = tuple[FileStamp, ...]


def fingerprint(paths: Iterable[str | Path]) -> Fingerprint:
    """The identity of every policy file under ``paths`` (``policy_engine.discovery``: links followed,
    hidden entries skipped, so a ConfigMap's ``..data`` swap changes each file's real path)."""
    return tuple(_stamp(path) for path in find_policy_files(paths)[0])


def _stamp(path: str) -> FileStamp:
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError:
        return (path, real, -1, -1, -1)  # a dangling link mid-swap: a change, compiled (and reported) as such
    return (path, real, st.st_ino, st.st_size, st.st_mtime_ns)


@contextmanager
def one_compile_at_a_time(watched: Sequence[str | Path]) -> Iterator[None]:
    """Let the workers of one ``serve`` (which all see a change at once) compile one after the other.

    Two workers compiling together would slow both halves of the traffic at the same moment; in turn,
    only one is slowed at a time, and the later ones usually find the front end the first one put in the
    start-up cache (~10 ms instead of ~30). The lock is an advisory ``flock`` on a file in the temporary
    directory named after the watched paths; if it cannot be had, compiling goes ahead unlocked.
    """
    name = hashlib.sha256("\0".join(os.path.realpath(p) for p in map(str, watched)).encode()).hexdigest()[:16]
    path = os.path.join(tempfile.gettempdir(), f"policy-engine-reload-{name}.lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks this watcher thread only; the GIL is released meanwhile
        yield
    finally:
        os.close(fd)  # closing releases the lock


#: Generation-1 collections between two full ones in ``serve`` (Python's default is 10).
FULL_COLLECTION_THRESHOLD = 100


def settle_heap() -> None:
    """Move everything alive now (grammar, compiled policies, catalog) out of the collector's sight.

    The long-lived heap is large and never garbage; without this every full collection walks it and a
    request that happens to trigger one waits several milliseconds. No full collection runs here: it
    would hold the interpreter for tens of milliseconds while requests are in flight. A replaced policy
    set is still freed by reference counting; only its reference cycles (about 13 KB for the bundled
    library, measured) stay frozen, a bounded cost per reload.

    Full collections are made ten times rarer than Python's default (threshold 100, not 10): with the
    long-lived heap frozen, the default ran one every ~70,000 allocations, each walking every live object,
    so a huge review (a 20,000-container Pod is ~200,000 objects) paid for its own size several times
    over: quadratic, not linear. Young cycles are still collected by the first two generations.
    """
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_THRESHOLD)


class EngineHolder:
    """The engine in force. Requests read ``current`` once; a reload replaces it in one assignment."""

    def __init__(self, loaded: LoadedEngine) -> None:
        self.current = loaded


class PolicyWatcher:
    def __init__(self, watched: Sequence[str | Path], load: Callable[[], LoadedEngine], holder: EngineHolder,
                 metrics: Metrics, interval: float,
                 on_swap: Callable[[LoadedEngine], object] | None = None,
                 prepare: Callable[[], object] | None = None) -> None:
        self.watched = tuple(watched)
        self.load = load
        self.prepare = prepare
        self.on_swap = on_swap
        self.holder = holder
        self.metrics = metrics
        self.interval = interval
        self._last = fingerprint(self.watched)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_once(self) -> bool | None:
        """Reload if anything changed: True when swapped, False when refused, None when nothing changed."""
        current = fingerprint(self.watched)
        if current == self._last:
            return None
        self._last = current  # a broken set is reported once, not on every poll until it is fixed
        try:
            with one_compile_at_a_time(self.watched):
                self._prepare()
                # What is left runs on this thread under the default 5 ms switch interval: requests in flight
                # wait at most one slice at a time. Shorter slices (0.2 ms was tried) made every request
                # ping-pong for the GIL and stretched a 30 ms compile into ~0.4 s of 10-50 ms answers.
                loaded = self.load()
        except DiagnosticError as exc:
            self.metrics.reload_failures.inc()
            errors = len(exc.errors)
            log(logging.ERROR, f"policy reload refused: {count(errors, 'error')}; the previous "
                f"{len(self.holder.current.by_name)} policies stay in force",
                event="reload_failed", errors=errors, diagnostics=str(exc))
            return False
        except Exception as exc:  # never let the watcher thread die: the next change gets another try
            self.metrics.reload_failures.inc()
            log(logging.ERROR, f"policy reload failed: {type(exc).__name__}: {exc}", event="reload_failed")
            return False
        removed = sorted(set(self.holder.current.by_name) - set(loaded.by_name))
        self.holder.current = loaded
        if removed:
            self.metrics.policies_removed.inc(len(removed))
            log(logging.WARNING, f"policy reload removed {len(removed)} policies: {', '.join(removed)}",
                event="policies_removed", removed=removed)
        settle_heap()
        if self.on_swap is not None:
            try:
                self.on_swap(loaded)
            except Exception as exc:  # the new policies are in force; say what did not follow them
                log(logging.ERROR, f"after the reload: {type(exc).__name__}: {exc}", event="reload_hook_failed")
        self.metrics.reloads.inc()
        self.metrics.policies_loaded.set(len(loaded.by_name))
        log(logging.INFO, f"policies reloaded: {len(loaded.by_name)} in force", event="reloaded",
            policies=len(loaded.by_name))
        return True

    def _prepare(self) -> None:
        """The head start (e.g. compiling in an idle-priority child, ``prepare.py``); never a reason to fail."""
        if self.prepare is None:
            return
        try:
            self.prepare()
        except Exception as exc:
            log(logging.WARNING, f"policy reload: the head start failed ({type(exc).__name__}: {exc}); "
                "compiling in process", event="reload_prepare_failed")

    def start(self) -> None:
        if self.interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="policy-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check_once()
            except Exception as exc:  # e.g. the directory vanished for a moment
                log(logging.ERROR, f"policy watch failed: {exc}", event="watch_failed")
