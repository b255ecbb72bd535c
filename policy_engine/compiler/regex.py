"""Regular expressions in policies, on RE2: matching time linear in the input, whatever the pattern.

A policy's pattern runs on every admission request, against values the requester chose. With Python's
backtracking ``re``, ``^(a+)+$`` against thirty ``a``s and a ``b`` blocks the webhook's event loop for
seconds (measured on main: 0.8 s a request); RE2 (google-re2, the engine behind Go's regexp and
Kubernetes CEL) has no backtracking, so no pattern can do that. The price is RE2's syntax: no
backreferences (``\\1``) and no lookaround (``(?=``, ``(?<!``); such a pattern is an E205 at compile time,
with RE2's reason.
"""

from __future__ import annotations

import functools
from typing import Any, Protocol


class Pattern(Protocol):
    def search(self, text: str) -> Any: ...

    def match(self, text: str) -> Any: ...


@functools.cache
def _re2() -> tuple[Any, Any]:
    """RE2 and its options, imported when the first pattern is compiled (~3 ms a run without one)."""
    import re2

    options = re2.Options()
    options.log_errors = False  # RE2 would print its own complaint on stderr; the diagnostic says it
    return re2, options


def problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a regular expression RE2 accepts, or None."""
    re2, options = _re2()
    try:
        re2.compile(pattern, options)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else str(exc)
        return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    return None


@functools.lru_cache(maxsize=256)
def compile_regex(pattern: str) -> Pattern | None:
    """The compiled pattern (cached), or None when RE2 does not accept it (the checker reported it)."""
    re2, options = _re2()
    try:
        compiled: Pattern = re2.compile(pattern, options)
    except re2.error:
        return None
    return compiled
