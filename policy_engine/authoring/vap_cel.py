"""CEL → the native language, for ``import vap``: an expression is translated only where the language says
the same thing and decides as CEL does on every object, absent fields included; else it stays ``cel("…")``.
Also a ``messageExpression`` as a message template, where it is one.
"""

from __future__ import annotations

import json
from typing import Any

from lark import Token, Tree


class _NotNative(Exception):
    """A CEL construct the native language does not say the same way: the expression stays CEL."""


def escape(text: str) -> str:
    """Static text as a message template: braces doubled."""
    return text.replace("{", "{{").replace("}", "}}")


#: CEL expressions a message template says with a placeholder.
_PLACEHOLDERS = {"object.metadata.name": "{name}", "object.metadata.namespace": "{namespace}",
                 "object.kind": "{kind}", "request.userInfo.username": "{user}", "request.operation": "{operation}"}


def message_template(expression: str) -> str | None:
    """A messageExpression that joins string literals and placeholder values (``'replicas of ' +
    object.metadata.name + ' must be ...'``) as a message template; None for anything else."""
    from policy_engine.compiler.cel import _parse
    from policy_engine.compiler.cel_compile import _literal

    tree = _parse(expression)
    if not isinstance(tree, Tree):
        return None
    out: list[str] = []

    def visit(node: Any) -> bool:
        while isinstance(node, Tree) and len(node.children) == 1 and node.data in _WRAPPERS:
            node = node.children[0]
        if isinstance(node, Tree) and node.data == "addition" and node.children[0].data == "addition_add":
            return visit(node.children[0].children[0]) and visit(node.children[1])
        if isinstance(node, Tree) and node.data == "literal" and isinstance(node.children[0], Token):
            value = _literal(node.children[0])
            if isinstance(value, str):
                out.append(escape(value))
                return True
            return False
        placeholder = _PLACEHOLDERS.get(_dotted_path(node) or "")
        if placeholder is None:
            return False
        out.append(placeholder)
        return True

    return "".join(out) if visit(tree) else None


def _dotted_path(node: Any) -> str | None:
    names: list[str] = []
    while isinstance(node, Tree) and node.data in ("member_dot", "member", "primary"):
        if node.data == "member_dot":
            names.append(str(node.children[1]))
        node = node.children[0]
    root = _ident_name(node)
    return ".".join([root, *reversed(names)]) if root is not None else None


# ---- CEL → the native language, where it says the same ------------------------------------------------------

def native_or_cel(expression: str, params: set[str], ignore: bool = False) -> str:
    """The native translation when it decides as CEL does on every object, absent fields included; else
    ``cel("…")``. Under failurePolicy Ignore an error admits: ``cel("…") != false`` says so (an error is
    null there), and a native translation is used only when no field it reads can be absent."""
    from policy_engine.compiler.cel import _parse

    tree = _parse(expression)
    fallback = f"cel({_quote(expression)})" + (" != false" if ignore else "")
    if not isinstance(tree, Tree) or not absent_safe(expression, strict=ignore):
        return fallback
    try:
        return _Native(params).expr(tree)
    except _NotNative:
        return fallback


#: Paths every object the API server admits has (a name is generated before admission).
_PRESENT = frozenset({"object", "object.metadata", "object.metadata.name", "object.kind", "object.apiVersion"})
_WRAPPERS = ("expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication", "unary",
             "member", "primary", "paren_expr")


