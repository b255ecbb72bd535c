"""Findings kept compressed, for runs with hundreds of thousands of them (``check -`` over a long stream).

A ``Finding`` in memory takes about 560 bytes (the object, its message, its facts): 100,000 documents
make some 360,000 findings, 200 MB. A batch run past ``PACK_AFTER`` findings keeps them instead as blocks
of the findings of one unit of work, each sorted, pickled and compressed (about 30 bytes a finding), and
``PackedFindings`` gives them back one block at a time: a reporter that streams holds one block.

The blocks arrive in input order. When they are also in report order (each block's first finding sorts
after the previous block's last: true of a stream and of files read in sorted order), iterating merges
them with the few findings decided over all of them (quotas, budgets) without sorting anything; when they
are not, ``pack`` is refused and the caller keeps a plain sorted list. The pickles are made and read by
this process only (never written to disk or received from elsewhere).

The (policy, resource) pairs a run matched (JUnit and PolicyReport list the passes too) are kept likewise
past ``PACK_PAIRS_AFTER``, as a ``PackedList`` in the order they came.

In a parallel run the workers pack (``pack_block``): each sorts, summarises and packs its unit's findings
and, given a ``Render`` (``reporters.piece_renderer``), also renders each finding into its piece of the
text or JSON report, so that the parent never unpickles a finding to report it; it only joins the pieces
(``PackedFindings.pieces``) in order, rendering itself only the few loose findings merged in between. The
blocks travel from the workers this process forked, over the pool's own pipes.
"""

from __future__ import annotations

import copy
import heapq
import zlib
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate, chain, groupby
from typing import Any, Generic, NamedTuple, TypeVar, overload

from policy_engine.compiler.program import Enforcement, Severity
from policy_engine.engine.findings import Finding, PolicySummary
from policy_engine.records import record

#: Past this many findings a batch run keeps them packed (below it, objects: faster to report).
PACK_AFTER = 50_000
#: Past this many (policy, resource) pairs matched, likewise (100,000 documents match some 750,000: 50 MB).
PACK_PAIRS_AFTER = 200_000

T = TypeVar("T")

SortKey = tuple[str, int, str, str]
#: A block's policies, each with the key and severity of its first finding, in that order (``pack_block``).
PolicyFirsts = tuple[tuple[str, SortKey, Severity], ...]


