"""Reporters: pure functions ``render(result, ctx) -> str``, one module per output format.

Usable without the CLI::

    from policy_engine.reporters import ReportContext, render
    print(render("sarif", engine.evaluate(load_paths(["k8s/"])), ReportContext(policies=engine.policies)))
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import repeat
from typing import TextIO

from policy_engine.engine.findings import Finding, Result
from policy_engine.engine.packed import Joined, Render
from policy_engine.reporters.context import ReportContext, variant

#: format name -> module holding its ``render``; imported only when that format is asked for.
FORMATS: dict[str, str] = {
    "text": "policy_engine.reporters.text",
    "json": "policy_engine.reporters.json_report",
    "sarif": "policy_engine.reporters.sarif",
    "junit": "policy_engine.reporters.junit",
    "markdown": "policy_engine.reporters.markdown",
    "policyreport": "policy_engine.reporters.policyreport",
    "codequality": "policy_engine.reporters.codequality",
}

Renderer = Callable[[Result, ReportContext], str]
Streamer = Callable[[Result, ReportContext], Iterator[str]]


def renderer(fmt: str) -> Renderer:
    """The format's ``render``, fed names and messages with control characters and undecodable bytes escaped."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    render_fn: Renderer = importlib.import_module(FORMATS[fmt]).render

    def render_safely(result: Result, ctx: ReportContext) -> str:
        from policy_engine.reporters import safe

        return render_fn(safe.result(result), safe.context(ctx, result))

    return render_safely


def streamer(fmt: str) -> Streamer:
    """As ``renderer``, a piece at a time: formats with a ``stream`` (all but Markdown, whose comment is
    small whatever the run) never hold the whole report, and read a large run's packed findings once per
    pass; the others yield their one string."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    module = importlib.import_module(FORMATS[fmt])
    stream_fn: Streamer | None = getattr(module, "stream", None)

    def stream_safely(result: Result, ctx: ReportContext) -> Iterator[str]:
        from policy_engine.reporters import safe

        clean, clean_ctx = safe.result(result), safe.context(ctx, result)
        if stream_fn is not None:
            return stream_fn(clean, clean_ctx)
        return iter((module.render(clean, clean_ctx),))

    return stream_safely


def piece_renderer(reports: Iterable[tuple[str, ReportContext]]) -> Render | None:
    """For the reports asked for whose format renders a finding on its own (a module's ``piece``: text,
    JSON), a function giving each finding of a unit its piece of each: run by the worker processes of a
    parallel ``check``, so that the parent only joins the pieces (``context.pieces``). None: no such format."""
    from policy_engine.reporters import safe

    makers: dict[str, tuple[Callable[[Finding, ReportContext], str], ReportContext, str | None]] = {}
    for fmt, ctx in reports:
        module = importlib.import_module(FORMATS[fmt])
        piece = getattr(module, "piece", None)
        if piece is not None and ctx.cost_diff is None:  # joined here when the report joins them all alike
            makers[variant(fmt, ctx)] = (piece, ctx, getattr(module, "PIECE_SEPARATOR", None))
    if not makers:
        return None
    clean_finding = safe.finding

    def render(findings: Sequence[Finding]) -> dict[str, list[str] | Joined]:
        clean = list(map(clean_finding, findings))
        out: dict[str, list[str] | Joined] = {}
        for name, (piece, ctx, separator) in makers.items():
            pieces = list(map(piece, clean, repeat(ctx)))  # (no partial's keywords merged per finding)
            out[name] = pieces if separator is None else Joined.of(pieces, separator)
        return out

    return render


def pieces_suffice(reports: Iterable[tuple[str, ReportContext]]) -> bool:
    """Whether every report asked for is made of the pieces ``piece_renderer`` renders (text and JSON, without
    ``--base``): then a parallel run's workers need not send the findings themselves."""
    return all(getattr(importlib.import_module(FORMATS[fmt]), "piece", None) is not None and ctx.cost_diff is None
               for fmt, ctx in reports)


def render(fmt: str, result: Result, ctx: ReportContext) -> str:
    return renderer(fmt)(result, ctx)


#: A report's pieces go to their file at most this many characters at a time. A larger one (a parallel run's
#: unit of JSON findings, about a megabyte) handed whole to the text layer is copied into bytes of its own size:
#: with the heap settings of a large ``check`` (``engine.batch``) a fresh mapping, faulted in page by page and
#: unmapped again; a slice of this size is copied within the heap (a 10,000-document JSON report: ~9 -> ~3 ms).
WRITE_CHARS = 1 << 16


def write(out: TextIO, pieces: Iterable[str]) -> None:
    """Write a report's pieces (``streamer``'s) to ``out``."""
    for piece in pieces:
        if len(piece) <= WRITE_CHARS:
            out.write(piece)
        else:
            for start in range(0, len(piece), WRITE_CHARS):
                out.write(piece[start:start + WRITE_CHARS])


__all__ = ["FORMATS", "ReportContext", "piece_renderer", "pieces_suffice", "render", "renderer", "streamer", "write"]