def absent_safe(expression: str, strict: bool) -> bool:
    """Whether an absent field cannot make the native translation hold where CEL errors: CEL errors on
    reading an absent field (the validation then fails under failurePolicy Fail), the native language reads
    null, so ``x <= 3`` is false in both but ``!(x == 1)`` or ``x != 1`` would hold natively. Reads under
    ``!``, ``!=`` or ``== null`` must be guarded (``has(x) && …``, ``!has(x) || …``); with ``strict``
    (failurePolicy Ignore: an error admits) every read must be."""
    from policy_engine.compiler.cel import _parse

    tree = _parse(expression)
    if not isinstance(tree, Tree):
        return False

    def unwrap(node: Any) -> Any:
        while isinstance(node, Tree) and len(node.children) == 1 and node.data in _WRAPPERS:
            node = node.children[0]
        return node

    def has_paths(node: Any, negated: bool) -> set[str]:
        """Paths ``has(P)`` guarantees in what follows ``&&`` (or ``!has(P)`` in what follows ``||``)."""
        node = unwrap(node)
        join = "conditionalor" if negated else "conditionaland"
        if isinstance(node, Tree) and node.data == join and len(node.children) == 2:
            return has_paths(node.children[0], negated) | has_paths(node.children[1], negated)
        if negated:
            if not (isinstance(node, Tree) and node.data == "unary" and node.children[0].data == "unary_not"):
                return set()
            node = unwrap(node.children[1])
        if isinstance(node, Tree) and node.data == "ident_arg" and str(node.children[0]) == "has":
            path = _dotted_path(unwrap(node.children[1].children[0])) if len(node.children) > 1 else None
            return {path} if path else set()
        return set()

    def guarded(path: str, known: frozenset[str]) -> bool:
        return path in _PRESENT or path.split(".")[0] == "params" or any(
            g == path or g.startswith(path + ".") for g in known)

    def visit(node: Any, known: frozenset[str], sensitive: bool) -> bool:
        node = unwrap(node)
        if not isinstance(node, Tree):
            return True
        data, kids = str(node.data), node.children
        if data == "conditionaland" and len(kids) == 2:
            return visit(kids[0], known, sensitive) and visit(kids[1], known | has_paths(kids[0], False), sensitive)
        if data == "conditionalor" and len(kids) == 2:
            return visit(kids[0], known, sensitive) and visit(kids[1], known | has_paths(kids[0], True), sensitive)
        if data == "unary" and kids[0].data == "unary_not":
            return visit(kids[1], known, True)
        if data == "relation" and len(kids) == 2:
            op, left, right = kids[0].data, kids[0].children[0], kids[1]
            null = any(isinstance(u := unwrap(x), Tree) and u.data == "literal" and str(u.children[0]) == "null"
                       for x in (left, right))
            touchy = sensitive or op == "relation_ne" or (op == "relation_eq" and null)
            return visit(left, known, touchy) and visit(right, known, touchy)
        if data == "ident_arg" and str(kids[0]) == "has":
            return True  # has() reads nothing that can error
        if data in ("member_dot", "member_index"):
            path = _dotted_path(node) if data == "member_dot" else None
            if path is not None:
                return guarded(path, known) or not (sensitive or strict)
            return all(visit(k, known, sensitive) for k in kids if isinstance(k, Tree)) and not (
                data == "member_index" and (sensitive or strict))
        return all(visit(k, known, sensitive) for k in kids if isinstance(k, Tree))

    return visit(tree, frozenset(), False)


