"""Worker processes fed by the parent's main thread alone, each through pipes of its own (``batch``'s workers).

``concurrent.futures``' pool moved every task and result through queues shared by all its workers and
served by two helper threads of the parent: a worker that had finished a unit of ``check`` waited 3-10 ms
(up to 50 on a loaded machine) to hand over its result, some 900 KB of report pieces squeezed through a
64 KiB pipe with a GIL hand-off for every 64 KiB, and then to be handed its next unit. Here each worker
has a pipe for its tasks and one for its results, both enlarged (Linux: ``F_SETPIPE_SZ``) to hold a
whole result and a task waiting behind the one running, so a worker goes from one task to the next
without waiting for the parent. The parent waits on the result pipes, reads each result into one buffer
it reuses (no fresh pages per result), and sends that worker its next task.

A task is written only where the write cannot block: to a worker with nothing outstanding (it is
reading), or into a pipe with room for it and every task sent there and not yet answered; a parent
blocked writing to a worker blocked writing its result would wait forever. Where pipes cannot be
enlarged, a worker gets one task at a time. The last ``jobs`` tasks wait in the parent for an idle
worker rather than queue behind a running one: otherwise one worker may finish while the other still
has two units to go.

Tasks and results are pickles, exchanged only with the processes started here, over their own pipes.
A worker's exception is raised in the parent (its traceback attached); a worker that dies (killed, out
of memory) is a ``WorkerError``, not a hang.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import traceback
from collections import deque
from collections.abc import Callable, Generator, Iterator
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext
    from multiprocessing.process import BaseProcess

#: The size each pipe is enlarged to (Linux caps it at /proc/sys/fs/pipe-max-size, 1 MiB by default).
PIPE_BYTES = 1 << 20
_HEADER = struct.Struct("<Q")  # a message's length
_POSIX = os.name == "posix"  # pipes read and written as file descriptors; elsewhere through Connection


class WorkerError(RuntimeError):
    """A worker process ended before answering its tasks."""


class RemoteTraceback(Exception):
    """A worker's traceback, attached as the cause of the exception it raised."""

    def __str__(self) -> str:
        return str(self.args[0])


def run(function: Callable[..., Any], tasks: Iterator[tuple[Any, ...]], *, jobs: int, context: BaseContext,
        initializer: Callable[..., None], initargs: tuple[Any, ...], common: tuple[Any, ...] = (),
        ahead: int = 1) -> Generator[tuple[int, Any], None, None]:
    """``function(*task, *common)`` of each task in ``jobs`` processes, as ``(index of the task, result)`` in
    the order they finish; ``tasks`` is read as workers need them (up to ``jobs`` + 1 ahead), each worker
    holding at most ``ahead`` of them besides the one it runs. ``function``, ``common`` and ``initargs`` go to each
    worker once (forked: not even pickled). Closing the generator ends the workers, busy or not."""
    workers: list[_Worker] = []
    for _ in range(jobs):
        workers.append(_Worker.start(context, function, common, initializer, initargs, workers))
    try:
        yield from _drive(workers, tasks, ahead)
    finally:
        for worker in workers:
            worker.stop()
        for worker in workers:
            worker.join()


def _drive(workers: list[_Worker], tasks: Iterator[tuple[Any, ...]], ahead: int) -> Iterator[tuple[int, Any]]:
    backlog: deque[tuple[int, bytes]] = deque()  # tasks read and pickled, not sent yet
    read = 0
    exhausted = False
    buffer = bytearray()  # every result is read into it

    def pull() -> None:
        nonlocal read, exhausted
        task = next(tasks, None)
        if task is None:
            exhausted = True
        else:
            backlog.append((read, _dumps(task)))
            read += 1

    while True:
        idle = [w for w in workers if not w.sent]
        if idle:  # an idle worker takes the next task at once
            if not backlog and not exhausted:
                pull()
            if backlog:
                idle[0].send(*backlog.popleft())
                continue
        else:  # queued behind a running one: only a task known not to be one of the last ``jobs``
            while not exhausted and len(backlog) <= len(workers):
                pull()
            worker = min(workers, key=lambda w: len(w.sent))
            if len(backlog) > len(workers) and worker.can_take(len(backlog[0][1]), ahead):
                worker.send(*backlog.popleft())
                continue
        busy = [w for w in workers if w.sent]
        if not busy:
            return
        ready = wait([w.results for w in busy] + [w.process.sentinel for w in busy])
        for worker in busy:
            if worker.results in ready:
                yield worker.receive(buffer)
            elif worker.process.sentinel in ready:
                worker.process.join(1.0)  # (its exit code)
                raise WorkerError(f"a worker process ended with exit code {worker.process.exitcode} "
                                  f"before answering {len(worker.sent)} of its tasks")


