"""``policy-engine fmt``: one canonical layout for policy files, comments kept.

The layout is computed from the AST (``syntax.parser`` keeps every comment with its position), so two
files that differ only in spacing format identically. Comments stay next to the item they were written
with: a comment on its own line goes before the item that follows it; a comment after code on the same
line stays at the end of that item's last line. Blank lines between items are kept (at most one);
policies are always separated by one blank line.

Formatting must never change what a policy means: ``format_text`` re-parses its own output and refuses
(raises ``FormatError``) when the syntax tree or the comments differ from the input's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from policy_engine.diagnostics import Span
from policy_engine.errors import FormatError
from policy_engine.syntax import ast
from policy_engine.syntax.parser import parse
from policy_engine.syntax.unparse import operands, unparse

#: Lines longer than this are wrapped where the layout allows it (lists, messages, overrides).
WIDTH = 100
INDENT = "  "



@dataclass(slots=True)
class _Comment:
    text: str
    line: int
    trailing: bool  # written after code on the same line
    done: bool = False


class _Comments:
    """The file's comments, handed out once each as the printer walks the items in source order."""

    def __init__(self, module: ast.Module, lines: Sequence[str]) -> None:
        self.items: list[_Comment] = []
        for c in module.comments:
            before = lines[c.span.line - 1][: c.span.column - 1] if c.span.line <= len(lines) else ""
            self.items.append(_Comment(c.text.rstrip(), c.span.line, bool(before.strip())))

    def before(self, line: int) -> list[_Comment]:
        """Own-line and stray comments above ``line`` not yet printed."""
        out = [c for c in self.items if not c.done and c.line < line]
        for c in out:
            c.done = True
        return out

    def within(self, first: int, last: int) -> list[_Comment]:
        out = [c for c in self.items if not c.done and first <= c.line <= last]
        for c in out:
            c.done = True
        return out

    def rest(self) -> list[_Comment]:
        return self.before(10**9)


