"""Expressions back to source text (canonical spacing), for messages, explain and the formatter."""

from __future__ import annotations

from policy_engine.syntax import ast

# Binding strength: a child binding looser than its parent is parenthesised.
_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "compare": 4, "+": 5, "-": 5, "*": 6, "/": 6, "neg": 7}
_ATOM = 8


def _prec(e: ast.Expr) -> int:
    if isinstance(e, ast.Quantifier):
        return 0  # its body reaches as far right as it can: parenthesised inside anything else
    if isinstance(e, ast.BoolOp):
        return _PRECEDENCE[e.op]
    if isinstance(e, ast.Not):
        return _PRECEDENCE["not"]
    if isinstance(e, ast.Compare):
        return _PRECEDENCE["compare"]
    if isinstance(e, ast.BinOp):
        return _PRECEDENCE[e.op]
    if isinstance(e, ast.Neg):
        return _PRECEDENCE["neg"]
    return _ATOM


def _wrap(e: ast.Expr, above: int, strict: bool = False) -> str:
    text = unparse(e)
    p = _prec(e)
    return f"({text})" if p < above or (strict and p == above) else text


def unparse(e: ast.Expr) -> str:
    if isinstance(e, ast.Literal):
        return e.raw
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.Field):
        return f"{_wrap(e.target, _ATOM)}.{e.name.name}"
    if isinstance(e, ast.Index):
        return f"{_wrap(e.target, _ATOM)}[{unparse(e.index)}]"
    if isinstance(e, ast.Call):
        return f"{e.func.name}({', '.join(unparse(a) for a in e.args)})"
    if isinstance(e, ast.ListExpr):
        return "[" + ", ".join(unparse(i) for i in e.items) + "]"
    if isinstance(e, ast.MapExpr):
        return "{" + ", ".join(f"{_wrap(k, 1)}: {unparse(v)}" for k, v in e.entries) + "}"
    if isinstance(e, ast.Quantifier):
        names = ", ".join(n.name for n in e.names)
        return f"{e.op} {names} in {_wrap(e.collection, 1)}: {unparse(e.body)}"
    if isinstance(e, ast.Neg):
        return "-" + _wrap(e.operand, _PRECEDENCE["neg"])
    if isinstance(e, ast.Not):
        return "not " + _wrap(e.operand, _PRECEDENCE["not"])
    if isinstance(e, ast.BinOp):
        p = _PRECEDENCE[e.op]
        return f"{_wrap(e.left, p)} {e.op} {_wrap(e.right, p, strict=True)}"
    if isinstance(e, ast.Compare):
        p = _PRECEDENCE["compare"]
        op = e.op_text or e.op
        return f"{_wrap(e.left, p, strict=True)} {op} {_wrap(e.right, p, strict=True)}"
    p = _PRECEDENCE[e.op]
    return f" {e.op} ".join(_wrap(o, p, strict=True) for o in e.operands)


def operands(e: ast.BoolOp) -> list[str]:
    """The operands of an ``and``/``or`` as they read inside it (parenthesised where needed), for layout."""
    p = _PRECEDENCE[e.op]
    return [_wrap(o, p, strict=True) for o in e.operands]