class _Worker:
    """A worker process, the parent's ends of its pipes, and the tasks it was sent and has not answered."""

    def __init__(self, process: BaseProcess, tasks: Connection, results: Connection, capacity: int) -> None:
        self.process = process
        self.tasks = tasks
        self.results = results
        self.capacity = capacity  # of the task pipe, in bytes (0: unknown)
        self.sent: deque[tuple[int, int]] = deque()  # (index, bytes) of the tasks sent, in order

    @classmethod
    def start(cls, context: BaseContext, function: Callable[..., Any], common: tuple[Any, ...],
              initializer: Callable[..., None], initargs: tuple[Any, ...], started: list[_Worker]) -> _Worker:
        task_reader, task_writer = context.Pipe(duplex=False)
        result_reader, result_writer = context.Pipe(duplex=False)
        capacity = _enlarge(task_writer)
        _enlarge(result_writer)
        # a forked worker inherits the parent's ends of its own pipes and of those started before: closed there,
        # so that it sees the end of its task pipe when the parent dies rather than wait for ever
        inherited = [c for w in started for c in (w.tasks, w.results)] + [task_writer, result_reader] \
            if context.get_start_method() == "fork" else []
        process = context.Process(target=_serve, daemon=True, name="policy-engine-worker",  # type: ignore[attr-defined]
                                  args=(task_reader, result_writer, function, common, initializer, initargs,
                                        inherited))
        process.start()
        task_reader.close()  # the worker's ends: a worker that dies closes the last copy (end of file here)
        result_writer.close()
        return cls(process, task_writer, result_reader, capacity)

    def can_take(self, size: int, ahead: int) -> bool:
        """Whether a task of ``size`` bytes can be written without blocking, ``ahead`` at most waiting."""
        if not self.sent:
            return True  # the worker is reading: the write ends as it reads
        queued = sum(n for _, n in self.sent) + size + _HEADER.size * (len(self.sent) + 1)
        return len(self.sent) <= ahead and queued <= self.capacity

    def send(self, index: int, data: bytes) -> None:
        self.sent.append((index, len(data)))
        try:
            _write(self.tasks, data)
        except BrokenPipeError:
            self.process.join(1.0)
            raise WorkerError(f"a worker process ended (exit code {self.process.exitcode}) "
                              f"before it was sent all its tasks") from None

    def receive(self, buffer: bytearray) -> tuple[int, Any]:
        size = _read(self.results, buffer)
        if size is None:
            raise WorkerError(f"a worker process ended before answering {len(self.sent)} of its tasks")
        with memoryview(buffer)[:size] as view:
            ok, value = pickle.loads(view)  # written by the worker this process started, on its own pipe
        index, _ = self.sent.popleft()
        if not ok:
            error, text = value
            raise error from RemoteTraceback(text)
        return index, value

    def stop(self) -> None:
        """Told to exit (an empty task) if idle, else terminated (the run failed or was interrupted)."""
        if self.sent:
            self.process.terminate()
        else:
            with contextlib.suppress(OSError):  # it has already ended
                _write(self.tasks, b"")
        self.tasks.close()
        self.results.close()

    def join(self) -> None:
        self.process.join(5.0)
        if self.process.exitcode is None:  # not ended when told to
            self.process.kill()
            self.process.join()


def _serve(tasks: Connection, results: Connection, function: Callable[..., Any], common: tuple[Any, ...],
           initializer: Callable[..., None], initargs: tuple[Any, ...], inherited: list[Connection]) -> None:
    """A worker: tasks read, run and answered until an empty one (or the end of its pipe: the parent died)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle (it ends the workers)
    for conn in inherited:
        conn.close()
    initializer(*initargs)
    buffer = bytearray()
    while size := _read(tasks, buffer):
        with memoryview(buffer)[:size] as view:
            task = pickle.loads(view)  # from the parent, on this worker's own pipe
        try:
            answer = _dumps((True, function(*task, *common)))
        except Exception as exc:  # raised in the parent, with this traceback
            answer = _dumps((False, (_picklable(exc), traceback.format_exc())))
        del task
        try:
            _write(results, answer)
        except BrokenPipeError:  # the parent died
            return


def _picklable(exc: Exception) -> Exception:
    try:
        pickle.loads(_dumps(exc))
    except Exception:  # any failure to round-trip: its text instead
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _dumps(value: Any) -> bytes:
    return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)


def _enlarge(conn: Connection) -> int:
    """The pipe behind ``conn`` enlarged to ``PIPE_BYTES`` where the system allows; its size, or 0 if unknown."""
    try:
        import fcntl

        return int(fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES))
    except (ImportError, AttributeError, OSError):  # not Linux, or past the user's pipe limits
        return 0


def _write(conn: Connection, data: bytes) -> None:
    if not _POSIX:
        conn.send_bytes(data)
        return
    fd = conn.fileno()
    view = memoryview(_HEADER.pack(len(data)) + data) if len(data) < 65536 else None
    if view is None:  # a large message: its header, then the data itself (not copied)
        _write_all(fd, memoryview(_HEADER.pack(len(data))))
        view = memoryview(data)
    _write_all(fd, view)


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view):]


def _read(conn: Connection, buffer: bytearray) -> int | None:
    """The next message read into ``buffer`` (grown as needed); its size, or None at the end of the pipe."""
    if not _POSIX:
        try:
            data = conn.recv_bytes()
        except EOFError:
            return None
        buffer[:len(data)] = data
        return len(data)
    fd = conn.fileno()
    header = bytearray(_HEADER.size)
    if _read_into(fd, memoryview(header)) == 0:
        return None
    size: int = _HEADER.unpack(header)[0]
    if len(buffer) < size:
        buffer.extend(bytes(size - len(buffer)))
    with memoryview(buffer)[:size] as view:
        _read_into(fd, view)
    return size


def _read_into(fd: int, view: memoryview) -> int:
    """``view`` filled from ``fd``: its size, or 0 if the pipe had ended."""
    got = 0
    while got < len(view):
        n = os.readv(fd, [view[got:]])
        if n == 0:
            if got:
                raise WorkerError("a pipe between the workers and the parent ended in the middle of a message")
            return 0
        got += n
    return got
