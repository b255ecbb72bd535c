"""A YAML stream cut at its ``---`` lines into pieces of about a given size, read as it arrives.

``check`` splits its work by bytes, not by files: a large file, or stdin (``helm template … | check -``),
becomes segments that worker processes load in parallel, each knowing the line it starts at. Because
``documents.load_text`` resumes after invalid YAML at the next ``---`` line, a stream loads into the same
documents and errors whether it is loaded whole or segment by segment. The stream is read in blocks and
a segment is handed out as soon as it is complete, so memory holds a few segments, never the stream.

A cut is made only at a ``---`` line at the start of a line (a document start: YAML forbids it inside
any scalar) and never right after a ``%`` directive, which belongs to the document that follows it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from policy_engine.records import frozen_record

#: A document start at the beginning of a line (bytes: cuts are found before decoding).
_START = re.compile(rb"^---(?=[ \t\r\n]|$)", re.M)
BLOCK = 1 << 20


@frozen_record
class Segment:
    """Whole documents of a stream: ``data`` begins at line ``first_line`` of the stream."""

    data: bytes
    first_line: int


def cut_points(data: bytes, start: int = 0) -> Iterator[int]:
    """Offsets in ``data`` (after ``start``) of ``---`` lines a stream may be cut before."""
    for match in _START.finditer(data, start):
        at = match.start()
        if at == 0:
            continue
        previous = data.rfind(b"\n", 0, at - 1) + 1
        if data.startswith(b"%", previous):
            continue  # a directive belongs to the document after the ---
        yield at


def segments(stream: BinaryIO, size: int) -> Iterator[Segment]:
    """``stream`` in segments of at least ``size`` bytes (the last may be smaller), cut at ``---`` lines.

    The bytes not yet handed out are ``buffer[start:]``: a segment is sliced off by moving ``start``, and the
    rest is copied only when the next block is read (not at every cut: some 20 MB of copying, and the pages
    to hold it, for a 7 MB stream)."""
    buffer = b""
    start = 0
    line = 1
    eof = False
    while not eof:
        block = stream.read(max(size, BLOCK))
        eof = not block
        buffer = buffer[start:] + block
        start = 0
        while len(buffer) - start >= size or (eof and start < len(buffer)):
            cut = next(cut_points(buffer, start + size), None) if len(buffer) - start > size else None
            if cut is None:
                if not eof:
                    break  # the next cut is further on: read more
                cut = len(buffer)
            piece = buffer[start:cut]
            start = cut
            yield Segment(piece, line)
            line += piece.count(b"\n")


def split(data: bytes, size: int) -> list[Segment]:
    """Bytes already in memory (a large file), cut the same way."""
    out: list[Segment] = []
    line = 1
    start = 0
    while start < len(data):
        cut = next(cut_points(data, start + size), None) if len(data) - start > size else None
        end = len(data) if cut is None else cut
        out.append(Segment(data[start:end], line))
        line += data.count(b"\n", start, end)
        start = end
    return out