class _Printer:
    def __init__(self, module: ast.Module, text: str) -> None:
        self.lines = text.splitlines()
        self.comments = _Comments(module, self.lines)
        self.out: list[str] = []
        self.last_line = 0  # last source line already accounted for

    # ---- blank lines and comments ----
    def _blank_between(self, line: int) -> bool:
        return any(not self.lines[i].strip() for i in range(self.last_line, min(line - 1, len(self.lines)))
                   if i >= 0) and self.last_line > 0

    def _gap(self, line: int, force: bool, at_block_start: bool) -> None:
        if at_block_start or not self.out:
            return
        if (force or self._blank_between(line)) and self.out[-1] != "":
            self.out.append("")

    def _leading(self, start: int, indent: str, force_gap: bool, at_block_start: bool) -> None:
        """Comments above an item (each with the blank lines the source had), then the gap before it."""
        first = True
        for c in self.comments.before(start):
            self._gap(c.line, force_gap and first, at_block_start and first)
            self.out.append(indent + c.text)
            self.last_line = c.line
            first = False
        self._gap(start, force_gap and first, at_block_start and first)

    def _leaf(self, node_span: Span, text_lines: list[str], indent: str, *, force_gap: bool = False,
              at_block_start: bool = False) -> None:
        """An item printed as ``text_lines``; comments inside its source span move above it, except the
        last one, which ends its last line."""
        start, end = node_span.line, node_span.end_line or node_span.line
        self._leading(start, indent, force_gap, at_block_start)
        inner = self.comments.within(start, end)
        for c in inner[:-1]:
            self.out.append(indent + c.text)
        lines = [indent + t for t in text_lines]
        if inner:
            lines[-1] += "  " + inner[-1].text
        self.out.extend(lines)
        self.last_line = end

    def _open(self, node_span: Span, header: str, first_child_line: int | None, indent: str, *,
              force_gap: bool = False, at_block_start: bool = False) -> None:
        start = node_span.line
        self._leading(start, indent, force_gap, at_block_start)
        trailing = self.comments.within(start, start) if first_child_line is None or first_child_line > start \
            else []
        self._with_trailing(indent + header, trailing, indent)
        self.last_line = start

    def _with_trailing(self, line: str, comments: list[_Comment], indent: str) -> None:
        """``line`` ending with the last comment; earlier ones go on their own lines above it."""
        self.out.extend(indent + c.text for c in comments[:-1])
        self.out.append(line + ("  " + comments[-1].text if comments else ""))

    def _close(self, node_span: Span, indent: str, inner_indent: str) -> None:
        end = node_span.end_line or node_span.line
        for c in self.comments.before(end):
            self._gap(c.line, False, self.out[-1].endswith("{"))
            self.out.append(inner_indent + c.text)
            self.last_line = c.line
        self._with_trailing(indent + "}", self.comments.within(node_span.line, end), inner_indent)
        self.last_line = end

    # ---- the file ----
    def module(self, module: ast.Module) -> str:
        previous: ast.Item | None = None
        for item in module.items:
            force = previous is not None and (isinstance(item, ast.Policy) or isinstance(previous, ast.Policy))
            if isinstance(item, ast.Policy):
                self.policy(item, force)
            elif isinstance(item, ast.Param):
                self._leaf(item.span, [f"param {item.name.name} = {unparse(item.value)}"], "", force_gap=force)
            else:
                self._leaf(item.span, [_import(item)], "", force_gap=force)
            previous = item
        for c in self.comments.rest():
            self._gap(c.line, False, False)
            self.out.append(c.text)
            self.last_line = c.line
        return "\n".join(self.out).strip("\n") + "\n" if self.out else ""

    def policy(self, policy: ast.Policy, force: bool) -> None:
        end = policy.span.end_line or policy.span.line
        has_inner_comments = any(not c.done and policy.span.line < c.line < end for c in self.comments.items)
        if not policy.items and not has_inner_comments:
            self._leaf(policy.span, [f"policy {policy.name.raw} {{}}"], "", force_gap=force)
            return
        first = policy.items[0].span.line if policy.items else None
        self._open(policy.span, f"policy {policy.name.raw} {{", first, "", force_gap=force)
        at_start = True
        for item in policy.items:
            if isinstance(item, ast.MatchBlock):
                self.match_block(item, at_start)
            else:
                self._leaf(item.span, item_lines(item, INDENT), INDENT, at_block_start=at_start)
            at_start = False
        self._close(policy.span, "", INDENT)

    def match_block(self, block: ast.MatchBlock, at_start: bool) -> None:
        word = "exclude" if block.exclude else "match"
        end = block.span.end_line or block.span.line
        inner_comments = any(not c.done and block.span.line < c.line < end for c in self.comments.items)
        if not block.selectors and not inner_comments:
            self._leaf(block.span, [f"{word} {{}}"], INDENT, at_block_start=at_start)
            return
        first = block.selectors[0].span.line if block.selectors else None
        self._open(block.span, f"{word} {{", first, INDENT, at_block_start=at_start)
        inner = INDENT * 2
        for i, selector in enumerate(block.selectors):
            self._leaf(selector.span, selector_lines(selector, inner), inner, at_block_start=i == 0)
        self._close(block.span, INDENT, inner)


# ---- items to text (without comments) ------------------------------------------------------------------


def _import(item: ast.Import) -> str:
    text = f"import {item.path.raw}"
    if item.alias is not None:
        text += f" as {item.alias.name}"
    if item.overrides:
        text += " with { " + ", ".join(f"{a.name.name} = {unparse(a.value)}" for a in item.overrides) + " }"
    return text


def _wrap_list(prefix: str, items: Sequence[str], suffix: str, indent: str, width: int = WIDTH) -> list[str]:
    """``prefix[a, b, c]suffix`` on one line, or filled over several lines aligned after the ``[``."""
    one = f"{prefix}[{', '.join(items)}]{suffix}"
    if len(indent) + len(one) <= width or not items:
        return [one]
    pad = " " * (len(prefix) + 1)
    lines: list[str] = []
    current = prefix + "["
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "]")
        candidate = current + piece if current.endswith("[") else current + " " + piece
        if len(indent) + len(candidate) > width and not current.endswith("["):
            lines.append(current)
            current = pad + piece
        else:
            current = candidate
    lines.append(current + suffix)
    return lines


