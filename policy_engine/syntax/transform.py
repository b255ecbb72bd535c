"""The one Transformer from lark's parse tree to the typed AST; no lark type leaves this package."""

from __future__ import annotations

import re
from typing import Any

from lark import Token, Transformer, v_args
from lark.tree import Meta

from policy_engine.diagnostics import Span
from policy_engine.quantity import Quantity, is_suffix, parse_quantity
from policy_engine.syntax import ast

#: Duration units and their length in seconds.
DURATION_UNITS: dict[str, float] = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ESCAPE = re.compile(r'\\(["\\nt])')
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(.*)")


def unquote(raw: str) -> str:
    """``\\"``, ``\\\\``, ``\\n`` and ``\\t`` are escapes; any other backslash stays (regexes read well)."""
    return _ESCAPE.sub(lambda m: _ESCAPES[m.group(1)], raw[1:-1])


def _number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


@v_args(meta=True)
class ToAst(Transformer[Token, Any]):
    def __init__(self, file: str) -> None:
        super().__init__(visit_tokens=False)
        self.file = file

    # ---- positions ----
    def _span(self, meta: Meta) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.file, 1, 1, 1, 1)
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tspan(self, token: Token) -> Span:
        return Span(self.file, token.line or 1, token.column or 1, token.end_line, token.end_column)

    def _ident(self, token: Token) -> ast.Ident:
        return ast.Ident(str(token), self._tspan(token))

    def _str(self, token: Token) -> ast.Str:
        return ast.Str(unquote(str(token)), str(token), self._tspan(token))

    # ---- files ----
    def start(self, meta: Meta, items: list[ast.Item]) -> ast.Module:
        return ast.Module(self.file, tuple(items), (), self._span(meta))

    def import_decl(self, meta: Meta, c: list[Any]) -> ast.Import:
        path, alias, overrides = c
        return ast.Import(self._str(path), alias, tuple(overrides or ()), self._span(meta))

    def import_alias(self, meta: Meta, c: list[Token]) -> ast.Ident:
        return self._ident(c[0])

    def import_with(self, meta: Meta, c: list[ast.Assign | None]) -> tuple[ast.Assign, ...]:
        return tuple(a for a in c if a is not None)

    def assign(self, meta: Meta, c: list[Any]) -> ast.Assign:
        return ast.Assign(self._ident(c[0]), c[1], self._span(meta))

    def param_decl(self, meta: Meta, c: list[Any]) -> ast.Param:
        return ast.Param(self._ident(c[0]), c[1], self._span(meta))

    # ---- policies ----
    def policy(self, meta: Meta, c: list[Any]) -> ast.Policy:
        return ast.Policy(self._str(c[0]), tuple(c[1:]), self._span(meta))

    def setting(self, meta: Meta, c: list[Any]) -> ast.Setting:
        key, value = c
        val = self._str(value) if value.type == "STRING" else self._ident(value)
        return ast.Setting(key, val, self._span(meta))

    def setting_key(self, meta: Meta, c: list[Token]) -> ast.Ident:
        return self._ident(c[0])

    def match_block(self, meta: Meta, c: list[ast.Selector]) -> ast.MatchBlock:
        return ast.MatchBlock(False, tuple(c), self._span(meta))

    def exclude_block(self, meta: Meta, c: list[ast.Selector]) -> ast.MatchBlock:
        return ast.MatchBlock(True, tuple(c), self._span(meta))

    def kinds_sel(self, meta: Meta, c: list[Any]) -> ast.KindsSelector:
        if isinstance(c[0], Token):
            return ast.KindsSelector((self._ident(c[0]),), False, self._span(meta))
        return ast.KindsSelector(c[0], True, self._span(meta))

    def name_list(self, meta: Meta, c: list[Token | None]) -> tuple[ast.Ident | ast.Str, ...]:
        return tuple(self._str(t) if t.type == "STRING" else self._ident(t) for t in c if t is not None)

    def string_list(self, meta: Meta, c: list[Token | None]) -> tuple[ast.Str, ...]:
        return tuple(self._str(t) for t in c if t is not None)

    def namespaces_sel(self, meta: Meta, c: list[Any]) -> ast.NamespacesSelector:
        return ast.NamespacesSelector(c[0], self._span(meta))

    def labels_sel(self, meta: Meta, c: list[ast.LabelRequirement | None]) -> ast.LabelsSelector:
        return ast.LabelsSelector(tuple(r for r in c if r is not None), self._span(meta))

    def _label(self, meta: Meta, key: Token, op: str, values: tuple[ast.Str, ...]) -> ast.LabelRequirement:
        return ast.LabelRequirement(self._str(key), op, values, self._span(meta))

    def label_eq(self, meta: Meta, c: list[Token]) -> ast.LabelRequirement:
        return self._label(meta, c[0], "=", (self._str(c[1]),))

    def label_ne(self, meta: Meta, c: list[Token]) -> ast.LabelRequirement:
        return self._label(meta, c[0], "!=", (self._str(c[1]),))

    def label_in(self, meta: Meta, c: list[Any]) -> ast.LabelRequirement:
        return self._label(meta, c[0], "in", c[1])

    def label_notin(self, meta: Meta, c: list[Any]) -> ast.LabelRequirement:
        return self._label(meta, c[0], "notin", c[1])

    def label_exists(self, meta: Meta, c: list[Token]) -> ast.LabelRequirement:
        return self._label(meta, c[0], "exists", ())

    def label_absent(self, meta: Meta, c: list[Token]) -> ast.LabelRequirement:
        return self._label(meta, c[0], "absent", ())

    def when_clause(self, meta: Meta, c: list[Any]) -> ast.When:
        return ast.When(c[0], self._span(meta))

    # ---- rules ----
    def rule(self, meta: Meta, c: list[Any]) -> ast.Rule:
        body, guard, message = c
        return ast.Rule(body, guard, message, self._span(meta))

    def rule_if(self, meta: Meta, c: list[Any]) -> ast.Expr:
        guard: ast.Expr = c[0]
        return guard

    def rule_message(self, meta: Meta, c: list[Token]) -> ast.Str:
        return self._str(c[0])

    def _keyword(self, meta: Meta, c: list[Token]) -> str:
        return str(c[0])

    key_set = key_one = list_target = comp_op = add_op = mul_op = _keyword

    def require_keys(self, meta: Meta, c: list[Any]) -> ast.RequireKeys:
        return ast.RequireKeys(c[0], c[1], self._span(meta))

    def require_key(self, meta: Meta, c: list[Any]) -> ast.RequireKey:
        target, key, constraint = c
        allowed = pattern = None
        match_text = "matches"
        if constraint is not None and constraint[0] == "in":
            allowed = constraint[1]
        elif constraint is not None:
            pattern, match_text = constraint[1], constraint[2]
        return ast.RequireKey(target, self._str(key), allowed, pattern, self._span(meta), match_text)

    def key_in(self, meta: Meta, c: list[Any]) -> tuple[str, tuple[ast.Str, ...]]:
        return ("in", c[0])

    def key_matches(self, meta: Meta, c: list[Token]) -> tuple[str, ast.Str, str]:
        return ("matches", self._str(c[1]), str(c[0]))

    def allow_list(self, meta: Meta, c: list[Any]) -> ast.PatternList:
        return ast.PatternList("allow", c[0], c[1], self._span(meta))

    def deny_list(self, meta: Meta, c: list[Any]) -> ast.PatternList:
        return ast.PatternList("deny", c[0], c[1], self._span(meta))

    def require_pinned(self, meta: Meta, c: list[Any]) -> ast.RequirePinned:
        return ast.RequirePinned(self._span(meta))

    def require_spot(self, meta: Meta, c: list[Any]) -> ast.RequireSpot:
        return ast.RequireSpot(self._span(meta))

    def require_idle(self, meta: Meta, c: list[Any]) -> ast.RequireIdle:
        return ast.RequireIdle(c[0] if c else None, self._span(meta))

    def require_deadline(self, meta: Meta, c: list[Any]) -> ast.RequireDeadline:
        return ast.RequireDeadline(c[0] if c else None, self._span(meta))

    def assert_rule(self, meta: Meta, c: list[Any]) -> ast.Assert:
        return ast.Assert(False, c[0], self._span(meta))

    def forbid_rule(self, meta: Meta, c: list[Any]) -> ast.Assert:
        return ast.Assert(True, c[0], self._span(meta))

    def live_idle(self, meta: Meta, c: list[Any]) -> ast.LiveIdle:
        return ast.LiveIdle(self._ident(c[0]), c[1], c[2], self._span(meta), c[3] if len(c) > 3 else None)

    def idle_then(self, meta: Meta, c: list[Any]) -> ast.IdleAction:
        return ast.IdleAction(self._ident(c[0]), c[1], tuple(self._ident(t) for t in c[2:]), self._span(meta))

    def _aggregate(self, meta: Meta, kind: str, metric: ast.Ident | None, c: list[Any]) -> ast.Aggregate:
        limit = c[0]
        options = [o for o in c[1:] if o is not None]
        period = key = None
        alerts: tuple[ast.Expr, ...] = ()
        overrides: tuple[ast.Override, ...] = ()
        has_overrides = forecast = False
        anomaly: tuple[ast.Expr, ast.Expr | None] | None = None
        for tag, value in options:
            if tag == "per":
                period = value
            elif tag == "by":
                key = value
            elif tag == "alert":
                alerts = value
            elif tag == "forecast":
                forecast = True
            elif tag == "anomaly":
                anomaly = value
            else:
                overrides, has_overrides = value, True
        return ast.Aggregate(kind, metric, limit, period, key, alerts, overrides, self._span(meta),
                             has_overrides, forecast, anomaly[0] if anomaly else None,
                             anomaly[1] if anomaly else None)

    def quota(self, meta: Meta, c: list[Any]) -> ast.Aggregate:
        return self._aggregate(meta, "quota", self._ident(c[0]), c[1:])

    def budget(self, meta: Meta, c: list[Any]) -> ast.Aggregate:
        return self._aggregate(meta, "budget", None, c)

    def agg_per(self, meta: Meta, c: list[Token]) -> tuple[str, ast.Ident]:
        return ("per", self._ident(c[0]))

    def agg_by(self, meta: Meta, c: list[Any]) -> tuple[str, ast.Expr]:
        return ("by", c[0])

    def agg_alert(self, meta: Meta, c: list[Any]) -> tuple[str, tuple[ast.Expr, ...]]:
        return ("alert", tuple(c))

    def agg_forecast(self, meta: Meta, c: list[Any]) -> tuple[str, bool]:
        return ("forecast", True)

    def agg_anomaly(self, meta: Meta, c: list[Any]) -> tuple[str, tuple[ast.Expr, ast.Expr | None]]:
        return ("anomaly", (c[0], c[1] if len(c) > 1 else None))

    def agg_overrides(self, meta: Meta, c: list[Any]) -> tuple[str, tuple[ast.Override, ...]]:
        return ("overrides", tuple(o for o in c if o is not None))

    def agg_override(self, meta: Meta, c: list[Any]) -> ast.Override:
        return ast.Override(self._str(c[0]), c[1], self._span(meta))

    # ---- expressions ----
    def or_test(self, meta: Meta, c: list[Any]) -> ast.BoolOp:
        return ast.BoolOp("or", tuple(c), self._span(meta))

    def and_test(self, meta: Meta, c: list[Any]) -> ast.BoolOp:
        return ast.BoolOp("and", tuple(c), self._span(meta))

    def not_(self, meta: Meta, c: list[Any]) -> ast.Not:
        return ast.Not(c[0], self._span(meta))

    def compare(self, meta: Meta, c: list[Any]) -> ast.Compare:
        return ast.Compare(c[1], c[0], c[2], self._span(meta), c[1])

    def in_(self, meta: Meta, c: list[Any]) -> ast.Compare:
        return ast.Compare("in", c[0], c[1], self._span(meta), "in")

    def not_in(self, meta: Meta, c: list[Any]) -> ast.Compare:
        return ast.Compare("not in", c[0], c[1], self._span(meta), "not in")

    def regex_match(self, meta: Meta, c: list[Any]) -> ast.Compare:
        return ast.Compare("=~", c[0], c[2], self._span(meta), str(c[1]))

    def binop(self, meta: Meta, c: list[Any]) -> ast.BinOp:
        return ast.BinOp(c[1], c[0], c[2], self._span(meta))

    def neg(self, meta: Meta, c: list[Any]) -> ast.Neg:
        return ast.Neg(c[0], self._span(meta))

    def field(self, meta: Meta, c: list[Any]) -> ast.Field:
        return ast.Field(c[0], self._ident(c[1]), self._span(meta))

    def index(self, meta: Meta, c: list[Any]) -> ast.Index:
        return ast.Index(c[0], c[1], self._span(meta))

    def call(self, meta: Meta, c: list[Any]) -> ast.Call:
        return ast.Call(self._ident(c[0]), tuple(a for a in c[1:] if a is not None), self._span(meta))

    def list_expr(self, meta: Meta, c: list[Any]) -> ast.ListExpr:
        return ast.ListExpr(tuple(i for i in c if i is not None), self._span(meta))

    def map_expr(self, meta: Meta, c: list[Any]) -> ast.MapExpr:
        return ast.MapExpr(tuple(e for e in c if e is not None), self._span(meta))

    def map_entry(self, meta: Meta, c: list[Any]) -> tuple[ast.Expr, ast.Expr]:
        return (c[0], c[1])

    def quantifier(self, meta: Meta, c: list[Any]) -> ast.Quantifier:
        op, first, second, collection, body = c
        names = tuple(self._ident(n) for n in (first, second) if n is not None)
        return ast.Quantifier(str(op), names, collection, body, self._span(meta))

    def name(self, meta: Meta, c: list[Token]) -> ast.Name:
        return ast.Name(str(c[0]), self._tspan(c[0]))

    def _literal(self, token: Token, type_: str, value: object, unit: str = "") -> ast.Literal:
        return ast.Literal(type_, value, str(token), self._tspan(token), unit)

    def number(self, meta: Meta, c: list[Token]) -> ast.Literal:
        return self._literal(c[0], "number", _number(str(c[0])))

    def string(self, meta: Meta, c: list[Token]) -> ast.Literal:
        return self._literal(c[0], "string", unquote(str(c[0])))

    def duration(self, meta: Meta, c: list[Token]) -> ast.Literal:
        match = _DURATION.fullmatch(str(c[0]))
        assert match is not None
        amount, unit = match.groups()
        if unit != "m" and is_suffix(unit):  # `30m` is a duration unless it meets a quantity (the checker)
            return self._literal(c[0], "quantity", Quantity(parse_quantity(str(c[0])), str(c[0])), unit)
        factor = DURATION_UNITS.get(unit)
        value = None if factor is None else float(amount) * factor
        return self._literal(c[0], "duration", value, unit)

    def percent(self, meta: Meta, c: list[Token]) -> ast.Literal:
        return self._literal(c[0], "percent", float(str(c[0])[:-1]) / 100)

    def money(self, meta: Meta, c: list[Token]) -> ast.Literal:
        return self._literal(c[0], "money", float(str(c[0])[1:].replace(",", "")))

    def true(self, meta: Meta, c: list[Any]) -> ast.Literal:
        return ast.Literal("bool", True, "true", self._span(meta))

    def false(self, meta: Meta, c: list[Any]) -> ast.Literal:
        return ast.Literal("bool", False, "false", self._span(meta))

    def null(self, meta: Meta, c: list[Any]) -> ast.Literal:
        return ast.Literal("null", None, "null", self._span(meta))
