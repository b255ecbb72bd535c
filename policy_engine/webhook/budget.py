"""A time budget for one review, enforced by interrupting it.

A review is pure Python on the event loop, so nothing else can run while it does: a review that takes
longer than the API server's ``timeoutSeconds`` is a review whose object gets in unchecked
(``failurePolicy: Ignore``) and that delays every review queued behind it. ``Budget`` arms a one-shot
``SIGALRM`` timer for the review; if it fires, ``ReviewTimeout`` is raised where the review is, and the
route answers as ``internal_error`` says (open: allowed with a warning; closed: denied) and counts it.

``ReviewTimeout`` derives from ``BaseException`` so that the review's own ``except Exception`` (which
turns a bug into an answer) does not swallow it. Signals are delivered to the main thread only: in any
other thread (an in-process test client) the budget is checked when the review returns instead.
"""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType, TracebackType


class ReviewTimeout(BaseException):
    """The review ran past its budget."""


_armed = False
_installed = False


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    global _armed
    if _armed:
        _armed = False
        raise ReviewTimeout()


class Budget:
    """``with Budget(seconds):`` runs its block for at most ``seconds`` (main thread) or reports the overrun."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._signal = False
        self._started = 0.0

    def __enter__(self) -> Budget:
        global _armed, _installed
        self._started = time.perf_counter()
        self._signal = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
        if self._signal:
            if not _installed:
                signal.signal(signal.SIGALRM, _on_alarm)
                _installed = True
            _armed = True
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        global _armed
        if self._signal:
            _armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
        if kind is None and time.perf_counter() - self._started > self.seconds:
            raise ReviewTimeout()
