"""A batch evaluation (``check``): manifest paths and stdin, work cut by bytes, in worker processes when it pays.

Work is split by bytes, not by files, so the speed does not depend on how the input happens to be laid
out: small files are grouped into units of about ``UNIT_BYTES``; a large file, and stdin, are cut at
their ``---`` lines into segments of that size (``model.segments``), each loaded knowing the line it
starts at. With more than ``PARALLEL_BYTES`` of input the units go to worker processes (forked: they
inherit the compiled engine), a bounded number at a time, so stdin is read as the workers need it and
memory stays flat in the input size. Each unit comes back as a ``Partial`` (findings, aggregate
contributions, a light record per workload if asked); ``Engine.finish`` then decides quotas and budgets
over all of them. A worker packs its unit's findings itself, sorted and summarised, with each one's piece
of the text/JSON reports when given a renderer (``engine.packed``): the parent then reports without
unpickling them. Units follow the report's order, so the packed blocks do too. The result does not depend
on the number of processes.
"""

from __future__ import annotations

import gc
import os
import stat
import sys
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate, islice
from typing import Any, BinaryIO

from policy_engine.compiler.program import Enforcement
from policy_engine.diagnostics import Diagnostic, Span
from policy_engine.engine import pool
from policy_engine.engine.evaluate import DEFAULT, Engine, Options, Partial, add_summaries, summarise
from policy_engine.engine.findings import PolicySummary, Result
from policy_engine.engine.packed import (
    PACK_AFTER,
    PACK_PAIRS_AFTER,
    PackedList,
    Packer,
    Render,
    pack,
    pack_block,
    sort_key,
)
from policy_engine.model import sources
from policy_engine.model.documents import Document, LoadError, load_text
from policy_engine.model.segments import cut_points, segments
from policy_engine.model.sources import STDIN, STDIN_NAME, decode, discover, read_source
from policy_engine.records import frozen_record, record

#: A unit of work: about this many bytes of YAML (some 400 documents of a typical manifest).
UNIT_BYTES = 256 * 1024
#: With more input than this, worker processes are faster than one (about half a second of work).
PARALLEL_BYTES = 1 << 20
#: Units waiting in a worker's pipe behind the one it runs (bounds stdin's memory; ``engine.pool``).
AHEAD = 1
#: Documents per batch when evaluating a stream already in memory (``evaluate_documents``).
BATCH_DOCUMENTS = 512
#: The workers' packed findings and pieces are kept uncompressed up to this many bytes (a 10,000-document
#: run's, about): compressing them, and decompressing them again to write the report, took a tenth of such a
#: run's time, and the decompressing came after the workers had finished. Past it, each block is compressed
#: (a tenth of the size), so memory stays flat however long the input.
RAW_BYTES = 16 << 20


@frozen_record
class Piece:
    """A byte range of a file (``start``..``end``, starting at ``first_line``), bytes read from stdin, or a
    problem found while planning. A whole file, by far the most common part of a unit, is only its name."""

    file: str
    start: int = 0
    end: int | None = None
    first_line: int = 1
    data: bytes | None = None
    error: LoadError | None = None  # a problem found while planning (a link out of the tree, stdin too large)
    whole: bool = False  # ``data`` is all of stdin: with no document in it, a W601 as for an empty file

    def size(self) -> int:
        if self.error is not None:
            return 0
        if self.data is not None:
            return len(self.data)
        return (self.end or self.start) - self.start


#: A unit of work: whole files by name (a name is sent to a worker for a fraction of a piece's cost), pieces.
Unit = tuple[Piece | str, ...]


@frozen_record
class EngineSource:
    """What a worker that cannot be forked (macOS, Windows: ``spawn``) loads its engine from: the policy
    paths, the pricing file, and whether it may use the start-up cache (``check --no-cache``). The engine's
    settings (``Engine.unread_gpu``) and the file size cap go with it, taken from the parent's."""

    policies: tuple[str, ...] = ()
    pricing: str | None = None
    use_cache: bool = True


@record
class Batch:
    """A batch's result and the records ``Options.record`` made of its workloads, in input order."""

    result: Result
    records: list[Any]
    workers: int = 1  # processes that evaluated it (1: this one)


