"""Errors as values: every problem the engine reports carries a source span and renders with a caret.

Policy files, manifests and pricing catalogs all report through this one type so that the CLI, the
webhook's logs and the test runner print the same ``file:line:col: error[code]: message`` shape.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import field
from enum import Enum

from policy_engine.records import frozen_record


@functools.total_ordering
@frozen_record
class Span:
    """A region of a source file; lines and columns are 1-based, ``end_*`` is exclusive of nothing. Spans
    order by their fields, in order (file, line, column, end line, end column)."""

    file: str
    line: int
    column: int = 1
    end_line: int | None = None
    end_column: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def __lt__(self, other: Span) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.file, self.line, self.column, self.end_line, self.end_column) < (
            other.file, other.line, other.column, other.end_line, other.end_column)


class Level(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@frozen_record
class Diagnostic:
    """One located problem. ``code`` is stable (documented in docs/language.md) so tools can match on it."""

    span: Span
    code: str
    message: str
    level: Level = Level.ERROR
    hint: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_error(self) -> bool:
        return self.level is Level.ERROR

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.span.file, self.span.line, self.span.column, self.code)

    def headline(self) -> str:
        return f"{self.span}: {self.level.value}[{self.code}]: {self.message}"

    def render(self, source: str | None = None) -> str:
        """The headline, the offending source line and a caret under the span, then the hint."""
        out = [self.headline()]
        if source is not None:
            lines = source.splitlines()
            if 1 <= self.span.line <= len(lines):
                text = lines[self.span.line - 1].expandtabs(1)
                start = max(self.span.column, 1)
                if self.span.end_line == self.span.line and self.span.end_column:
                    width = max(self.span.end_column - start, 1)
                else:
                    width = max(len(text.rstrip()) - start + 1, 1)
                text, start, width = _window(text, start, width)
                gutter = f"{self.span.line:>4} | "
                out.append(gutter + text)
                out.append(" " * (len(gutter) - 2) + "| " + " " * (start - 1) + "^" * width)
        for note in self.notes:
            out.append(f"  = note: {note}")
        if self.hint:
            out.append(f"  = help: {self.hint}")
        return "\n".join(out)

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.span.file,
            "line": self.span.line,
            "column": self.span.column,
            "code": self.code,
            "level": self.level.value,
            "message": self.message,
            "hint": self.hint,
        }


#: The most of a source line a diagnostic quotes: the offending line only, and of it at most this much.
QUOTE_WIDTH = 160


def _window(text: str, start: int, width: int) -> tuple[str, int, int]:
    """At most ``QUOTE_WIDTH`` characters of ``text`` around column ``start``, non-printables as ``?``."""
    if len(text) > QUOTE_WIDTH:
        first = max(0, min(start - 1 - QUOTE_WIDTH // 4, len(text) - QUOTE_WIDTH))
        cut = text[first:first + QUOTE_WIDTH]
        text = ("…" if first else "") + cut + ("…" if first + QUOTE_WIDTH < len(text) else "")
        start = start - first + (1 if first else 0)
        width = max(1, min(width, QUOTE_WIDTH - (start - 1)))
    if not text.isprintable():
        text = "".join(c if c.isprintable() else "?" for c in text)  # one column each: the caret stays put
    return text, start, width


def render_all(diagnostics: Iterable[Diagnostic], sources: dict[str, str] | None = None) -> str:
    """Render diagnostics sorted by location, each with its source line when the source is known."""
    sources = sources or {}
    ordered = sorted(diagnostics, key=Diagnostic.sort_key)
    return "\n\n".join(d.render(sources.get(d.span.file)) for d in ordered)



def file_text(file: str) -> str | None:
    """A diagnostic's file read to show its line under the caret; None when it is not a readable text file
    (stdin's ``<stdin>``, a file gone or undecodable): the diagnostic is then rendered without it."""
    if file.startswith("<") and file.endswith(">"):  # <stdin>, <admission>, <cluster>: not files
        return None
    try:
        with open(file, encoding="utf-8-sig") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None
