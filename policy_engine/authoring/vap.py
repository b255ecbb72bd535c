"""``policy-engine import vap``: a ValidatingAdmissionPolicy (with its binding and parameters) → a policy.

What maps is translated: the resource rules become ``match { kinds [...] }``, the binding's object
selector ``labels { … }``, its validation actions the ``enforcement``, the failure policy ``on_error``,
a ConfigMap named by the binding's ``paramRef`` a map parameter, variables are inlined, and each
validation becomes an ``assert`` — in the native language when its CEL uses only what the language
says natively (field paths, comparisons, ``&&``/``||``/``!``, ``has``, ``size``, ``startsWith``/
``endsWith``/``contains``/``matches``, ``in``, ``all``/``exists`` over lists), else as ``cel("…")``,
which evaluates it as the API server would. Everything else is named in ``notes``, precisely (which
field, why), and written as a comment above the policy, so nothing is dropped silently.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lark import Token, Tree

from policy_engine.compiler.objects import OBJECT_KINDS
from policy_engine.model.kinds import KNOWN_KINDS

#: Plural resource names → kinds, for the resources a policy language can name.
_RESOURCES = {k.lower() + ("es" if k.endswith(("s", "ch")) else "s"): k for k in (*KNOWN_KINDS, *OBJECT_KINDS)}
_RESOURCES.update({"horizontalpodautoscalers": "HorizontalPodAutoscaler", "networkpolicies": "NetworkPolicy",
                   "priorityclasses": "PriorityClass", "storageclasses": "StorageClass", "ingresses": "Ingress"})
_ACTIONS = {"Deny": "deny", "Warn": "warn", "Audit": "audit"}
_STRENGTH = ("deny", "warn", "audit")


@dataclass(slots=True)
class Imported:
    """The policy text (canonically formatted) and what could not be translated, one sentence each."""

    name: str
    text: str
    notes: list[str] = field(default_factory=list)


class _NotNative(Exception):
    """A CEL construct the native language does not say the same way: the expression stays CEL."""


def import_vap(documents: Sequence[dict[str, Any]]) -> list[Imported]:
    """Every ValidatingAdmissionPolicy among ``documents``, with the bindings and params that go with it."""
    policies = [d for d in documents if d.get("kind") == "ValidatingAdmissionPolicy"]
    bindings = [d for d in documents if d.get("kind") == "ValidatingAdmissionPolicyBinding"]
    out = []
    for vap in policies:
        name = str((vap.get("metadata") or {}).get("name") or "imported")
        mine = [b for b in bindings if (b.get("spec") or {}).get("policyName") == name]
        out.append(_translate(vap, name, mine, documents))
    return out


def _translate(vap: dict[str, Any], name: str, bindings: list[dict[str, Any]],
               documents: Sequence[dict[str, Any]]) -> Imported:
    spec = vap.get("spec") or {}
    notes: list[str] = []
    lines: list[str] = []
    params = _params(spec, bindings, documents, notes, lines)
    variables = {str(v.get("name")): str(v.get("expression")) for v in spec.get("variables") or ()}
    body: list[str] = []
    description = (vap.get("metadata") or {}).get("annotations", {}).get("description")
    body.append(f"description {_quote(description or f'imported from ValidatingAdmissionPolicy {name}')}")
    body.append(f"enforcement {_enforcement(bindings, notes)}")
    failure = spec.get("failurePolicy", "Fail")
    body.append(f"on_error {'closed' if failure == 'Fail' else 'open'}")
    constraints = _selectors(spec.get("matchConstraints") or {}, "spec.matchConstraints", notes)
    narrowed = [_binding_selectors(b, notes) for b in bindings]
    conditions = []
    for extra in [n for n in narrowed if n] or [[]]:  # each binding selects within the policy's constraints
        selectors = [x for x in (*constraints, *extra) if not x.startswith("@when ")]
        when = [x[len("@when "):] for x in (*constraints, *extra) if x.startswith("@when ")]
        conditions.append(" and ".join(when) or "true")
        if selectors:
            body.append(f"match {{ {' '.join(selectors)} }}")
    if any(c != "true" for c in conditions):
        body.append("when " + (conditions[0] if len(conditions) == 1 else " or ".join(f"({c})" for c in conditions)))
    for cond in spec.get("matchConditions") or ():
        expr = _inline(str(cond.get("expression") or "true"), variables)
        body.append(f"when {_native_or_cel(expr, params)}")
    for i, validation in enumerate(spec.get("validations") or ()):
        expr = _inline(str(validation.get("expression") or "true"), variables)
        rule = f"assert {_native_or_cel(expr, params)}"
        message = validation.get("message")
        if validation.get("messageExpression"):
            notes.append(f"spec.validations[{i}].messageExpression (a message is static text here; "
                         f"{'its message is kept' if message else 'the default message is used'})")
        if message:
            rule += f" message {_quote(str(message).replace('{', '{{').replace('}', '}}'))}"
        body.append(rule)
    if spec.get("auditAnnotations"):
        notes.append("spec.auditAnnotations (findings carry their own message and facts)")
    if not spec.get("validations"):
        notes.append("the policy has no spec.validations: the imported policy checks nothing")
    text = "".join(f"# not translated: {n}\n" for n in notes)
    text += "".join(lines)
    text += f"policy {_quote(name)} {{\n" + "".join(f"  {b}\n" for b in body) + "}\n"
    return Imported(name, text, notes)


def _enforcement(bindings: list[dict[str, Any]], notes: list[str]) -> str:
    if not bindings:
        notes.append("no ValidatingAdmissionPolicyBinding binds this policy: enforcement deny assumed")
        return "deny"
    actions = {a for b in bindings for a in (b.get("spec") or {}).get("validationActions") or ("Deny",)}
    chosen = [_ACTIONS[a] for a in actions if a in _ACTIONS]
    if len(bindings) > 1:
        notes.append(f"{len(bindings)} bindings: their selectors are alternatives (one match block each) and "
                     "the strongest validation action is used for all")
    return min(chosen, key=_STRENGTH.index) if chosen else "deny"


def _selectors(constraints: dict[str, Any], where: str, notes: list[str]) -> list[str]:
    kinds: list[str] = []
    for i, rule in enumerate(constraints.get("resourceRules") or ()):
        ops = set(rule.get("operations") or ("*",))
        if ops - {"CREATE", "UPDATE", "*"}:
            notes.append(f"{where}.resourceRules[{i}].operations {sorted(ops - {'CREATE', 'UPDATE', '*'})}: "
                         "only CREATE and UPDATE are reviewed")
        for resource in rule.get("resources") or ():
            base = str(resource).split("/")[0]
            if "/" in str(resource):
                notes.append(f"{where}.resourceRules[{i}]: subresource {resource!r} is matched as {base!r}")
            if base == "*":
                kinds.append("workloads")
                notes.append(f"{where}.resourceRules[{i}]: resources '*' is translated as every workload "
                             "(objects that run no pods are matched only by name)")
            elif base in _RESOURCES:
                kinds.append(_RESOURCES[base])
            else:
                guess = base[:-1].capitalize() if base.endswith("s") else base.capitalize()
                kinds.append(_quote(guess))
                notes.append(f"{where}.resourceRules[{i}]: resource {base!r} is not a kind the engine knows; "
                             f"matched as kind {guess!r} (check the spelling of the CRD's kind)")
    for key in ("namespaceSelector", "excludeResourceRules", "matchPolicy"):
        if constraints.get(key):
            notes.append(f"{where}.{key} ("
                         + ("namespace labels are not known in CI" if key == "namespaceSelector" else
                            "exclude these resources with an `exclude { kinds [...] }` block by hand"
                            if key == "excludeResourceRules" else "kinds are matched by name, whatever the version")
                         + ")")
    selectors = []
    if kinds:
        unique = list(dict.fromkeys(kinds))
        selectors.append("kinds workloads" if "workloads" in unique else f"kinds [{', '.join(unique)}]")
    labels = _labels(constraints.get("objectSelector") or {}, f"{where}.objectSelector", notes)
    if labels:
        selectors.append(f"@when {labels}")  # a condition, not a selector: taken out by the caller
    return selectors


def _binding_selectors(binding: dict[str, Any], notes: list[str]) -> list[str]:
    name = (binding.get("metadata") or {}).get("name", "")
    resources = (binding.get("spec") or {}).get("matchResources")
    if not resources:
        return []
    return _selectors(resources, f"binding {name}: spec.matchResources", notes)


def _labels(selector: dict[str, Any], where: str, notes: list[str]) -> str:
    """An objectSelector as a condition on the object's own labels (``object_labels``), as the API server
    reads it (``labels`` would also see the pod template's)."""
    terms = [f"object_labels[{_quote(k)}] == {_quote(str(v))}" for k, v in (selector.get("matchLabels") or {}).items()]
    for i, e in enumerate(selector.get("matchExpressions") or ()):
        key, op, values = _quote(str(e.get("key"))), e.get("operator"), e.get("values") or []
        listed = "[" + ", ".join(_quote(str(v)) for v in values) + "]"
        if op == "In":
            terms.append(f"object_labels[{key}] in {listed}")
        elif op == "NotIn":
            terms.append(f"object_labels[{key}] not in {listed}")
        elif op == "Exists":
            terms.append(f"{key} in object_labels")
        elif op == "DoesNotExist":
            terms.append(f"{key} not in object_labels")
        else:
            notes.append(f"{where}.matchExpressions[{i}]: operator {op!r} (unknown to label selectors)")
    return " and ".join(terms)


def _params(spec: dict[str, Any], bindings: list[dict[str, Any]], documents: Sequence[dict[str, Any]],
            notes: list[str], lines: list[str]) -> set[str]:
    """``param`` lines for the parameters; the names CEL may read as ``params.<name>``."""
    kind = spec.get("paramKind")
    if not kind:
        return set()
    refs = [(b.get("spec") or {}).get("paramRef") or {} for b in bindings]
    ref = next((r for r in refs if r.get("name")), None)
    if ref is None:
        notes.append("spec.paramKind is set but no binding names its parameters (paramRef.name; a selector "
                     "picks them at run time): the expressions reading params cannot be evaluated")
        return set()
    found = next((d for d in documents if d.get("kind") == kind.get("kind")
                  and (d.get("metadata") or {}).get("name") == ref.get("name")), None)
    if found is None:
        notes.append(f"the parameters {kind.get('kind')}/{ref.get('name')} are not in the file: add them to "
                     "translate the expressions that read params")
        return set()
    names = set()
    for key, value in found.items():
        if key in ("apiVersion", "kind", "metadata"):
            continue
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            entries = ", ".join(f"{_quote(k)}: {_quote(v)}" for k, v in value.items())
            lines.append(f"param {key} = {{{entries}}}\n")
            names.add(key)
        else:
            notes.append(f"parameter field {key!r} of {kind.get('kind')}/{ref.get('name')} (only maps of "
                         "strings become parameters)")
    return names


def _inline(expression: str, variables: dict[str, str]) -> str:
    for name, value in variables.items():
        expression = expression.replace(f"variables.{name}", f"({value})")
    return expression


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


# ---- CEL → the native language, where it says the same ------------------------------------------------------

def _native_or_cel(expression: str, params: set[str]) -> str:
    from policy_engine.compiler.cel import _parse

    tree = _parse(expression)
    if not isinstance(tree, Tree):
        return f"cel({_quote(expression)})"
    try:
        return _Native(params).expr(tree)
    except _NotNative:
        return f"cel({_quote(expression)})"


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
            if name not in self.names:
                raise _NotNative()
            return name
        if data == "member_dot":
            target = kids[0]
            field = str(kids[1])
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