def evaluate_paths(engine: Engine, paths: Sequence[str], *, exclude: Sequence[str] = (), jobs: int | None = None,
                   options: Options = DEFAULT, stdin: BinaryIO | None = None, follow_symlinks: bool = False,
                   source: EngineSource = EngineSource(), render: Render | None = None,
                   pieces_only: bool = False) -> Batch:
    """Evaluate manifest files and directories (``-``: stdin) and decide quotas and budgets over them all.

    ``jobs`` None decides by the amount of input; ``source`` lets workers rebuild the engine where processes
    cannot be forked. With workers, each packs its units' findings and,
    given ``render`` (``reporters.piece_renderer``), renders their pieces of the reports as well; with
    ``pieces_only`` (every report asked for is made of those pieces) they do not send the findings
    themselves, only their pieces, counts and summaries: the result's findings then cannot be read.
    """
    _tune_gc()
    problems: list[LoadError] = []  # links out of the scanned directories, reported as located errors
    files = list(discover(paths, exclude, follow_symlinks=follow_symlinks, problems=problems))
    units = _units(files, stdin if stdin is not None else sys.stdin.buffer, problems)
    head: list[Unit] = []
    queued = 0
    for unit in units:  # look ahead just far enough to know whether the input is worth workers
        head.append(unit)
        queued += sum(_file_size(p) if isinstance(p, str) else p.size() for p in unit)
        if jobs is not None or queued > PARALLEL_BYTES:
            break
    workers = jobs if jobs is not None else (os.cpu_count() or 1) if queued > PARALLEL_BYTES else 1
    if len(head) > 1 or queued >= UNIT_BYTES:  # heap tuning pays only past a unit of input (ctypes: ~1 ms)
        _mallopt(128 * 1024)
    work = _chain(head, units)
    done = _Collected(engine, options)
    if workers > 1 and (len(head) > 1 or queued >= UNIT_BYTES):
        # a file named twice would put its blocks out of report order: then the findings are sorted again
        done.pieces_only = pieces_only and render is not None and len(set(files)) == len(files)
        _parallel(engine, work, workers, options, source, done, render if done.may_pack else None)
    else:
        workers = 1
        for unit in work:
            done.add(engine.evaluate_partial(_load(unit), options))
    batch = _finish(engine, done, options, files=len(files))
    batch.workers = workers
    return batch


def evaluate_documents(engine: Engine, items: Iterable[Document | LoadError], *,
                       options: Options = DEFAULT) -> Batch:
    """Evaluate a stream of documents (a git revision's) in batches: parsed documents never pile up."""
    done = _Collected(engine, options)
    it = iter(items)
    while batch := list(islice(it, BATCH_DOCUMENTS)):
        done.add(engine.evaluate_partial(batch, options))
    return _finish(engine, done, options, files=None)


class _Collected:
    """The partial results in input order; past ``PACK_AFTER`` findings (or as the workers packed them), their
    findings packed as they come."""

    def __init__(self, engine: Engine, options: Options) -> None:
        self.engine = engine
        self.partials: list[Partial] = []
        self.findings = 0
        self.packer: Packer | None = None
        self.summaries: list[PolicySummary] | None = None  # of the packed findings, summed as they are packed
        self.may_pack = options.sort and not options.workloads  # packed findings come back sorted
        self.pairs = 0
        self.pair_blocks: list[tuple[int, bytes]] | None = None  # the matched pairs, packed in input order
        self.pieces_only = False  # the workers send their findings' pieces, not the findings (``evaluate_paths``)

    def add(self, partial: Partial) -> None:
        self.partials.append(partial)
        block, partial.block = partial.block, None
        self.findings += len(partial.findings) + (block.count if block is not None else 0)
        if self.packer is None and (block is not None or (self.may_pack and self.findings > PACK_AFTER)):
            self.packer = Packer()
            for earlier in self.partials[:-1]:
                self._pack(earlier)
        if self.packer is not None:
            if block is not None:
                self.packer.add_block(block)
                self._sum(block.summaries)
            self._pack(partial)
        self.pairs += len(partial.evaluations)
        if self.pair_blocks is None and self.pairs > PACK_PAIRS_AFTER:
            self.pair_blocks = []
            for earlier in self.partials[:-1]:
                self._pack_pairs(earlier)
        if self.pair_blocks is not None:
            self._pack_pairs(partial)

    def _pack_pairs(self, partial: Partial) -> None:
        assert self.pair_blocks is not None
        if partial.evaluations:
            self.pair_blocks.append(pack(partial.evaluations))
            partial.evaluations = []
            partial.result.evaluations = partial.evaluations

    def _pack(self, partial: Partial) -> None:
        assert self.packer is not None
        if not partial.findings:
            return
        self._sum(summarise(self.engine.policies, partial.findings))  # now: never reads packed findings back
        self.packer.add(partial.findings)
        partial.findings = []
        partial.result.findings = partial.findings

    def _sum(self, summaries: list[PolicySummary] | None) -> None:
        if summaries is None:
            return
        if self.summaries is None:
            self.summaries = summaries
        else:
            add_summaries(self.summaries, summaries)


