"""Lark's expected-token sets, said in words a policy author reads ("a string", "'{'", "a duration …")."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from policy_engine.syntax.grammar import literal_terminals

#: Named terminals of grammar/policy.lark, in words.
TERMINAL_WORDS: dict[str, str] = {
    "NAME": "a name",
    "STRING": 'a string such as "text"',
    "NUMBER": "a number",
    "DURATION": "a duration such as 90m",
    "QUANT": "a quantifier such as 'all c in containers:'",
    "PERCENT": "a percentage such as 80%",
    "MONEY": "an amount of money such as $1,500",
    "MATCH_OP": "'matches' or '=~'",
    "$END": "the end of the file",
}
#: More than this many alternatives are summarised.
MAX_LISTED = 10


def describe_terminal(name: str) -> str:
    if name in TERMINAL_WORDS:
        return TERMINAL_WORDS[name]
    literal = literal_terminals().get(name)
    if literal is not None:
        return f"'{literal}'"
    return name.lower().strip("_")


def describe_token(type_: str, value: str) -> str:
    """How an offending token reads: its kind for values, its text for keywords and punctuation."""
    if type_ == "$END":
        return "end of file"
    if type_ == "STRING":
        return f"string {value}"
    if type_ in ("NUMBER", "DURATION", "PERCENT", "MONEY"):
        return f"{TERMINAL_WORDS[type_].split(' such as')[0].removeprefix('a ').removeprefix('an ')} {value}"
    if type_ == "NAME":
        return f"name '{value}'"
    return f"'{value}'"


def describe_expected(names: Iterable[str]) -> str:
    """One phrase: named kinds of token first, then keywords and punctuation, alphabetically."""
    words = sorted({describe_terminal(n) for n in names}, key=lambda w: (w.startswith("'"), w))
    if not words:
        return ""
    if len(words) > MAX_LISTED:
        shown = words[:MAX_LISTED]
        return ", ".join(shown) + f" or one of {len(words) - MAX_LISTED} more"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def misspelt_keyword(word: str, expected: Iterable[str]) -> str | None:
    """The keyword among the expected tokens that ``word`` is closest to (``requre`` → ``require``)."""
    literals = literal_terminals()
    keywords = [kw for name in expected if (kw := literals.get(name)) is not None and kw.isidentifier()]
    close = difflib.get_close_matches(word, keywords, n=1, cutoff=0.75)
    return close[0] if close else None