def _raws(items: Sequence[ast.Str]) -> list[str]:
    return [s.raw for s in items]


def selector_lines(selector: ast.Selector, indent: str, width: int = WIDTH) -> list[str]:
    if isinstance(selector, ast.KindsSelector):
        names = [k.raw if isinstance(k, ast.Str) else k.name for k in selector.kinds]
        if not selector.bracketed and len(names) == 1:
            return [f"kinds {names[0]}"]
        return _wrap_list("kinds ", names, "", indent, width)
    if isinstance(selector, ast.NamespacesSelector):
        return _wrap_list("namespaces ", _raws(selector.patterns), "", indent, width)
    terms = [_label_requirement(r) for r in selector.requirements]
    one = "labels { " + ", ".join(terms) + " }" if terms else "labels {}"
    if len(indent) + len(one) <= width:
        return [one]
    return ["labels {", *[INDENT + t + "," for t in terms], "}"]


def _label_requirement(r: ast.LabelRequirement) -> str:
    values = _raws(r.values)
    if r.op == "exists":
        return f"{r.key.raw} exists"
    if r.op == "absent":
        return f"!{r.key.raw}"
    if r.op in ("in", "notin"):
        word = "in" if r.op == "in" else "not in"
        return f"{r.key.raw} {word} [{', '.join(values)}]"
    return f"{r.key.raw} {r.op} {values[0]}"


def item_lines(item: ast.PolicyItem, indent: str, width: int = WIDTH) -> list[str]:
    if isinstance(item, ast.Setting):
        value = item.value.raw if isinstance(item.value, ast.Str) else item.value.name
        return [f"{item.key.name} {value}"]
    if isinstance(item, ast.When):
        return expr_lines("when ", item.condition, "", indent, width)
    assert isinstance(item, ast.Rule)
    return _rule(item, indent, width)


def _rule(rule: ast.Rule, indent: str, width: int) -> list[str]:
    suffix = f" if {unparse(rule.guard)}" if rule.guard is not None else ""
    lines = _rule_body(rule.body, suffix, indent, width)
    if rule.message is not None:
        joined = f"{lines[-1]} message {rule.message.raw}"
        if len(lines) == 1 and len(indent) + len(joined) <= width:
            lines[-1] = joined
        else:
            lines.append(f"{INDENT}message {rule.message.raw}")
    return lines


def _rule_body(body: ast.RuleBody, suffix: str, indent: str, width: int) -> list[str]:
    if isinstance(body, ast.RequireKeys):
        return _wrap_list(f"require {body.target} ", _raws(body.keys), suffix, indent, width)
    if isinstance(body, ast.RequireKey):
        head = f"require {body.target} {body.key.raw}"
        if body.allowed is not None:
            return _wrap_list(f"{head} in ", _raws(body.allowed), suffix, indent, width)
        if body.pattern is not None:
            return [f"{head} {body.match_text or 'matches'} {body.pattern.raw}{suffix}"]
        return [head + suffix]
    if isinstance(body, ast.PatternList):
        return _wrap_list(f"{body.mode} {body.target} ", _raws(body.patterns), suffix, indent, width)
    if isinstance(body, ast.RequirePinned):
        return ["require pinned" + suffix]
    if isinstance(body, ast.RequireSpot):
        return ["require spot" + suffix]
    if isinstance(body, ast.RequireIdle | ast.RequireDeadline):
        word = "idle_timeout" if isinstance(body, ast.RequireIdle) else "deadline"
        bound = f" <= {unparse(body.maximum)}" if body.maximum is not None else ""
        return [f"require {word}{bound}{suffix}"]
    if isinstance(body, ast.Assert):
        return expr_lines(f"{'forbid' if body.negate else 'assert'} ", body.condition, suffix, indent, width)
    if isinstance(body, ast.LiveIdle):
        then = ""
        if body.action is not None:
            after = f" after {unparse(body.action.notice)}" if body.action.notice is not None else ""
            options = "".join(f", {o.name}" for o in body.action.options)
            then = f" then {body.action.verb.name}{after}{options}"
        return [f"idle {body.metric.name} < {unparse(body.threshold)} for {unparse(body.duration)}{then}{suffix}"]
    return _aggregate(body, suffix, indent, width)


