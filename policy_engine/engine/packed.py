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
"""

from __future__ import annotations

import copy
import heapq
import pickle
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from typing import Any, Generic, TypeVar, overload

from policy_engine.engine.findings import Finding

#: Past this many findings a batch run keeps them packed (below it, objects: faster to report).
PACK_AFTER = 50_000
#: Past this many (policy, resource) pairs matched, likewise (100,000 documents match some 750,000: 50 MB).
PACK_PAIRS_AFTER = 200_000

T = TypeVar("T")

SortKey = tuple[str, int, str, str]


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
                 transform: Callable[[Finding], Finding] | None = None) -> None:
        super().__init__(blocks, transform)
        self._loose = sorted(loose, key=sort_key)
        self._len += len(self._loose)

    def _items(self) -> Iterator[Finding]:
        packed = super()._items()
        return heapq.merge(packed, self._loose, key=sort_key) if self._loose else packed


def pack(items: list[Any]) -> tuple[int, bytes]:
    """A block of ``PackedList``."""
    return len(items), zlib.compress(pickle.dumps(items, pickle.HIGHEST_PROTOCOL), 1)


class Packer:
    """Collects the sorted findings of consecutive units as blocks; ``pack`` says whether they stayed in order."""

    def __init__(self) -> None:
        self.blocks: list[tuple[int, bytes]] = []
        self.in_order = True
        self._last: SortKey | None = None

    def add(self, findings: list[Finding]) -> None:
        if not findings:
            return
        findings.sort(key=sort_key)
        first, last = sort_key(findings[0]), sort_key(findings[-1])
        if self._last is not None and first < self._last:
            self.in_order = False
        self._last = last
        self.blocks.append(pack(findings))

    def findings(self) -> Iterator[Finding]:
        """Every finding added, unpacked (to fall back to a plain list)."""
        for _, data in self.blocks:
            yield from _unpack(data)


def _unpack(data: bytes) -> list[Any]:
    findings: list[Any] = pickle.loads(zlib.decompress(data))  # packed by this process, in memory
    return findings
