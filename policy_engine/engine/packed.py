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
"""

from __future__ import annotations

import heapq
import pickle
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from typing import Any, overload

from policy_engine.engine.findings import Finding

#: Past this many findings a batch run keeps them packed (below it, objects: faster to report).
PACK_AFTER = 50_000

SortKey = tuple[str, int, str, str]


def sort_key(f: Finding) -> SortKey:
    """The order of a report: file, line, policy, resource name."""
    return (f.resource.file, f.line, f.policy, f.resource.name)


class PackedFindings(Sequence[Finding]):
    """Sorted findings as compressed blocks plus a few loose ones; read one block at a time."""

    def __init__(self, blocks: Sequence[tuple[int, bytes]], loose: Iterable[Finding] = (),
                 transform: Callable[[Finding], Finding] | None = None) -> None:
        self._blocks = tuple(blocks)
        self._loose = sorted(loose, key=sort_key)
        self._transform = transform
        self._len = sum(n for n, _ in self._blocks) + len(self._loose)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Finding]:
        packed = chain.from_iterable(_unpack(data) for _, data in self._blocks)
        merged = heapq.merge(packed, self._loose, key=sort_key) if self._loose else packed
        return map(self._transform, merged) if self._transform is not None else merged

    @overload
    def __getitem__(self, index: int) -> Finding: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Finding]: ...
    def __getitem__(self, index: int | slice) -> Finding | Sequence[Finding]:
        return list(self)[index]  # not on any reporting path: unpacks everything

    def mapped(self, transform: Callable[[Finding], Finding]) -> PackedFindings:
        """The same findings, each passed through ``transform`` as it is read."""
        inner = self._transform
        chained = transform if inner is None else (lambda f: transform(inner(f)))
        view = PackedFindings((), transform=chained)
        view._blocks, view._loose, view._len = self._blocks, self._loose, self._len
        return view


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
        self.blocks.append((len(findings), zlib.compress(pickle.dumps(findings, pickle.HIGHEST_PROTOCOL), 1)))

    def findings(self) -> Iterator[Finding]:
        """Every finding added, unpacked (to fall back to a plain list)."""
        for _, data in self.blocks:
            yield from _unpack(data)


def _unpack(data: bytes) -> list[Any]:
    findings: list[Any] = pickle.loads(zlib.decompress(data))  # packed by this process, in memory
    return findings
