"""Constant folding: parameters are substituted and every subexpression not reading the workload is
computed once, so ``when false`` (or ``when max_gpus < 0``) is seen as unreachable before codegen."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from policy_engine.compiler.checked import Constant
from policy_engine.compiler.codegen_expr import compile_expr, uses_workload
from policy_engine.compiler.walk import children
from policy_engine.diagnostics import Diagnostic, Level
from policy_engine.quantity import Quantity, parse_quantity
from policy_engine.syntax import ast
from policy_engine.syntax.unparse import unparse


def _literal_type(value: object, declared: str) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if declared in ("duration", "money", "percent", "number", "string"):
        return declared
    return "string" if isinstance(value, str) else "number" if isinstance(value, int | float) else declared


def fold(e: ast.Expr, params: Mapping[str, Constant], types: Mapping[int, str]) -> ast.Expr:
    """``e`` with parameters replaced by literals and constant subexpressions computed."""
    if isinstance(e, ast.Literal):
        if e.type == "duration" and e.unit == "m" and types.get(id(e)) == "quantity":
            return ast.Literal("quantity", milli(e.raw), e.raw, e.span, e.unit)  # 500m beside a quantity
        return e
    if isinstance(e, ast.Name):
        constant = params.get(e.id)
        if constant is None:
            return e
        if constant.type == "duration" and types.get(id(e)) == "quantity":  # `param max_cpu = 500m` beside a quantity
            return ast.Literal("quantity", milli(constant.raw), constant.raw, e.span, "m")
        return ast.Literal(constant.type, constant.value, constant.raw, e.span)
    rebuilt = _rebuild(e, params, types)
    if uses_workload(rebuilt) or isinstance(rebuilt, ast.ListExpr | ast.MapExpr):
        return rebuilt
    value = compile_expr(rebuilt)(None)  # constant: never reads the workload
    declared = types.get(id(e), "")
    return ast.Literal(_literal_type(value, declared), value, unparse(e), e.span)


def _rebuild(e: ast.Expr, params: Mapping[str, Constant], types: Mapping[int, str]) -> ast.Expr:
    def f(x: ast.Expr) -> ast.Expr:
        return fold(x, params, types)

    if isinstance(e, ast.Field):
        return ast.Field(f(e.target), e.name, e.span)
    if isinstance(e, ast.Index):
        return ast.Index(f(e.target), f(e.index), e.span)
    if isinstance(e, ast.Call):
        args = tuple(f(a) for a in e.args)
        if e.func.name == "cel" and len(args) == 1 and isinstance(args[0], ast.Literal) \
                and "params" in str(args[0].value):  # CEL reads the policy's parameters as `params`
            args = (*args, ast.Literal("map[any]", {k: c.value for k, c in params.items()}, "params", e.span))
        return ast.Call(e.func, args, e.span)
    if isinstance(e, ast.ListExpr):
        return ast.ListExpr(tuple(f(i) for i in e.items), e.span)
    if isinstance(e, ast.MapExpr):
        return ast.MapExpr(tuple((f(k), f(v)) for k, v in e.entries), e.span)
    if isinstance(e, ast.Quantifier):
        return ast.Quantifier(e.op, e.names, f(e.collection), f(e.body), e.span)
    if isinstance(e, ast.Neg):
        return ast.Neg(f(e.operand), e.span)
    if isinstance(e, ast.Not):
        return ast.Not(f(e.operand), e.span)
    if isinstance(e, ast.BinOp):
        return ast.BinOp(e.op, f(e.left), f(e.right), e.span)
    if isinstance(e, ast.Compare):
        return ast.Compare(e.op, f(e.left), f(e.right), e.span, e.op_text)
    if isinstance(e, ast.BoolOp):
        return _fold_bool(e, [f(o) for o in e.operands])
    raise AssertionError(f"unfoldable node {type(e).__name__}")  # pragma: no cover


def _fold_bool(e: ast.BoolOp, operands: list[ast.Expr]) -> ast.Expr:
    """``x and false`` is false, ``x or true`` is true; constant operands that change nothing drop out."""
    absorbing, neutral = (False, True) if e.op == "and" else (True, False)
    kept: list[ast.Expr] = []
    for operand in operands:
        if isinstance(operand, ast.Literal) and (operand.value is True or operand.value is False):
            if operand.value is absorbing:
                return ast.Literal("bool", absorbing, unparse(e), e.span)
            if operand.value is neutral:
                continue
        kept.append(operand)
    if not kept:
        return ast.Literal("bool", neutral, unparse(e), e.span)
    if len(kept) == 1:
        return kept[0]
    return ast.BoolOp(e.op, tuple(kept), e.span)


def milli(raw: str) -> Quantity:
    """``500m`` read as a quantity: 500 thousandths."""
    return Quantity(parse_quantity(raw), raw)


def is_constant(e: ast.Expr) -> bool:
    if isinstance(e, ast.ListExpr | ast.MapExpr):
        return all(is_constant(c) for c in children(e))
    return isinstance(e, ast.Literal)


def fold_policy(policy: ast.Policy, params: Mapping[str, Constant], types: Mapping[int, str],
                diagnostics: list[Diagnostic]) -> ast.Policy:
    """The policy with every expression folded; conditions that fold to false are reported (E307)."""

    def f(e: ast.Expr) -> ast.Expr:
        return fold(e, params, types)

    items: list[ast.PolicyItem] = []
    for item in policy.items:
        if isinstance(item, ast.When):
            condition = f(item.condition)
            if _is_false(condition):
                diagnostics.append(Diagnostic(item.condition.span, "E307", "this 'when' condition is always "
                                              "false, so the policy never applies",
                                              hint="remove the policy, or fix the condition"))
            items.append(ast.When(condition, item.span))
        elif isinstance(item, ast.Rule):
            guard = f(item.guard) if item.guard is not None else None
            if guard is not None and _is_false(guard):
                diagnostics.append(Diagnostic(item.guard.span if item.guard else item.span, "E307",
                                              "this rule is unreachable: its 'if' guard is always false",
                                              hint="remove the rule, or fix the guard"))
            body = _fold_body(item.body, f)
            if isinstance(body, ast.Assert) and isinstance(body.condition, ast.Literal) \
                    and isinstance(body.condition.value, bool):
                fires = body.condition.value is body.negate
                diagnostics.append(Diagnostic(
                    item.body.span, "W301", "this condition is constant: the rule "
                    + ("fires for every workload" if fires else "can never fire"), Level.WARNING))
            items.append(ast.Rule(body, guard, item.message, item.span))
        else:
            items.append(item)
    return ast.Policy(policy.name, tuple(items), policy.span)


def _is_false(e: ast.Expr) -> bool:
    return isinstance(e, ast.Literal) and (e.value is False or e.value is None)


def _fold_body(body: ast.RuleBody, f: Callable[[ast.Expr], ast.Expr]) -> ast.RuleBody:
    if isinstance(body, ast.Assert):
        return replace(body, condition=f(body.condition))
    if isinstance(body, ast.RequireIdle | ast.RequireDeadline):
        return replace(body, maximum=f(body.maximum)) if body.maximum is not None else body
    if isinstance(body, ast.LiveIdle):
        action = body.action
        if action is not None and action.notice is not None:
            action = replace(action, notice=f(action.notice))
        return replace(body, threshold=f(body.threshold), duration=f(body.duration), action=action)
    if isinstance(body, ast.Aggregate):
        return replace(
            body, limit=f(body.limit) if body.limit is not None else None,
            key=f(body.key) if body.key is not None else None, alerts=tuple(f(a) for a in body.alerts),
            overrides=tuple(replace(o, limit=f(o.limit)) for o in body.overrides),
            anomaly=f(body.anomaly) if body.anomaly is not None else None,
            anomaly_window=f(body.anomaly_window) if body.anomaly_window is not None else None)
    return body
