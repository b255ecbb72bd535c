"""A time budget for one review, enforced by interrupting it.

A review is pure Python on the event loop, so nothing else can run while it does: a review that takes
longer than the API server's ``timeoutSeconds`` is a review whose object gets in unchecked
(``failurePolicy: Ignore``) and that delays every review queued behind it. ``Budget`` arms a one-shot
``SIGALRM`` timer for the review; if it fires, ``ReviewTimeout`` is raised where the review is, and the
route answers as ``internal_error`` says (open: allowed with a warning; closed: denied) and counts it.

``ReviewTimeout`` derives from ``BaseException`` so that the review's own ``except Exception`` (which
turns a bug into an answer) does not swallow it. Signals are delivered to the main thread only: in any
other thread (a large review, which the endpoint runs beside the event loop so that normal reviews are
not held up behind it, or an in-process test client) a one-shot timer raises ``ReviewTimeout`` in the
review's thread instead (``PyThreadState_SetAsyncExc``: at the next bytecode, so after a C call such as
``json.loads`` returns); a budget that ends before the timer's exception is delivered takes it back and
raises it itself, so it never escapes the block.
"""

from __future__ import annotations

import ctypes
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
    """``with Budget(seconds):`` runs its block for at most ``seconds``, in any thread."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._signal = False
        self._started = 0.0
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._armed = False
        self._fired = False
        self._thread = 0

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
        elif _CAN_INTERRUPT_THREADS:
            self._thread = threading.get_ident()
            self._armed = True
            self._timer = threading.Timer(self.seconds, self._interrupt)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _interrupt(self) -> None:
        with self._lock:
            if self._armed:
                self._fired = True
                _set_async_exc(self._thread, ReviewTimeout)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        global _armed
        if self._signal:
            _armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
        if self._timer is not None:
            with self._lock:
                self._armed = False
                fired = self._fired
            self._timer.cancel()
            if fired and kind is None:  # fired, but not delivered yet: take it back, raise it here
                _set_async_exc(self._thread, None)
                raise ReviewTimeout()
        if kind is None and time.perf_counter() - self._started > self.seconds:
            raise ReviewTimeout()


_CAN_INTERRUPT_THREADS = hasattr(ctypes, "pythonapi") and hasattr(ctypes.pythonapi, "PyThreadState_SetAsyncExc")


def _set_async_exc(thread: int, exception: type[BaseException] | None) -> None:
    """Raise ``exception`` in ``thread`` at its next bytecode (None: cancel one still pending)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread),
                                               ctypes.py_object(exception) if exception is not None else None)
