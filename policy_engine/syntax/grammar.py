"""The one LALR parser for ``grammar/policy.lark``, built on first use and cached for the process."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from functools import lru_cache

from lark import Lark, Token

from policy_engine.bundled import grammar_path

#: Where the lexer puts comments while a parse runs (the parser is shared, the sink is per parse).
comment_sink: ContextVar[list[Token] | None] = ContextVar("policy_comments", default=None)


def _collect_comment(token: Token) -> Token:
    sink = comment_sink.get()
    if sink is not None:
        sink.append(token)
    return token


_CALLBACKS: dict[str, Callable[[Token], Token]] = {"COMMENT": _collect_comment}


@lru_cache(maxsize=1)
def parser() -> Lark:
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
        lexer_callbacks=_CALLBACKS,
        cache=True,  # the LALR tables, in the temp dir keyed by the grammar's hash: ~10x faster start-up
    )


@lru_cache(maxsize=1)
def literal_terminals() -> dict[str, str]:
    """Terminal name → the literal text it stands for (keywords and punctuation)."""
    out: dict[str, str] = {}
    for terminal in parser().terminals:
        if terminal.pattern.type == "str":
            out[terminal.name] = terminal.pattern.value
    return out
