"""The one exception the workload model raises: a malformed field, located in its document."""

from __future__ import annotations

from policy_engine.model.documents import Document, FieldPath
from policy_engine.syntax.diagnostics import Diagnostic, Span


class WorkloadError(Exception):
    """A document that is a workload but has a field the model cannot read (``replicas: "abc"``).

    The engine reports ``diagnostic`` as an error for that document; the other documents go on.
    """

    def __init__(self, diagnostic: Diagnostic) -> None:
        self.diagnostic = diagnostic
        super().__init__(diagnostic.headline())


def dotted(path: FieldPath) -> str:
    return ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path).replace(".[", "[")


def field_error(
    doc: Document, path: FieldPath, code: str, message: str, hint: str | None = None
) -> WorkloadError:
    """A ``WorkloadError`` at the line of ``path`` whose message names the field."""
    span = Span(doc.file, doc.line_of(path))
    return WorkloadError(
        Diagnostic(span, code, f"{doc.kind} {_name(doc)}: {dotted(path)}: {message}", hint=hint)
    )


def _name(doc: Document) -> str:
    meta = doc.obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return str(name or "<unnamed>")
