"""A stream cut at its ``---`` lines loads into what it loads whole, and is read as it arrives."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.model import segments as seg
from policy_engine.model.documents import Document, LoadError, load_text
from policy_engine.model.segments import segments, split

_DOCS = [
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  a: '1'\n",
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-{i}\nspec:\n  replicas: 2\n",
    "# just a comment {i}\n",
    "kind: Pod\nmetadata:\n  name: broken-{i}\n   labels: {{}}\n",  # invalid YAML
    "kind: Pod\nmetadata: {{name: \"open-{i}}}\n",  # an unterminated quote runs into the next document
    "- a list {i}\n",  # not a mapping
    "apiVersion: v1\nkind: List\nitems:\n- kind: Service\n  metadata: {{name: s-{i}}}\n",
    "data: |\n  text {i}\n  --- not a document start (indented)\n",
    "",
]


def _loaded(items: list[Document | LoadError]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for item in items:
        if isinstance(item, Document):
            out.append(("doc", item.line, item.obj, item.line_of(("metadata", "name"))))
        else:
            out.append(("error", item.diagnostic.code, item.line))
    return out


streams = st.lists(st.sampled_from(range(len(_DOCS))), min_size=1, max_size=12).map(
    lambda picks: "".join(("---\n" if n or i % 2 else "") + _DOCS[k].format(i=n)
                          for n, (i, k) in enumerate(enumerate(picks))))


@settings(max_examples=150, deadline=None)
@given(stream=streams, size=st.integers(min_value=1, max_value=200))
def test_loading_the_segments_gives_what_loading_the_stream_gives(stream: str, size: int) -> None:
    whole = _loaded(list(load_text(stream, "s.yaml")))
    pieces = split(stream.encode(), size)
    assert b"".join(p.data for p in pieces) == stream.encode()
    whole = [x for x in whole if x[:2] != ("error", "W601")]  # an empty *file* is noticed; a piece is not
    cut: list[Document | LoadError] = []
    for piece in pieces:
        cut.extend(load_text(piece.data.decode(), "s.yaml", piece.first_line, report_empty=False))
    assert _loaded(cut) == whole


@settings(max_examples=50, deadline=None)
@given(stream=streams, size=st.integers(min_value=1, max_value=200))
def test_a_stream_read_in_blocks_is_cut_as_bytes_in_memory_are(stream: str, size: int) -> None:
    data = stream.encode()
    assert list(segments(io.BytesIO(data), size)) == split(data, size)


def test_a_directive_stays_with_its_document() -> None:
    data = b"kind: A\n...\n%YAML 1.1\n---\nkind: B\n"
    assert [p.data for p in split(data, 1)] == [data]  # no cut between %YAML and its ---


class _Pipe(io.RawIOBase):
    """stdin that hands out its bytes a block at a time and counts what was read."""

    def __init__(self, data: bytes) -> None:
        self.data, self.given = data, 0

    def read(self, n: int = -1) -> bytes:
        chunk = self.data[self.given:self.given + (n if n >= 0 else len(self.data))]
        self.given += len(chunk)
        return chunk


def test_stdin_is_cut_as_it_arrives_not_read_whole_first() -> None:
    doc = b"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n" + b"# padding\n" * 100
    pipe = _Pipe(doc * 50_000)  # ~55 MB
    stream = segments(pipe, 64 * 1024)  # type: ignore[arg-type]
    first = next(stream)
    assert len(first.data) >= 64 * 1024 and first.first_line == 1
    assert pipe.given <= 4 << 20, "the first segment came only after most of the stream was read"
    second = next(stream)
    assert second.first_line == 1 + first.data.count(b"\n")


@settings(max_examples=100, deadline=None)
@given(stream=streams, size=st.integers(min_value=1, max_value=120), block=st.integers(min_value=1, max_value=90))
def test_a_stream_read_in_small_blocks_is_cut_as_bytes_in_memory_are(stream: str, size: int, block: int) -> None:
    """Many blocks per segment and many segments per block: the same cuts, lines and bytes."""
    data = stream.encode()
    original = seg.BLOCK
    seg.BLOCK = block
    try:
        assert list(segments(io.BytesIO(data), size)) == split(data, size)
    finally:
        seg.BLOCK = original