class _Native:
    def __init__(self, params: set[str], names: frozenset[str] = frozenset({"object"})) -> None:
        self.params = params
        self.names = names

    def expr(self, t: Any) -> str:
        if isinstance(t, Token) or not isinstance(t, Tree):
            raise _NotNative()
        data = str(t.data)
        kids = t.children
        if data in ("expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication", "unary",
                    "member", "primary") and len(kids) == 1:
            return self.expr(kids[0])
        if data == "conditionalor":
            return f"({self.expr(kids[0])} or {self.expr(kids[1])})"
        if data == "conditionaland":
            return f"({self.expr(kids[0])} and {self.expr(kids[1])})"
        if data == "relation":
            op = {"relation_eq": "==", "relation_ne": "!=", "relation_lt": "<", "relation_le": "<=",
                  "relation_gt": ">", "relation_ge": ">=", "relation_in": "in"}[kids[0].data]
            return f"({self.expr(kids[0].children[0])} {op} {self.expr(kids[1])})"
        if data in ("addition", "multiplication"):
            arith = {"addition_add": "+", "addition_sub": "-", "multiplication_mul": "*"}.get(kids[0].data)
            if arith is None:  # CEL divides integers with truncation, and % has no native form
                raise _NotNative()
            return f"({self.expr(kids[0].children[0])} {arith} {self.expr(kids[1])})"
        if data == "unary":
            if kids[0].data == "unary_not":
                return f"(not {self.expr(kids[1])})"
            return f"(-{self.expr(kids[1])})"
        if data == "paren_expr":
            return self.expr(kids[0])
        if data == "literal":
            return self._literal(kids[0])
        if data == "list_lit":
            items = kids[0].children if kids and kids[0] is not None else []
            return "[" + ", ".join(self.expr(i) for i in items) + "]"
        if data == "ident":
            name = str(kids[0])
            if name == "oldObject":
                return "old_object"
            if name not in self.names:
                raise _NotNative()
            return name
        if data == "member_dot":
            target = kids[0]
            field = str(kids[1])
            request = _request_attribute(t)
            if request is not None:
                return request
            if _is_ident(target, "params") and field in self.params:
                return field
            inner = _unwrap(target)
            if inner is not None and inner.data == "member_dot" and _is_ident(inner.children[0], "params") \
                    and str(inner.children[1]) in self.params:  # params.data.key: a key of a map parameter
                return f"{inner.children[1]}[{_quote(field)}]"
            return f"{self.expr(target)}.{field}"
        if data == "member_index":
            return f"{self.expr(kids[0])}[{self.expr(kids[1])}]"
        if data == "ident_arg":
            return self._call(str(kids[0]), list(kids[1].children) if len(kids) > 1 and kids[1] is not None else [])
        if data == "member_dot_arg":
            args = list(kids[2].children) if len(kids) > 2 and kids[2] is not None else []
            return self._method(kids[0], str(kids[1]), args)
        raise _NotNative()

    def _literal(self, token: Any) -> str:
        from policy_engine.compiler.cel_compile import _literal

        value = _literal(token)
        if isinstance(value, bool):
            return "true" if value else "false"
        if value is None:
            return "null"
        if isinstance(value, str):
            return _quote(value)
        if isinstance(value, int) or (isinstance(value, float) and not value.is_integer()):
            return repr(value)
        raise _NotNative()

    def _call(self, name: str, args: list[Any]) -> str:
        if name == "has" and len(args) == 1:
            return f"has({self.expr(args[0])})"
        if name == "size" and len(args) == 1:
            return f"len({self.expr(args[0])})"
        if name == "int" and len(args) == 1:
            return f"int({self.expr(args[0])})"
        raise _NotNative()

    def _method(self, target: Any, name: str, args: list[Any]) -> str:
        simple = {"startsWith": "startswith", "endsWith": "endswith", "contains": "contains"}
        if name in simple and len(args) == 1:
            return f"{simple[name]}({self.expr(target)}, {self.expr(args[0])})"
        if name == "matches" and len(args) == 1:
            return f"({self.expr(target)} =~ {self.expr(args[0])})"
        if name == "size" and not args:
            return f"len({self.expr(target)})"
        if name in ("all", "exists") and len(args) == 2 and _ident_name(args[0]) is not None:
            var = _ident_name(args[0]) or ""
            if not var or var in ("object", "containers") or var in self.params:
                raise _NotNative()
            inner = _Native(self.params, self.names | {var})
            op = "all" if name == "all" else "any"
            return f"({op} {var} in {self.expr(target)}: {inner.expr(args[1])})"
        raise _NotNative()


#: The admission request's fields the native language reads as attributes (null in CI, as in CEL's there).
_REQUEST = {("request", "operation"): "operation", ("request", "userInfo", "username"): "user",
            ("request", "userInfo", "groups"): "groups"}


def _request_attribute(node: Any) -> str | None:
    """``request.operation`` → ``operation``, ``request.userInfo.username`` → ``user``, …; else None."""
    path = _dotted_path(node)
    return _REQUEST.get(tuple(path.split("."))) if path is not None else None


def _unwrap(node: Any) -> Tree[Any] | None:
    while isinstance(node, Tree) and len(node.children) == 1 and node.data in (
            "expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication", "unary",
            "member", "primary"):
        node = node.children[0]
    return node if isinstance(node, Tree) else None


def _ident_name(node: Any) -> str | None:
    while isinstance(node, Tree) and len(node.children) == 1 and node.data != "ident":
        node = node.children[0]
    if isinstance(node, Tree) and node.data == "ident":
        return str(node.children[0])
    return None


def _is_ident(node: Any, name: str) -> bool:
    return _ident_name(node) == name


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