def expr_lines(prefix: str, e: ast.Expr, suffix: str, indent: str, width: int = WIDTH) -> list[str]:
    """A condition on one line when it fits; else broken before its top-level ``and``/``or`` operators
    (a quantifier's head stays on the first line), continuation lines indented one step."""
    one = f"{prefix}{unparse(e)}{suffix}"
    if len(indent) + len(one) <= width:
        return [one]
    head, body = prefix, e
    if isinstance(e, ast.Quantifier) and isinstance(e.body, ast.BoolOp):
        names = ", ".join(n.name for n in e.names)
        collection = unparse(e.collection)
        collection = f"({collection})" if isinstance(e.collection, ast.Quantifier | ast.BoolOp) else collection
        head, body = f"{prefix}{e.op} {names} in {collection}: ", e.body
    if not isinstance(body, ast.BoolOp):
        return [one]
    parts = operands(body)
    lines = [head + parts[0]]
    for part in parts[1:]:
        joined = f"{lines[-1]} {body.op} {part}"
        limit = width - len(indent)
        if len(joined) <= limit:
            lines[-1] = joined
        else:
            lines.append(f"{INDENT}{body.op} {part}")
    lines[-1] += suffix
    return lines


def _aggregate(body: ast.Aggregate, suffix: str, indent: str, width: int) -> list[str]:
    head = [body.kind]
    if body.metric is not None:
        head.append(body.metric.name)
    if body.limit is not None:
        head.append(unparse(body.limit))
    if body.period is not None:
        head.append(f"per {body.period.name}")
    if body.key is not None:
        head.append(f"by {unparse(body.key)}")
    if body.alerts:
        head.append("alert at " + ", ".join(unparse(a) for a in body.alerts))
    if body.forecast:
        head.append("alert forecast")
    if body.anomaly is not None:
        head.append(f"alert anomaly {unparse(body.anomaly)}"
                    + (f" over {unparse(body.anomaly_window)}" if body.anomaly_window is not None else ""))
    first = " ".join(head)
    if not body.overrides and not body.has_overrides_block:
        return [first + suffix]
    entries = [f"{o.key.raw} = {unparse(o.limit)}" for o in body.overrides]
    block = "overrides { " + ", ".join(entries) + " }" if entries else "overrides {}"
    one = f"{first} {block}{suffix}"
    if len(indent) + len(one) <= width:
        return [one]
    if len(indent) + len(INDENT) + len(block + suffix) <= width:
        return [first, INDENT + block + suffix]
    return [first, INDENT + "overrides {", *[INDENT * 2 + e + "," for e in entries], INDENT + "}" + suffix]


# ---- entry points ----------------------------------------------------------------------------------------


def _shape(node: object) -> object:
    """A node without its spans, to compare the meaning of two parses."""
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return (type(node).__name__, tuple(
            (f.name, _shape(getattr(node, f.name))) for f in dataclasses.fields(node)
            if f.name not in ("span", "comments", "file")))
    if isinstance(node, tuple | list):
        return tuple(_shape(n) for n in node)
    return node


def format_module(module: ast.Module, text: str) -> str:
    return _Printer(module, text).module(module)


def format_text(text: str, file: str = "<string>") -> str:
    """The canonical form of a policy file. Raises ``FormatError`` on syntax errors."""
    parsed = parse(text, file)
    if parsed.module is None:
        raise FormatError(f"{file}: cannot format a file with syntax errors", parsed.diagnostics)
    result = format_module(parsed.module, text)
    again = parse(result, file)
    if again.module is None or _shape(again.module) != _shape(parsed.module) or sorted(
            c.text.rstrip() for c in again.module.comments) != sorted(c.text.rstrip() for c in parsed.module.comments):
        raise FormatError(f"{file}: internal error: formatting would change the file's meaning or lose a "
                          "comment; the file was left as it is (please report this)",
                          again.diagnostics)
    return result
