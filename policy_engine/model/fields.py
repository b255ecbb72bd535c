"""Typed reads of manifest fields that raise a located ``WorkloadError`` when a field is malformed."""

from __future__ import annotations

import re
from typing import Any

from policy_engine.model.documents import Document, FieldPath
from policy_engine.model.field_errors import field_error


def get(obj: Any, path: FieldPath) -> Any:
    """The value at ``path`` or None when any step is missing or of the wrong shape."""
    node = obj
    for key in path:  # the hottest loop of the workload model: mappings first, one test each
        if isinstance(node, dict):
            if not isinstance(key, str):
                return None
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            node = node[key]
        else:
            return None
    return node


def mapping(doc: Document, path: FieldPath) -> dict[str, Any] | None:
    value = get(doc.obj, path)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise field_error(doc, path, "E701", f"expected a mapping, found {type(value).__name__}")
    return value


def sequence(doc: Document, path: FieldPath, holder: dict[str, Any] | None = None) -> list[Any]:
    """The list at ``path`` ([] when absent); ``holder``: the mapping at ``path[:-1]``, already read."""
    value = get(doc.obj, path) if holder is None else holder.get(path[-1])  # type: ignore[arg-type]
    if value is None:
        return []
    if not isinstance(value, list):
        raise field_error(doc, path, "E701", f"expected a list, found {type(value).__name__}")
    return value


#: ``integer``'s ``value`` when the caller has not read the field.
UNREAD: Any = object()

_PLACEHOLDER = re.compile(r"\$\{?[A-Za-z_]|\{\{.*\}\}|<[A-Za-z_ -]+>|^[A-Z][A-Z0-9]*_[A-Z0-9_]+$")


def placeholder_hint(value: object) -> str | None:
    """A hint when a value is an unrendered template variable (``$NUM_NODES``, ``{{ .Values.x }}``)."""
    if isinstance(value, str) and _PLACEHOLDER.search(value):
        return "an unrendered template variable? Render the manifest (envsubst, helm template) first"
    return None


def integer(doc: Document, path: FieldPath, default: int | None = None, minimum: int = 0, *,
            value: Any = UNREAD) -> int | None:
    """A non-negative integer field (``replicas``, ``parallelism``…); a numeric string is accepted.
    ``value``: the field's value (None when absent), already read by the caller."""
    if value is UNREAD:
        value = get(doc.obj, path)
    if value is None:
        return default
    if isinstance(value, bool):
        raise field_error(doc, path, "E702", f"expected an integer, found {value!r}")
    if isinstance(value, str) and value.strip().lstrip("+").isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        hint = placeholder_hint(value)
        code = "E709" if hint else "E702"
        raise field_error(doc, path, code, f"expected an integer, found {value!r}", hint)
    if value < minimum:
        raise field_error(doc, path, "E702", f"must be at least {minimum}, found {value}")
    return value


def number(doc: Document, path: FieldPath) -> float | None:
    value = get(doc.obj, path)
    if value is None:
        return None
    if isinstance(value, bool):
        raise field_error(doc, path, "E703", f"expected a number, found {value!r}")
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise field_error(doc, path, "E703", f"expected a number, found {value!r}") from None
    if result < 0 or result != result:
        raise field_error(doc, path, "E703", f"must be a non-negative number, found {value!r}")
    return result


def string_map(value: Any) -> dict[str, str]:
    """labels/annotations as str → str (a YAML ``true`` label value becomes ``"true"``)."""
    if not isinstance(value, dict):
        return {}
    for k, v in value.items():  # the usual case (every key and value a string) copied as it is
        if type(k) is not str or type(v) is not str:
            return {
                str(k): "" if v is None else (str(v).lower() if isinstance(v, bool) else str(v))
                for k, v in value.items()
            }
    return dict(value)
