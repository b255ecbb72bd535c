"""``policy-engine import vap``: a ValidatingAdmissionPolicy (with its binding and parameters) → a policy.

What maps is translated: the resource rules become ``match { kinds [...] }`` (their operations and
resource names, and the excluded resources, conditions and ``exclude`` blocks), the object selector a
condition on ``object_labels``, the validation actions the ``enforcement``, the failure policy
``on_error``, a ``paramRef``'s maps parameters, variables are inlined, and each validation becomes an
``assert`` — natively when its CEL uses only what the language says natively and an absent field cannot
change its verdict (``vap_cel.absent_safe``), else as ``cel("…")``, which evaluates it as the API server would.
Everything else is named in ``notes``, precisely (which field, why), and written as a comment above the
policy, so nothing is dropped silently.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from policy_engine.authoring.vap_cel import absent_safe, escape, message_template, native_or_cel
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
    excludes: list[str] = []
    for extra in [n for n in narrowed if n] or [[]]:  # each binding selects within the policy's constraints
        selectors = [x for x in (*constraints, *extra) if not x.startswith("@")]
        when = [x[len("@when "):] for x in (*constraints, *extra) if x.startswith("@when ")]
        excludes.extend(x[len("@exclude "):] for x in (*constraints, *extra) if x.startswith("@exclude "))
        conditions.append(" and ".join(when) or "true")
        if selectors:
            body.append(f"match {{ {' '.join(selectors)} }}")
    body.extend(f"exclude {{ {x} }}" for x in dict.fromkeys(excludes))
    if any(c != "true" for c in conditions):
        body.append("when " + (conditions[0] if len(conditions) == 1 else " or ".join(f"({c})" for c in conditions)))
    ignore = failure == "Ignore"
    for i, cond in enumerate(spec.get("matchConditions") or ()):
        expr = _inline(str(cond.get("expression") or "true"), variables)
        if not absent_safe(expr, strict=True):
            notes.append(f"spec.matchConditions[{i}] reads a field that may be absent: where CEL errors the API "
                         f"server {'admits' if ignore else 'rejects'} the request (failurePolicy {failure}); "
                         "here the condition is false and the policy does not apply")
        body.append(f"when {native_or_cel(expr, params, ignore)}")
    for i, validation in enumerate(spec.get("validations") or ()):
        expr = _inline(str(validation.get("expression") or "true"), variables)
        rule = f"assert {native_or_cel(expr, params, ignore)}"
        message = escape(str(validation["message"])) if validation.get("message") else None
        if validation.get("messageExpression"):
            template = message_template(_inline(str(validation["messageExpression"]), variables))
            if template is not None:
                message = template
            else:
                notes.append(f"spec.validations[{i}].messageExpression (only a concatenation of strings and "
                             "the object's name, namespace or kind, or the requesting user, becomes a message "
                             f"template; {'its message is kept' if message else 'the default message is used'})")
        if message:
            rule += f" message {_quote(message)}"
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
    rule_conditions: list[tuple[list[str], str]] = []  # (the rule's kinds, its condition or "")
    for i, rule in enumerate(constraints.get("resourceRules") or ()):
        here = _rule_kinds(rule, f"{where}.resourceRules[{i}]", notes)
        kinds.extend(here)
        parts = [c for c in (_operations(rule, f"{where}.resourceRules[{i}]", notes), _names(rule)) if c]
        rule_conditions.append((here, " and ".join(parts)))
    excluded: list[str] = []
    for i, rule in enumerate(constraints.get("excludeResourceRules") or ()):
        here = _rule_kinds(rule, f"{where}.excludeResourceRules[{i}]", notes)
        parts = [c for c in (_operations(rule, f"{where}.excludeResourceRules[{i}]", notes), _names(rule)) if c]
        if not parts:
            excluded.extend(here)
        elif here:
            rule_conditions.append(([], f"not ({_kind_in(here)} and {' and '.join(parts)})"))
    if constraints.get("namespaceSelector"):
        notes.append(f"{where}.namespaceSelector (namespace labels are not known in CI)")
    if constraints.get("matchPolicy") == "Exact":
        notes.append(f"{where}.matchPolicy Exact (kinds are matched by name, whatever the version)")
    selectors = []
    if kinds:
        unique = list(dict.fromkeys(kinds))
        selectors.append("kinds workloads" if "workloads" in unique else f"kinds [{', '.join(unique)}]")
    if excluded:
        selectors.append(f"@exclude kinds [{', '.join(dict.fromkeys(excluded))}]")
    if any(c for _, c in rule_conditions):
        alternatives = [f"({_kind_in(k)} and {c})" if c and k else c or _kind_in(k) for k, c in rule_conditions
                        if k or c.startswith("not ")]
        kept = [a for a in alternatives if not a.startswith("not ")]
        guards = [a for a in alternatives if a.startswith("not ")]
        condition = " and ".join([*(["(" + " or ".join(kept) + ")"] if len(kept) > 1 else kept), *guards])
        selectors.append(f"@when {condition}")
    labels = _labels(constraints.get("objectSelector") or {}, f"{where}.objectSelector", notes)
    if labels:
        selectors.append(f"@when {labels}")  # a condition, not a selector: taken out by the caller
    return selectors


def _rule_kinds(rule: dict[str, Any], where: str, notes: list[str]) -> list[str]:
    kinds: list[str] = []
    for resource in rule.get("resources") or ():
        base = str(resource).split("/")[0]
        if "/" in str(resource):
            notes.append(f"{where}: subresource {resource!r} is matched as {base!r}")
        if base == "*":
            kinds.append("workloads")
            notes.append(f"{where}: resources '*' is translated as every workload "
                         "(objects that run no pods are matched only by name)")
        elif base in _RESOURCES:
            kinds.append(_RESOURCES[base])
        else:
            guess = base[:-1].capitalize() if base.endswith("s") else base.capitalize()
            kinds.append(_quote(guess))
            notes.append(f"{where}: resource {base!r} is not a kind the engine knows; "
                         f"matched as kind {guess!r} (check the spelling of the CRD's kind)")
    return kinds


def _operations(rule: dict[str, Any], where: str, notes: list[str]) -> str:
    """The rule's operations as a condition on ``operation`` ("" for every operation). In CI there is no
    request (``operation`` is null): a manifest checked there is being created or updated."""
    ops = [str(o) for o in rule.get("operations") or ("*",)]
    unseen = sorted(set(ops) - {"CREATE", "UPDATE", "*"})
    if unseen:
        notes.append(f"{where}.operations {unseen}: the webhook reviews CREATE and UPDATE only, so the policy "
                     "never sees these")
    if "*" in ops or {"CREATE", "UPDATE"} <= set(ops):
        return ""  # every operation the policy can see
    listed = "[" + ", ".join(_quote(o) for o in ops) + "]"
    if {"CREATE", "UPDATE"} & set(ops):
        return f"(operation == null or operation in {listed})"
    return f"operation in {listed}"


def _names(rule: dict[str, Any]) -> str:
    names = [str(n) for n in rule.get("resourceNames") or ()]
    return f"name in [{', '.join(_quote(n) for n in names)}]" if names else ""


def _kind_in(kinds: list[str]) -> str:
    return f"kind in [{', '.join(k if k.startswith(chr(34)) else _quote(k) for k in kinds)}]"


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
        scalar = {type(v) for v in value.values()} if isinstance(value, dict) else set()
        if isinstance(value, dict) and value and len(scalar) == 1 and scalar <= {str, int, float, bool}:
            entries = ", ".join(f"{_quote(str(k))}: {_scalar(v)}" for k, v in value.items())
            lines.append(f"param {key} = {{{entries}}}\n")
            names.add(key)
        else:
            notes.append(f"parameter field {key!r} of {kind.get('kind')}/{ref.get('name')} (only maps whose "
                         "values are all strings, all numbers or all booleans become parameters)")
    return names


def _scalar(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _quote(value) if isinstance(value, str) else repr(value)


def _inline(expression: str, variables: dict[str, str]) -> str:
    for name, value in variables.items():
        expression = expression.replace(f"variables.{name}", f"({value})")
    return expression


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
