"""Output a piece at a time: many small encoded texts joined into pieces of a useful size for a writer."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

#: About this many characters a piece (a text longer than that is a piece of its own, never copied).
PIECE_CHARS = 1 << 16


def batched(texts: Iterable[str], piece_chars: int = PIECE_CHARS) -> Iterator[str]:
    """The texts, consecutive ones joined into pieces of about ``piece_chars`` characters."""
    held: list[str] = []
    size = 0
    for text in texts:
        if len(text) >= piece_chars:  # a quota finding naming 50,000 workloads: megabytes, passed on as it is
            if held:
                yield "".join(held)
                held, size = [], 0
            yield text
            continue
        held.append(text)
        size += len(text)
        if size >= piece_chars:
            yield "".join(held)
            held, size = [], 0
    if held:
        yield "".join(held)


def separated(texts: Iterable[str], separator: str) -> Iterator[str]:
    """The texts with ``separator`` before each but the first (a JSON array's items, a stream's documents)."""
    it = iter(texts)
    for first in it:
        yield first
        break
    for text in it:
        yield separator + text
