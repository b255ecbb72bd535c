"""The review budget interrupts a review wherever it runs: on the event loop (the main thread, by SIGALRM)
or in the thread beside it where large reviews run (a one-shot timer raising in that thread)."""

from __future__ import annotations

import threading
import time

import pytest

from policy_engine.webhook.budget import Budget, ReviewTimeout


def _spin(seconds: float) -> None:
    """Pure Python that would run ``seconds`` (what a review over its budget looks like)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _in_thread(work: object) -> list[BaseException | float]:
    out: list[BaseException | float] = []

    def run() -> None:
        started = time.perf_counter()
        try:
            work()  # type: ignore[operator]
        except BaseException as exc:
            out.append(exc)
        out.append(time.perf_counter() - started)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    return out


def test_a_review_in_a_thread_is_interrupted_at_its_budget() -> None:
    def work() -> None:
        with Budget(0.05):
            _spin(5.0)

    escaped, elapsed = _in_thread(work)
    assert isinstance(escaped, ReviewTimeout)
    assert isinstance(elapsed, float) and elapsed < 2.0  # interrupted, not run to the end


def test_a_budget_that_ends_in_time_leaves_nothing_behind_in_its_thread() -> None:
    """Many budgets ending just around their deadline: a timer that fired late is taken back, so no
    ReviewTimeout ever lands in the thread's later, unrelated work."""
    def work() -> None:
        timeouts = 0
        for _ in range(200):
            try:
                with Budget(0.001):
                    _spin(0.001)
            except ReviewTimeout:
                timeouts += 1
        _spin(0.2)  # anything still pending would be raised here

    out = _in_thread(work)
    assert len(out) == 1 and isinstance(out[0], float)


def test_on_the_main_thread_the_alarm_interrupts() -> None:
    with pytest.raises(ReviewTimeout), Budget(0.05):
        _spin(5.0)
