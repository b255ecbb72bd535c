"""Policy text → typed AST, or located syntax diagnostics (several per file: parsing resumes after errors).

One LALR parser is built from ``grammar/policy.lark`` on first use and cached for the process. Lark's
exceptions never leave this module: they become ``Diagnostic`` values that say what was expected in words
(``syntax.expected``). After an error the parser blanks out the top-level block (``policy``, ``import`` or
``param``) holding it and parses again, so one run reports an error in every broken block.

An expression may nest at most ``MAX_NESTING`` levels (E310 at the operator, bracket or call that opens the
level too many): every later step (this module's transformer, the compiler's passes, the closures it
builds, ``fmt``, ``explain``) recurses once or a few times per level, and the interpreter's stack is
about 1,000 frames. The check walks lark's tree with an explicit stack, before anything recurses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from policy_engine.diagnostics import Diagnostic, Span
from policy_engine.syntax import ast
from policy_engine.syntax.expected import describe_expected, describe_token, misspelt_keyword
from policy_engine.syntax.grammar import comment_sink
from policy_engine.syntax.grammar import parser as _parser
from policy_engine.syntax.transform import ToAst

#: At most this many syntax errors are reported per file (each one costs a re-parse).
MAX_SYNTAX_ERRORS = 20

#: How deeply an expression may nest: each ``not``, operator, comparison, ``and``/``or`` alternation,
#: quantifier, call, field, index, list or map literal inside another is one level (parentheses are not).
#: Far beyond what a person writes (the bundled library nests 6), and low enough that the compiler's
#: recursive passes and closures run with hundreds of frames to spare wherever they are called from
#: (the webhook's reload thread, ``explain``'s tracer, the controller): docs/language.md, "Limits".
MAX_NESTING = 100

#: The parse-tree rules that are one expression level each (``map_entry`` and the operator tokens are not).
_EXPRESSION_RULES = frozenset({
    "or_test", "and_test", "not_", "compare", "in_", "not_in", "regex_match", "binop", "neg", "field", "index",
    "call", "list_expr", "map_expr", "quantifier",
})

_TOP_LEVEL = re.compile(r"^[ \t]*(policy|import|param)\b", re.MULTILINE)

@contextmanager
def _collecting() -> Iterator[list[Token]]:
    sink: list[Token] = []
    reset = comment_sink.set(sink)
    try:
        yield sink
    finally:
        comment_sink.reset(reset)


@dataclass(frozen=True, slots=True)
class ParseResult:
    module: ast.Module | None  # None when the file has a syntax error
    diagnostics: tuple[Diagnostic, ...]


def parse(text: str, file: str = "<string>") -> ParseResult:
    """Parse one file. Syntax errors are returned (sorted by location), never raised."""
    parser = _parser()
    diagnostics: list[Diagnostic] = []
    current = text
    for _ in range(MAX_SYNTAX_ERRORS):
        with _collecting() as comments:
            try:
                tree = parser.parse(current)
            except UnexpectedInput as exc:
                diagnostic, offset, at_block_start = _diagnose(exc, current, file)
                diagnostics.append(diagnostic)
                blanked = _blank_block(current, offset, at_block_start)
                if blanked == current:
                    break
                current = blanked
                continue
        if diagnostics:
            break
        too_deep = _too_deep(tree, file)
        if too_deep:
            return ParseResult(None, tuple(too_deep))
        module = ToAst(file).transform(tree)
        assert isinstance(module, ast.Module)
        return ParseResult(_with_comments(module, comments, file), ())
    unique = {(d.span, d.message): d for d in diagnostics}
    return ParseResult(None, tuple(sorted(unique.values(), key=Diagnostic.sort_key)))


def _too_deep(tree: Tree[Token], file: str) -> list[Diagnostic]:
    """E310 for each expression nested past ``MAX_NESTING`` (one per outermost expression), at the first
    subexpression, in source order, that opens the level too many. An explicit stack: the tree may be
    10,000 levels deep."""
    found: list[Diagnostic] = []
    reported: set[int] = set()  # outermost expressions already reported
    stack: list[tuple[Tree[Token], int, int]] = [(tree, 0, 0)]
    while stack:
        node, level, outermost = stack.pop()
        if node.data in _EXPRESSION_RULES:
            level += 1
            outermost = outermost or id(node)
            if level > MAX_NESTING:
                if outermost not in reported:
                    reported.add(outermost)
                    meta = node.meta
                    found.append(Diagnostic(
                        Span(file, meta.line, meta.column, meta.end_line, meta.end_column), "E310",
                        f"expression nested more than {MAX_NESTING} levels deep",
                        hint="split it into several conditions or rules; a chain of `and`s (or of `or`s) is "
                             "one level however long"))
                continue
        stack.extend((child, level, outermost) for child in reversed(node.children) if isinstance(child, Tree))
    return found


def _with_comments(module: ast.Module, tokens: list[Token], file: str) -> ast.Module:
    comments = tuple(
        ast.Comment(str(t), Span(file, t.line or 1, t.column or 1, t.end_line, t.end_column)) for t in tokens
    )
    end = module.items[-1].span if module.items else Span(file, 1, 1, 1, 1)
    span = Span(file, 1, 1, end.end_line, end.end_column)
    return ast.Module(file, module.items, comments, span)


def _offset_of(text: str, line: int, column: int) -> int:
    if line < 1:
        return len(text)
    start = 0
    for _ in range(line - 1):
        nl = text.find("\n", start)
        if nl < 0:
            return len(text)
        start = nl + 1
    return min(start + max(column, 1) - 1, len(text))


def _end_position(text: str) -> tuple[int, int]:
    stripped = text.rstrip()
    if not stripped:
        return 1, 1
    line = stripped.count("\n") + 1
    column = len(stripped) - (stripped.rfind("\n") + 1) + 1
    return line, column


def _diagnose(exc: UnexpectedInput, text: str, file: str) -> tuple[Diagnostic, int, bool]:
    """A diagnostic in words, the error's offset, and whether the error sits on a top-level keyword."""
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        token = exc.token
        line, column = token.line or 1, token.column or 1
        end_line, end_column = token.end_line or line, token.end_column or column + 1
        expected = describe_expected(exc.expected)
        message = f"unexpected {describe_token(token.type, str(token))}"
        guess = misspelt_keyword(str(token), exc.expected) if token.type == "NAME" else None
        advice = f"did you mean '{guess}'?" if guess else (f"expected {expected}" if expected else None)
        diag = Diagnostic(Span(file, line, column, end_line, end_column), "E001", message, hint=advice)
        offset = _offset_of(text, line, column)
        at_start = str(token) in ("policy", "import", "param") and bool(
            _TOP_LEVEL.match(text, text.rfind("\n", 0, offset) + 1))
        return diag, offset, at_start
    if isinstance(exc, UnexpectedCharacters):
        line, column = exc.line, exc.column
        pos = exc.pos_in_stream or 0
        char = text[pos] if pos < len(text) else ""
        hint: str | None
        if char == '"':
            message = "unterminated string"
            hint = 'a string ends with " on the same line; write \\" for a quote inside it'
        else:
            message = f"unexpected character {char!r}"
            expected = describe_expected(exc.allowed or set())
            hint = f"expected {expected}" if expected else None
        diag = Diagnostic(Span(file, line, column, line, column + 1), "E002", message, hint=hint)
        return diag, pos, False
    # The end of the file came too early (an unclosed '{' or an unfinished rule).
    expected_set = exc.expected if isinstance(exc, UnexpectedToken | UnexpectedEOF) else set()
    line, column = _end_position(text)
    opened = _unclosed_brace(text)
    if opened is not None:
        hint = f"the '{{' on line {opened} is never closed: add '}}'"
    else:
        expected = describe_expected(expected_set or set())
        hint = f"expected {expected}" if expected else ""
    diag = Diagnostic(Span(file, line, column, line, column + 1), "E003", "unexpected end of file",
                      hint=hint or None)
    return diag, len(text), False


_BRACE_SCAN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[{}]')


def _unclosed_brace(text: str) -> int | None:
    """Line of the innermost '{' left open at the end of ``text`` (strings and comments skipped)."""
    stack: list[int] = []
    for match in _BRACE_SCAN.finditer(text):
        if match.group() == "{":
            stack.append(match.start())
        elif match.group() == "}" and stack:
            stack.pop()
    return text.count("\n", 0, stack[-1]) + 1 if stack else None


def _blank_block(text: str, offset: int, at_block_start: bool) -> str:
    """Replace the top-level block holding ``offset`` by spaces (newlines kept, so positions hold)."""
    starts = [m.start(1) for m in _TOP_LEVEL.finditer(text)]
    before = [s for s in starts if (s < offset if at_block_start else s <= offset)]
    start = before[-1] if before else 0
    after = [s for s in starts if s > start]
    end = after[0] if after else len(text)
    if at_block_start and not before:
        start, end = 0, offset
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]
