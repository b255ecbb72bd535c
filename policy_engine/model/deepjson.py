"""JSON of any nesting depth, parsed without recursion.

``json.loads`` recurses once per nesting level and raises ``RecursionError`` past the interpreter's limit
(about 1,000 levels); pydantic's parser stops at a few hundred. The Kubernetes API server accepts objects
nested up to 10,000 levels, and an object the webhook cannot parse is one it cannot judge: with
``failurePolicy: Ignore`` a 400 lets it in unchecked. So ``loads`` takes the fast C parser first and, only
when that runs out of stack, parses again with an explicit stack here (same values, same errors as
``json.JSONDecodeError``, in time linear in the text).

Past ``API_SERVER_MAX_DEPTH`` levels (the API server's own limit) ``loads`` raises ``TooDeep``, located
like any ``json.JSONDecodeError`` at the bracket that opens the level too many: the webhook and ``check``
accept exactly the objects the API server does (``model/documents.py`` holds YAML to the same limit).

``depth`` measures nesting without recursion either, for callers that refuse documents past a limit.
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

#: The API server's own limit on the nesting of a JSON object it accepts.
API_SERVER_MAX_DEPTH = 10_000

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_CONSTANTS = {"true": True, "false": False, "null": None, "NaN": float("nan"), "Infinity": float("inf"),
              "-Infinity": float("-inf")}


class TooDeep(json.JSONDecodeError):
    """Nested past the limit: an error at the line and column of the opening bracket of the level too many."""

    def __init__(self, limit: int, text: str, pos: int) -> None:
        super().__init__(f"nested more than {limit:,} levels deep (the API server's limit)", text, pos)
        self.limit = limit


def loads(text: str | bytes, max_depth: int = API_SERVER_MAX_DEPTH) -> Any:
    """``json.loads(text)`` up to ``max_depth`` levels; ``json.JSONDecodeError`` for malformed text and
    ``TooDeep`` past the limit (the C parser gives up near 1,000 levels: anything deeper is parsed here)."""
    try:
        return json.loads(text)
    except RecursionError:
        pass
    if isinstance(text, bytes | bytearray):
        text = text.decode("utf-8-sig") if text.startswith(b"\xef\xbb\xbf") else text.decode("utf-8")
    return parse_iteratively(text, max_depth)


def parse_iteratively(text: str, max_depth: int | None = None) -> Any:
    """Parse ``text`` with an explicit stack; the result equals ``json.loads(text)``. A container opened
    deeper than ``max_depth`` levels raises ``TooDeep``."""
    limit = max_depth if max_depth is not None else len(text) + 1
    end = len(text)
    pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
    # Each open container: [container, pending key (objects only)]
    stack: list[list[Any]] = []
    result: Any = None
    have_result = False
    while True:
        if pos >= end:
            raise json.JSONDecodeError("Expecting value", text, pos)
        char = text[pos]
        # --- read one value (or open a container) ---
        if (char == "{" or char == "[") and len(stack) >= limit:
            raise TooDeep(limit, text, pos)
        if char == "{":
            pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
            if pos < end and text[pos] == "}":
                value: Any = {}
                pos += 1
            else:
                key, pos = _key(text, pos)
                stack.append([{}, key])
                continue
        elif char == "[":
            pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
            if pos < end and text[pos] == "]":
                value = []
                pos += 1
            else:
                stack.append([[], None])
                continue
        elif char == '"':
            value, pos = scanstring(text, pos + 1, True)
        else:
            number = _NUMBER.match(text, pos)
            if number is not None and number.end() > pos:
                literal = number.group()
                value = float(literal) if number.group(1) or number.group(2) else int(literal)
                pos = number.end()
            else:
                for word, constant in _CONSTANTS.items():
                    if text.startswith(word, pos):
                        value = constant
                        pos += len(word)
                        break
                else:
                    raise json.JSONDecodeError("Expecting value", text, pos)
        # --- attach the value; close containers as far as they end here ---
        while True:
            if not stack:
                result, have_result = value, True
                break
            top = stack[-1]
            container = top[0]
            if isinstance(container, dict):
                container[top[1]] = value
            else:
                container.append(value)
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            closer = "}" if isinstance(container, dict) else "]"
            if pos < end and text[pos] == ",":
                pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
                if isinstance(container, dict):
                    top[1], pos = _key(text, pos)
                break
            if pos < end and text[pos] == closer:
                pos += 1
                stack.pop()
                value = container
                continue
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
        if have_result:
            break
    pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
    if pos != end:
        raise json.JSONDecodeError("Extra data", text, pos)
    return result


def _key(text: str, pos: int) -> tuple[str, int]:
    """An object key and the position after its ``:`` and the whitespace that follows."""
    if pos >= len(text) or text[pos] != '"':
        raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, pos)
    key, pos = scanstring(text, pos + 1, True)
    pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
    if pos >= len(text) or text[pos] != ":":
        raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
    return key, _WS.match(text, pos + 1).end()  # type: ignore[union-attr]


def depth(value: Any) -> int:
    """How deeply ``value`` nests lists and mappings (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        level += 1
        deepest = max(deepest, level)
        stack.extend((child, level) for child in item if isinstance(child, dict | list))
    return deepest