def _finish(engine: Engine, done: _Collected, options: Options, files: int | None) -> Batch:
    partials = engine.settle(done.partials, options)  # workloads naming a document another unit read
    result = engine.finish(partials, options=options)  # with packed findings: only the loose ones
    if done.packer is not None:
        loose = result.findings
        if done.packer.in_order:
            result.findings = done.packer.packed(loose)
        else:  # not in report order (files not read in sorted order): one sorted list after all
            result.findings = sorted([*done.packer.findings(), *loose], key=sort_key)
        if options.summaries and done.summaries is not None:
            add_summaries(result.summaries, done.summaries)  # the loose findings' (groups) and the packed ones'
    if done.pair_blocks is not None:  # then those of workloads judged last (``settle``)
        late = [pack(list(result.evaluations))] if result.evaluations else []
        result.evaluations = PackedList([*done.pair_blocks, *late])
    if files is not None:  # a file cut into segments is one file
        result.stats.files = files
    return Batch(result, [r for p in partials for r in p.records])


def _tune_gc() -> None:
    """A batch allocates millions of small objects: collect far less often (~13% faster). Its objects die with
    their document or unit, not in cycles, so what a collection finds is what the run keeps (findings,
    records): at 100,000 a 10,000-document run collected twice, 40 ms for nothing; at 500,000 not once.

    The compiled engine is frozen out of the collector's view, which also keeps forked workers from
    copying its pages when the collector would otherwise touch them. Memory stays bounded per unit.
    With glibc, once the input is more than a unit (``evaluate_paths``), blocks of 128 KiB and more (the
    workers' pickled results, stdin's segments) are mapped and unmapped on their own rather than left in the
    heap: otherwise the heap keeps them after they are freed, and a 100,000-document run ends holding about
    twice the memory its findings take.
    """
    gc.freeze()
    gc.set_threshold(500_000, 50, 1000)


def _mallopt(threshold: int) -> None:
    """With glibc, blocks of ``threshold`` bytes and more mapped on their own, and the heap trimmed past it."""
    if sys.platform.startswith("linux"):
        import ctypes  # not ctypes.util: finding libc by name imports shutil, lzma… and runs ldconfig (~10 ms)

        try:
            libc = ctypes.CDLL(None)  # the process's own symbols, glibc's among them
            libc.mallopt(-3, threshold)  # M_MMAP_THRESHOLD, fixed (not raised after each free)
            libc.mallopt(-1, threshold)  # M_TRIM_THRESHOLD
        except (OSError, AttributeError):  # not glibc (musl): its allocator returns memory by itself
            pass


# --- planning: files and stdin → units of about UNIT_BYTES ---------------------------------------------

def _units(files: Sequence[str], stdin: BinaryIO, problems: Sequence[LoadError] = ()) -> Iterator[Unit]:
    """Units in report order: files sorted by the name findings carry (``a/b/x.yaml`` before ``a/c.yaml``,
    which discovery yields the other way round), so that each unit's sorted findings follow the previous
    unit's and a large run's findings stay packed (``engine.packed``)."""
    if problems:
        yield tuple(Piece(p.file, error=p) for p in problems)
    group: list[Piece | str] = []
    grouped = 0
    for file in sorted(files, key=_report_name):
        size = 0 if file == STDIN else _file_size(file)
        if file == STDIN or _worth_cutting(file, size):
            if group:  # the smaller files before it come first
                yield tuple(group)
                group, grouped = [], 0
            yield from _stdin(stdin) if file == STDIN else ((p,) for p in _cut(file))
            continue
        group.append(file)
        grouped += size
        if grouped >= UNIT_BYTES:
            yield tuple(group)
            group, grouped = [], 0
    if group:
        yield tuple(group)


def _stdin(stdin: BinaryIO) -> Iterator[Unit]:
    """stdin's segments as they arrive, up to the size cap (``--max-file-size``): past it, an E406.

    Each segment is handed out once the next has arrived, so that the last knows whether it is all of
    stdin (``Piece.whole``): a stdin with no document gets the W601 an empty file gets."""
    read = 0
    held: Piece | None = None
    for s in segments(stdin, UNIT_BYTES):
        read += len(s.data)
        if held is not None:
            yield (held,)
        if read > sources.MAX_FILE_BYTES:
            message = (f"larger than the limit of {sources.MAX_FILE_BYTES:,} bytes; the rest from line "
                       f"{s.first_line} was not read (--max-file-size raises it)")
            yield (Piece(STDIN_NAME, error=LoadError(Diagnostic(Span(STDIN_NAME, s.first_line), "E406", message))),)
            return
        held = Piece(STDIN_NAME, first_line=s.first_line, data=s.data)
    if held is None or held.first_line == 1:  # no segment, or one: all of stdin
        held = Piece(STDIN_NAME, data=held.data if held is not None else b"", whole=True)
    yield (held,)


