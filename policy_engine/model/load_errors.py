"""Load errors: a file or document that could not become a Kubernetes object, as a located diagnostic.

One type for both steps of loading: reading a source (``model/sources.py``: not found, not a regular file, too
large, binary, not UTF-8, a link out of the tree) and turning its text into documents (``model/documents.py``:
invalid YAML or JSON, not a mapping, no kind, an alias bomb, nested too deep, a duplicate key).
"""

from __future__ import annotations

from policy_engine.diagnostics import Diagnostic, Level, Span
from policy_engine.records import frozen_record


@frozen_record
class LoadError:
    """A file or document that could not become a Kubernetes object; ``code`` is stable."""

    diagnostic: Diagnostic

    @property
    def file(self) -> str:
        return self.diagnostic.span.file

    @property
    def line(self) -> int:
        return self.diagnostic.span.line

    @property
    def message(self) -> str:
        return self.diagnostic.message


def error(file: str, line: int, code: str, message: str, column: int = 1, hint: str | None = None) -> LoadError:
    """An error at ``file``:``line`` (and ``column``); lines and columns start at 1."""
    return LoadError(Diagnostic(Span(file, max(line, 1), max(column, 1)), code, message, hint=hint))


def note(file: str, code: str, message: str) -> LoadError:
    """A warning-level item: reported, never a failure (an empty file, a skipped non-manifest)."""
    return LoadError(Diagnostic(Span(file, 1, 1), code, message, level=Level.WARNING))


def printable(text: str, width: int = 120) -> str:
    """``text`` with control characters escaped and cut to ``width``: safe to put in a one-line message."""
    shown = text.encode("utf-8", "backslashreplace").decode("utf-8")
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in shown)
    return shown if len(shown) <= width else shown[: width - 1] + "…"
