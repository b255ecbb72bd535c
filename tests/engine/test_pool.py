"""The workers of a parallel ``check``: every task answered once, failures raised here, nothing left running."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from policy_engine.engine import pool

CONTEXT = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
STARTED: list[str] = []


def _setup(name: str) -> None:
    STARTED.append(name)


def _echo(index: int, payload: bytes, reply_bytes: int, scale: int) -> tuple[int, int, int, list[str], bytes]:
    """The task's index and size, this worker's pid and initializer's argument, and ``reply_bytes`` bytes."""
    return index * scale, len(payload), os.getpid(), list(STARTED), bytes(reply_bytes)


def _tasks(count: int, size: int) -> Iterator[tuple[Any, ...]]:
    for index in range(count):
        yield index, bytes(size)


def _run(function: Any, tasks: Iterator[tuple[Any, ...]], common: tuple[Any, ...], jobs: int = 2,
         ) -> Generator[tuple[int, Any], None, None]:
    return pool.run(function, tasks, jobs=jobs, context=CONTEXT, initializer=_setup, initargs=("ready",),
                    common=common)


@pytest.mark.parametrize("pipe_bytes", [pool.PIPE_BYTES, 4096])
def test_every_task_is_answered_once_by_a_prepared_worker_though_messages_exceed_the_pipes(
        pipe_bytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tasks of 200 KB and results of 300 KB, through pipes of 1 MiB and of one page: none is lost, none
    answered twice, and the parent never blocks writing to a worker that is blocked writing to it."""
    monkeypatch.setattr(pool, "PIPE_BYTES", pipe_bytes)
    answers = dict(_run(_echo, _tasks(12, 200_000), common=(300_000, 10)))
    assert sorted(answers) == list(range(12))
    assert all(answer[:2] == (index * 10, 200_000) and answer[3] == ["ready"] and len(answer[4]) == 300_000
               for index, answer in answers.items())
    assert len({answer[2] for answer in answers.values()}) == 2  # both workers took tasks
    assert not multiprocessing.active_children()


def _slow_first(index: int) -> int:
    if index == 0:
        time.sleep(1.0)
    return os.getpid()


def test_the_last_tasks_wait_for_an_idle_worker_not_behind_a_slow_one() -> None:
    """The end of a run: a worker held up by its unit is not sent the last ones to queue behind it."""
    order = list(_run(_slow_first, ((i,) for i in range(4)), common=()))
    pids = dict(order)
    assert [index for index, _ in order][-1] == 0  # the slow one ends last
    assert all(pids[i] != pids[0] for i in (1, 2, 3)), pids


class Refused(ValueError):
    pass


def _fail_on_three(index: int) -> int:
    if index == 3:
        raise Refused(f"task {index} refused")
    return index


def test_a_workers_exception_is_raised_here_with_its_traceback() -> None:
    with pytest.raises(Refused, match="task 3 refused") as raised:
        list(_run(_fail_on_three, ((i,) for i in range(8)), common=()))
    assert isinstance(raised.value.__cause__, pool.RemoteTraceback)
    assert "_fail_on_three" in str(raised.value.__cause__)
    assert not multiprocessing.active_children()


def _die_on_two(index: int) -> int:
    if index == 2:
        os._exit(3)  # killed, out of memory: no answer, no exception
    time.sleep(0.05)
    return index


def test_a_worker_that_dies_is_an_error_not_a_hang() -> None:
    with pytest.raises(pool.WorkerError, match="ended"):
        list(_run(_die_on_two, ((i,) for i in range(8)), common=()))
    assert not multiprocessing.active_children()


def test_workers_are_ended_when_the_caller_stops_reading() -> None:
    results = _run(_slow_first, ((i,) for i in range(6)), common=())
    next(results)
    results.close()  # the caller failed on a result: the workers, one of them busy, are ended
    assert not multiprocessing.active_children()


PARENT = """
import multiprocessing, os, sys, time
from policy_engine.engine import pool

def pid(index):
    time.sleep(0.3)
    return os.getpid()

def nothing():
    pass

tasks = ((i,) for i in range(1000))
context = multiprocessing.get_context("fork")
for _, worker in pool.run(pid, tasks, jobs=2, context=context, initializer=nothing, initargs=()):
    print(worker, flush=True)
"""


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="workers are forked here only")
def test_workers_end_when_their_parent_is_killed() -> None:
    """``check`` killed (a CI job's timeout): its workers do not linger, each waiting for its next unit."""
    with subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True) as parent:
        assert parent.stdout is not None
        workers = {int(parent.stdout.readline()) for _ in range(4)}
        parent.kill()
    deadline = time.monotonic() + 10
    while (alive := {pid for pid in workers if _alive(pid)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"  # a zombie has ended (its parent, init, reaps it)
    except FileNotFoundError:
        return False