def _report_name(file: str) -> str:
    return STDIN_NAME if file == STDIN else file


def _worth_cutting(file: str, size: int) -> bool:
    """A large manifest file, cut into units of its own (JSON is one document: never cut)."""
    return 2 * UNIT_BYTES < size <= sources.MAX_FILE_BYTES and not file.endswith(".json") and _regular(file)


def _regular(file: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(file).st_mode)
    except OSError:
        return False


def _file_size(file: str) -> int:
    try:
        return os.stat(file).st_size
    except OSError:  # the worker reports why it cannot be read
        return 0


def _cut(file: str) -> list[Piece | str]:
    """A large file as byte ranges cut at ``---`` lines (read once here; each worker reads its range)."""
    try:
        with open(file, "rb") as f:
            data = f.read()
    except OSError:
        return [file]  # the worker reports why it cannot be read
    pieces: list[Piece | str] = []
    start, line = 0, 1
    while start < len(data):
        # pieces of a unit's size, the last smaller (not up to twice that: the run's last unit keeps one
        # worker busy while the other has finished)
        cut = next(cut_points(data, start + UNIT_BYTES), None) if len(data) - start > UNIT_BYTES else None
        end = len(data) if cut is None else cut
        pieces.append(Piece(file, start, end, line))
        line += data.count(b"\n", start, end)
        start = end
    return pieces


def _chain(head: list[Unit], rest: Iterator[Unit]) -> Iterator[Unit]:
    """The units looked ahead at, then the rest; each let go once handed out (stdin's bytes are not kept)."""
    head.reverse()
    while head:
        yield head.pop()
    yield from rest


def _load(unit: Unit) -> Iterator[Document | LoadError]:
    for piece in unit:
        if isinstance(piece, str):  # a whole file, found by ``discover`` or named
            text, error = read_source(piece)
            if error is not None:
                yield error
                continue
            assert text is not None
            yield from load_text(text, piece)
            continue
        if piece.error is not None:
            yield piece.error
            continue
        text, error = _read_piece(piece)
        if error is not None:
            yield error
            continue
        assert text is not None
        yield from load_text(text, piece.file, piece.first_line, report_empty=piece.whole)  # else a cut piece


def _read_piece(piece: Piece) -> tuple[str | None, LoadError | None]:
    """The text of a byte range of a file (read here, in the worker) or of stdin's bytes."""
    data = piece.data
    if data is None:
        try:
            with open(piece.file, "rb") as f:
                f.seek(piece.start)
                data = f.read((piece.end or piece.start) - piece.start)
        except OSError as exc:
            return None, LoadError(Diagnostic(Span(piece.file, piece.first_line), "E401",
                                              f"cannot read file: {exc.strerror or exc}"))
    return decode(data, piece.file, piece.first_line)


# --- worker processes ----------------------------------------------------------------------------------

_ENGINE: Engine | None = None  # a worker's engine: inherited through fork, or loaded by _init_worker
_RENDER: Render | None = None  # a forked worker's piece renderer (the reports' context is not picklable)


#: A worker's large blocks (a unit's text, its results pickled) stay in its heap for the next unit: mapping and
#: unmapping each cost a page fault per page touched, some 25,000 a 10,000-document run. A worker holds one
#: unit at a time, so its heap stays about one unit's size; the parent keeps its own (``evaluate_paths``) until
#: the last result is in (``_parallel``), then takes this one too.
WORKER_MMAP_THRESHOLD = 32 << 20


def _init_worker(source: EngineSource, unread_gpu: Enforcement, max_file_bytes: int) -> None:
    """A worker's engine and settings: inherited through fork, else loaded from ``source`` and set as the
    parent's are (passed here, never through ``os.environ``, which would outlive the run in the parent)."""
    global _ENGINE
    _mallopt(WORKER_MMAP_THRESHOLD)
    sources.configure(max_file_bytes=max_file_bytes)
    if _ENGINE is None:
        from policy_engine.engine import load_engine

        _ENGINE = load_engine(list(source.policies) or None, source.pricing, use_cache=source.use_cache)
        _ENGINE.unread_gpu = unread_gpu