class Joined(NamedTuple):
    """A unit's pieces of a report joined as the report joins them (``separator`` between two), and where each
    ends: the parent reads one string a unit rather than one a finding, and cuts it only where a loose finding
    goes. ``ends`` holds, for each piece, the length of it and those before it (``array('q')``, as bytes)."""

    text: str
    separator: str
    ends: bytes

    @staticmethod
    def of(pieces: Sequence[str], separator: str) -> Joined:
        return Joined(separator.join(pieces), separator, array("q", accumulate(map(len, pieces))).tobytes())

    def cut(self, start: int, stop: int) -> str:
        """Pieces ``start`` to ``stop - 1``, joined (``start < stop``)."""
        ends = array("q")
        ends.frombytes(self.ends)
        step = len(self.separator)
        begin = ends[start - 1] + start * step if start else 0
        return self.text[begin:ends[stop - 1] + (stop - 1) * step]

    def split(self) -> list[str]:
        return self.cuts(range(1, len(self.ends) // 8 + 1))

    def cuts(self, stops: Iterable[int]) -> list[str]:
        """The pieces in consecutive runs, each ending before the next of ``stops`` (the first at piece 0)."""
        ends = array("q")
        ends.frombytes(self.ends)
        step, text = len(self.separator), self.text
        out = []
        begin = 0
        for stop in stops:
            end = ends[stop - 1] + (stop - 1) * step
            out.append(text[begin:end])
            begin = end + step
        return out


#: A unit's sorted findings -> for each report variant (``"text"``, ``"json"``…), each finding's piece, or the
#: pieces joined as the report joins them.
Render = Callable[[Sequence[Finding]], dict[str, list[str] | Joined]]


def sort_key(f: Finding) -> SortKey:
    """The order of a report: file, line, policy, resource name."""
    return (f.resource.file, f.line, f.policy, f.resource.name)


class PackedList(Sequence[T], Generic[T]):
    """Items kept as compressed blocks in the order they came (the pairs a run matched); read a block at a time."""

    def __init__(self, blocks: Sequence[tuple[int, bytes]], transform: Callable[[T], T] | None = None) -> None:
        self._blocks = tuple(blocks)
        self._transform = transform
        self._len = sum(n for n, _ in self._blocks)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[T]:
        items = self._items()
        return map(self._transform, items) if self._transform is not None else items

    def _items(self) -> Iterator[T]:
        return chain.from_iterable(_unpack(data) for _, data in self._blocks)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...
    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        return list(self)[index]  # not on any reporting path: unpacks everything

    def mapped(self, transform: Callable[[T], T]) -> PackedList[T]:
        """The same items, each passed through ``transform`` as it is read."""
        inner = self._transform
        view = copy.copy(self)
        view._transform = transform if inner is None else (lambda item: transform(inner(item)))
        return view


class PackedFindings(PackedList[Finding]):
    """Sorted findings as compressed blocks plus a few loose ones; read one block at a time."""

    def __init__(self, blocks: Sequence[tuple[int, bytes]], loose: Iterable[Finding] = (),
                 transform: Callable[[Finding], Finding] | None = None, *,
                 pieces: Sequence[BlockPieces | bytes | None] = (), counts: Counter[Enforcement] | None = None,
                 policies: Sequence[PolicyFirsts | None] = ()) -> None:
        super().__init__(blocks, transform)
        self._loose = sorted(loose, key=sort_key)
        self._len += len(self._loose)
        self._pieces = tuple(pieces)  # per block, when the workers rendered them
        self._counts = counts
        self._policies = tuple(policies)  # per block, when the workers rendered its pieces

    def first_named(self) -> list[tuple[str, Severity]] | None:
        """The policies the findings name, each with the severity of its first finding, in the order iterating
        would first meet them, without unpacking a finding; None unless every block says (``pack_block``)."""
        if len(self._policies) != len(self._blocks) or any(p is None for p in self._policies):
            return None
        # as ``__iter__`` merges: by key, the packed before a loose one on a tie, each in its own order
        firsts = [(key, 0, b, i, name, severity) for b, block in enumerate(self._policies) if block is not None
                  for i, (name, key, severity) in enumerate(block)]
        firsts += [(sort_key(f), 1, i, 0, f.policy, f.severity) for i, f in enumerate(self._loose)]
        firsts.sort(key=lambda first: first[:4])
        named: dict[str, Severity] = {}
        for *_, name, severity in firsts:
            named.setdefault(name, severity)
        return list(named.items())

    def _items(self) -> Iterator[Finding]:
        packed = super()._items()
        return heapq.merge(packed, self._loose, key=sort_key) if self._loose else packed

    def counts(self) -> Counter[Enforcement]:
        """Findings per enforcement, without unpacking them."""
        if self._counts is None:
            self._counts = Counter(f.enforcement for f in chain.from_iterable(_unpack(d) for _, d in self._blocks))
        return self._counts + Counter(f.enforcement for f in self._loose)

    def pieces(self, variant: str, render: Callable[[Finding], T]) -> Iterator[tuple[SortKey, str | T]] | None:
        """Each finding's piece of a report, in order, as the workers rendered it (``render``: the loose ones,
        merged in at their place as ``__iter__`` merges them); None unless every block has ``variant``."""
        blobs = self._blobs(variant)
        if blobs is None:
            return None
        runs = self._runs(variant, render, blobs, keyed=True)
        return (pair for keys, _, pieces in runs for pair in zip(keys or (), pieces, strict=True))

    def runs(self, variant: str, render: Callable[[Finding], T]) -> Iterator[list[str | T]] | None:
        """``pieces`` as runs of consecutive findings, without their keys: each block's (one string when the
        workers joined them: ``Joined``), cut where a loose finding goes, and each loose one alone; so that a
        reporter joins a run at once rather than piece by piece."""
        blobs = self._blobs(variant)
        if blobs is None:
            return None
        return (_whole(pieces) for _, _, pieces in self._runs(variant, render, blobs, keyed=False))

    def file_runs(self, variant: str, render: Callable[[Finding], T]) -> Iterator[tuple[str, list[str | T]]] | None:
        """``runs`` cut where the file changes, each with its file (a report grouped by file: text)."""
        blobs = self._blobs(variant)
        if blobs is None:
            return None
        return self._file_runs(variant, render, blobs)

    def _file_runs(self, variant: str, render: Callable[[Finding], T], blobs: list[BlockPieces | bytes],
                   ) -> Iterator[tuple[str, list[str | T]]]:
        for keys, files, pieces in self._runs(variant, render, blobs, keyed=False, split=True):
            if keys is not None:  # a loose finding alone, or pieces cut around one: their files known one by one
                for file, group in groupby(zip(keys, pieces, strict=True), key=lambda kp: kp[0][0]):
                    yield file, [piece for _, piece in group]
            elif len(files) == 1:
                yield files[0][0], _whole(pieces)
            elif isinstance(pieces, Joined):  # a block's pieces, joined: cut at each change of file
                for (file, _), text in zip(files, pieces.cuts(accumulate(n for _, n in files)), strict=True):
                    yield file, [text]
            else:
                start = 0
                for file, n in files:
                    yield file, pieces[start:start + n]
                    start += n

    def _blobs(self, variant: str) -> list[BlockPieces | bytes] | None:
        blobs = [p for p in self._pieces if p is not None]
        if not self._blocks or len(blobs) != len(self._blocks) or variant not in _unpack_pieces(blobs[0])[3]:
            return None
        return blobs

    def _runs(self, variant: str, render: Callable[[Finding], T], blobs: list[BlockPieces | bytes], keyed: bool,
              split: bool = False) -> Iterator[tuple[list[SortKey] | None, list[tuple[str, int]], list[Any] | Joined]]:
        """Runs of consecutive pieces and, when ``keyed`` (else only where a loose finding goes), their keys,
        one piece each (``split``: also where a loose finding goes); else a whole block's, with its files (each
        with its number of findings), joined when the workers joined them."""
        loose = [(sort_key(f), f) for f in self._loose]
        transform = self._transform
        at = 0
        for blob in blobs:
            keys_blob, last, files, variants = _unpack_pieces(blob)  # one block's pieces held at a time
            pieces = variants[variant]
            if not keyed and not (at < len(loose) and loose[at][0] < last):
                yield None, files, pieces  # the keys are not read
                continue
            if isinstance(pieces, Joined) and (keyed or split):
                pieces = pieces.split()
            keys: list[SortKey] = _loads(keys_blob)
            start = 0
            while at < len(loose) and loose[at][0] < last:
                cut = bisect_right(keys, loose[at][0], start)  # on a tie the packed one first, as heapq.merge
                if cut > start:
                    yield keys[start:cut], files, _whole(_cut(pieces, start, cut))
                    start = cut
                yield [loose[at][0]], files, [render(transform(loose[at][1]) if transform else loose[at][1])]
                at += 1
            yield (keys, files, _whole(pieces)) if start == 0 else \
                (keys[start:], files, _whole(_cut(pieces, start, len(keys))))
            del keys, pieces, variants
        for key, f in loose[at:]:
            yield [key], [], [render(transform(f) if transform else f)]


def _cut(pieces: list[str] | Joined, start: int, stop: int) -> list[str] | Joined:
    """Pieces ``start`` to ``stop - 1`` (``start < stop``)."""
    if isinstance(pieces, Joined):
        return Joined(pieces.cut(start, stop), pieces.separator, b"")  # (not cut again: ``runs`` only)
    return pieces[start:stop]


def _whole(pieces: list[Any] | Joined) -> list[Any]:
    """A run as a list whose items a reporter joins: a joined run is one such item (its text)."""
    return [pieces.text] if isinstance(pieces, Joined) else pieces


def counts(findings: Iterable[Finding]) -> Counter[Enforcement]:
    """Findings per enforcement (a packed run's without unpacking them)."""
    if isinstance(findings, PackedFindings):
        return findings.counts()
    return Counter(f.enforcement for f in findings)


def pack(items: list[Any], *, compress: bool = True) -> tuple[int, bytes]:
    """A block of ``PackedList``: pickled and compressed (or only pickled: faster, and larger)."""
    return len(items), _dumps(items, compress)


def _dumps(value: Any, compress: bool) -> bytes:
    import pickle  # here, not at the top: ~2 ms of every start-up, and a small run packs nothing

    data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    return zlib.compress(data, 1) if compress else data


def _loads(data: bytes) -> Any:
    """What ``_dumps`` made: a pickle starts with its protocol opcode (0x80), a zlib stream never does."""
    import pickle

    return pickle.loads(data if data[:1] == b"\x80" else zlib.decompress(data))


def is_compressed(data: bytes) -> bool:
    return data[:1] != b"\x80"


@record
class Block:
    """One unit's findings, sorted and packed (in the worker that evaluated them), and their reports' pieces."""

    count: int
    first: SortKey
    last: SortKey
    data: bytes  # the findings, pickled and compressed
    counts: Counter[Enforcement]
    pieces: BlockPieces | bytes | None = None  # their reports' pieces: as they are, or pickled and compressed
    summaries: list[PolicySummary] | None = None  # of these findings, when the run wants summaries
    policies: PolicyFirsts | None = None  # with pieces: each policy its findings name, at its first finding

    def raw_bytes(self) -> int:
        """The bytes of this block kept uncompressed (about: a piece's characters counted as bytes)."""
        data = len(self.data) if self.data and not is_compressed(self.data) else 0
        pieces = self.pieces
        return data + (pieces.size() if isinstance(pieces, BlockPieces) else 0)


class BlockPieces(NamedTuple):
    """A block's pieces of the reports: the findings' keys (pickled apart: read only to place a loose finding
    among them), the last key, the files with their numbers of findings, and per report variant the pieces.
    Kept as they are when the block is not compressed: the parent then reads them as they arrive with the
    block, not again when it writes the report (a pickle within the pickle cost the report's writing a copy
    and a decoding of every piece: ~25 ms of a 10,000-document JSON report's tail)."""

    keys: bytes
    last: SortKey
    files: list[tuple[str, int]]
    variants: dict[str, list[str] | Joined]

    def size(self) -> int:
        return len(self.keys) + sum(len(v.text) if isinstance(v, Joined) else sum(map(len, v))
                                    for v in self.variants.values())


def pack_block(findings: list[Finding], render: Render | None = None, *, compress: bool = True,
               findings_too: bool = True) -> Block:
    """``findings`` (not empty) sorted in place and packed; with ``render``, their pieces too. Without
    ``compress`` only pickled: a run's first few megabytes are (``engine.batch``), saving the time that
    compressing and decompressing them again would take. Without ``findings_too`` (with ``render``) the
    findings themselves are left out (``NOT_KEPT``): every report asked for is made of their pieces."""
    findings.sort(key=sort_key)
    pieces = None
    policies: PolicyFirsts | None = None
    if render is not None:  # the keys pickled apart: the parent reads them only to place a loose finding
        keys = [sort_key(f) for f in findings]
        files = [(file, len(list(group))) for file, group in groupby(f.resource.file for f in findings)]
        payload = BlockPieces(_dumps(keys, False), keys[-1], files, render(findings))
        pieces = _dumps(tuple(payload), True) if compress else payload
        # each policy's first finding (read backwards: the first one's index is written last)
        firsts = {f.policy: i for i, f in zip(range(len(findings) - 1, -1, -1), reversed(findings), strict=True)}
        policies = tuple((name, keys[i], findings[i].severity) for name, i in sorted(firsts.items(), key=_second))
    data = pack(findings, compress=compress)[1] if findings_too or pieces is None else NOT_KEPT
    return Block(len(findings), sort_key(findings[0]), sort_key(findings[-1]), data,
                 Counter(f.enforcement for f in findings), pieces, policies=policies)


def _second(pair: tuple[str, int]) -> int:
    return pair[1]


class Packer:
    """Collects the blocks of consecutive units; ``in_order`` says whether they stayed in report order."""

    def __init__(self) -> None:
        self.blocks: list[tuple[int, bytes]] = []
        self.pieces: list[BlockPieces | bytes | None] = []
        self.policies: list[PolicyFirsts | None] = []
        self.counts: Counter[Enforcement] = Counter()
        self.in_order = True
        self._last: SortKey | None = None

    def add(self, findings: list[Finding]) -> None:
        if findings:
            self.add_block(pack_block(findings))

    def add_block(self, block: Block) -> None:
        if self._last is not None and block.first < self._last:
            self.in_order = False
        self._last = block.last
        self.blocks.append((block.count, block.data))
        self.pieces.append(block.pieces)
        self.policies.append(block.policies)
        self.counts.update(block.counts)

    def packed(self, loose: Iterable[Finding]) -> PackedFindings:
        return PackedFindings(self.blocks, loose, pieces=self.pieces, counts=self.counts, policies=self.policies)

    def findings(self) -> Iterator[Finding]:
        """Every finding added, unpacked (to fall back to a plain list)."""
        for _, data in self.blocks:
            yield from _unpack(data)


#: A block's findings when only their pieces were kept (``pack_block``).
NOT_KEPT = b""


class NotKept(RuntimeError):
    """The findings of a run whose workers sent only their pieces of the reports were read."""


def _unpack(data: bytes) -> list[Any]:
    if data == NOT_KEPT:
        raise NotKept("the findings were not kept, only their pieces of the text/JSON reports "
                      "(engine.batch.evaluate_paths pieces_only)")
    findings: list[Any] = _loads(data)  # packed by this process or its workers
    return findings


def _unpack_pieces(data: BlockPieces | bytes) -> BlockPieces:
    if isinstance(data, BlockPieces):
        return data
    return BlockPieces(*_loads(data))  # made by this process's workers (pack_block)
