"""Pieces of text filed under keys and read back key by key, held on disk past a budget.

A report whose order is not the findings' (JUnit's suites by policy, PolicyReport's documents by
namespace) is written by filing each piece under its key as the findings are read, then reading the keys
back in the report's order: with hundreds of thousands of findings the pieces go to an unnamed temporary
file, a budget's worth at a time, and only where each key's pieces lie is kept in memory.
"""

from __future__ import annotations

import struct
import tempfile
from array import array
from collections.abc import Hashable, Iterator
from types import TracebackType
from typing import IO, Generic, TypeVar

K = TypeVar("K", bound=Hashable)

_LENGTH = struct.Struct("<I")
#: Text held in memory before it is written out (in characters).
BUDGET = 4 << 20


class Spool(Generic[K]):
    """``add(key, text)`` as the pieces come; ``read(key)`` gives a key's pieces back in the order added."""

    def __init__(self, budget: int | None = None) -> None:
        self._budget = BUDGET if budget is None else budget
        self._held: dict[K, list[str]] = {}
        self._size = 0
        self._chunks: dict[K, array[int]] = {}  # where each key's spilled pieces lie in the file: offset, length…
        self._file: IO[bytes] | None = None

    def __enter__(self) -> Spool[K]:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def add(self, key: K, text: str) -> None:
        held = self._held.get(key)
        if held is None:
            held = self._held[key] = []
        held.append(text)
        self._size += len(text)
        if self._size > self._budget:
            self._spill()

    def __contains__(self, key: object) -> bool:
        return key in self._held or key in self._chunks

    @property
    def spilled(self) -> bool:
        """Whether any text went to disk."""
        return self._file is not None

    def read(self, key: K) -> Iterator[str]:
        """The key's pieces, in the order they were added (those on disk first: they came first)."""
        if self._file is not None:
            chunks = self._chunks.get(key, ())
            for offset, length in zip(chunks[::2], chunks[1::2], strict=True):
                self._file.seek(offset)
                data = self._file.read(length)
                at = 0
                while at < length:
                    (size,) = _LENGTH.unpack_from(data, at)
                    at += _LENGTH.size
                    yield data[at:at + size].decode("utf-8", "surrogatepass")
                    at += size
        yield from self._held.get(key, ())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._held.clear()
        self._chunks.clear()

    def _spill(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        out = self._file
        out.seek(0, 2)
        for key, pieces in self._held.items():
            data = b"".join(_LENGTH.pack(len(b)) + b for b in (p.encode("utf-8", "surrogatepass") for p in pieces))
            chunks = self._chunks.get(key)
            if chunks is None:
                chunks = self._chunks[key] = array("q")
            chunks.extend((out.tell(), len(data)))
            out.write(data)
        self._held.clear()
        self._size = 0