def _raw_bytes(partial: Partial) -> int:
    """The bytes of ``partial``'s packed block kept uncompressed (``RAW_BYTES``)."""
    return partial.block.raw_bytes() if partial.block is not None else 0


def _work(unit: Unit, compress: bool, options: Options, pack: bool, pieces_only: bool) -> Partial:
    """A unit evaluated; with ``pack``, its findings sorted, summarised and packed here, in the worker
    (compressed or not: ``RAW_BYTES``; with ``pieces_only``, only their pieces of the reports)."""
    assert _ENGINE is not None
    partial = _ENGINE.evaluate_partial(_load(unit), options)
    if pack and partial.findings:
        partial.block = pack_block(partial.findings, _RENDER, compress=compress,
                                   findings_too=not (pieces_only and _RENDER is not None))
        if options.summaries:
            partial.block.summaries = summarise(_ENGINE.policies, partial.findings)
        partial.findings.clear()
    return partial


def _halves(unit: Unit) -> tuple[Unit, ...]:
    """``unit`` as two units of about half its bytes, in order, or as it is: a list of files split in two (a
    whole file is not cut here), a range of a file or stdin's bytes cut at a ``---`` line as they were cut."""
    if len(unit) > 1:
        sizes = list(accumulate(_file_size(p) if isinstance(p, str) else p.size() for p in unit))
        middle = min(len(unit) - 1, bisect_left(sizes, sizes[-1] / 2) + 1)
        return unit[:middle], unit[middle:]
    piece = unit[0]
    if isinstance(piece, str) or piece.error is not None or piece.whole:
        return (unit,)
    data = piece.data if piece.data is not None else _range(piece)
    cut = next(cut_points(data, len(data) // 2), None) if data else None
    if data is None or cut is None:
        return (unit,)
    second = piece.first_line + data.count(b"\n", 0, cut)
    if piece.data is not None:
        return ((Piece(piece.file, first_line=piece.first_line, data=data[:cut]),),
                (Piece(piece.file, first_line=second, data=data[cut:]),))
    return ((Piece(piece.file, piece.start, piece.start + cut, piece.first_line),),
            (Piece(piece.file, piece.start + cut, piece.end, second),))


def _range(piece: Piece) -> bytes | None:
    try:
        with open(piece.file, "rb") as f:
            f.seek(piece.start)
            return f.read(piece.size())
    except OSError:  # the worker reports why it cannot be read
        return None


def _parallel(engine: Engine, units: Iterator[Unit], jobs: int, options: Options,
              source: EngineSource, done: _Collected, render: Render | None) -> None:
    """Units to worker processes (``engine.pool``), at most ``AHEAD`` per worker waiting; results to ``done`` in
    input order, each as soon as those before it are in."""
    import multiprocessing  # only for a parallel run

    global _ENGINE, _RENDER
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    if method == "fork":
        _ENGINE = engine  # without fork (macOS, Windows) each worker loads the engine once instead
        _RENDER = render  # and the parent renders the reports (the same bytes)
    results: dict[int, Partial] = {}
    delivered = 0
    raw = 0  # bytes of the blocks the workers kept uncompressed, counted as each unit ends (not in report
    # order: a unit held up would otherwise leave every later one uncompressed)

    def tasks() -> Iterator[tuple[Unit, bool]]:  # compressed once the blocks kept raw pass RAW_BYTES
        held: list[Unit] = []
        for unit in units:
            held.append(unit)
            if len(held) > jobs:
                yield held.pop(0), raw >= RAW_BYTES
        for unit in held:  # the last ones in halves: the workers end closer together
            for half in _halves(unit):
                yield half, raw >= RAW_BYTES

    answers = pool.run(_work, tasks(), jobs=jobs, context=multiprocessing.get_context(method),
                       initializer=_init_worker, initargs=(source, engine.unread_gpu, sources.MAX_FILE_BYTES),
                       common=(options, done.may_pack, done.pieces_only), ahead=AHEAD)
    try:
        for index, partial in answers:
            results[index] = partial
            raw += _raw_bytes(partial)
            while delivered in results:
                done.add(results.pop(delivered))
                delivered += 1
    finally:
        answers.close()  # the workers ended, even when this run failed
        _RENDER = None
    # every result is in and nothing is kept from here on: the large blocks the report's writing makes and drops
    # (a unit's pieces decoded, then encoded: 22 MB each way for the 10k stream's JSON) reuse the heap rather
    # than each be mapped afresh, a page fault per page (11,000 a run); the peak stays the same
    _mallopt(WORKER_MMAP_THRESHOLD)
