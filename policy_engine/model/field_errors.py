"""A located ``WorkloadError`` for a malformed field of a document (the error itself is in ``policy_engine.errors``)."""

from __future__ import annotations

from functools import lru_cache

from policy_engine.diagnostics import Diagnostic, Span
from policy_engine.errors import WorkloadError
from policy_engine.model.documents import Document, FieldPath


@lru_cache(maxsize=256)  # a few paths, over and over (a job's deadline field, in its run time's reason)
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
