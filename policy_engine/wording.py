"""Counts in messages people read: "1 file", "2 files", "1 policy", "3 policies"."""

from __future__ import annotations

_IRREGULAR = {"policy": "policies", "was": "were", "is": "are", "GPU": "GPUs", "this": "these"}


def plural(word: str, n: float) -> str:
    """``word`` in the form that goes with the count ``n`` (English regular plurals, plus a few irregulars)."""
    if n == 1:
        return word
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def count(n: float, word: str) -> str:
    """``"1 file"``, ``"2 files"``, ``"0 errors"``; floats are shown with ``:g``."""
    shown = str(n) if isinstance(n, int) else f"{n:g}"
    return f"{shown} {plural(word, n)}"
