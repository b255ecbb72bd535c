"""The direct subexpressions of a policy expression: what every pass that walks a checked tree recurses into."""

from __future__ import annotations

from policy_engine.syntax import ast


def children(e: ast.Expr) -> tuple[ast.Expr, ...]:
    if isinstance(e, ast.Field):
        return (e.target,)
    if isinstance(e, ast.Index):
        return (e.target, e.index)
    if isinstance(e, ast.Call):
        return e.args
    if isinstance(e, ast.ListExpr):
        return e.items
    if isinstance(e, ast.MapExpr):
        return tuple(x for entry in e.entries for x in entry)
    if isinstance(e, ast.Quantifier):
        return (e.collection, e.body)
    if isinstance(e, ast.Neg | ast.Not):
        return (e.operand,)
    if isinstance(e, ast.BinOp | ast.Compare):
        return (e.left, e.right)
    if isinstance(e, ast.BoolOp):
        return e.operands
    return ()
