"""Rules → closures ``Workload -> Sequence[Violation]``, each with a default message saying what is wrong,
the offending value and how to fix it (a policy's own ``message`` template replaces the default)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from itertools import filterfalse
from typing import Any

from policy_engine.compiler import container_groups
from policy_engine.compiler.attributes import ATTRIBUTES, deciding_roles
from policy_engine.compiler.codegen_expr import Closure, compile_expr
from policy_engine.compiler.container_groups import by_class
from policy_engine.compiler.estimates import SavingFns
from policy_engine.compiler.messages import Template, render_duration, render_value
from policy_engine.compiler.program import Violation, new_violation
from policy_engine.compiler.regex import compile_regex
from policy_engine.compiler.walk import children
from policy_engine.model.documents import FieldPath
from policy_engine.model.runtime import IDLE_TIMEOUT_ANNOTATION
from policy_engine.model.workload import CapacityType, Role, RunKind, Workload
from policy_engine.syntax import ast
from policy_engine.syntax.unparse import unparse

RuleFn = Callable[[Workload], Sequence[Violation]]
NONE: tuple[Violation, ...] = ()
_NO_CONTEXT: Mapping[str, str] = {}
#: The fact a spot finding carries when the catalog has no real spot price for the workload.
SPOT_SAVING_UNKNOWN = "unknown: no spot price in the pricing catalog (bring real ones: policy-engine prices import)"

#: Enum members the rules compare with, read once (on Python 3.11 each read through the class goes through
#: ``EnumType.__getattr__``, ~0.1 µs, for every workload a rule judges).
_SPOT, _UNKNOWN_CAPACITY = CapacityType.SPOT, CapacityType.UNKNOWN
_UNBOUNDED, _CONTINUOUS = RunKind.UNBOUNDED, RunKind.CONTINUOUS

_FIELDS = {"instance_types": "instance_type", "gpu_models": "gpu_model"}
_NOUNS = {"instance_types": "instance type", "gpu_models": "GPU model"}


def fix_paths(w: Workload, target: str, keys: Sequence[str]) -> list[FieldPath]:
    """Where ``keys`` must be set (labels or annotations) for every pod of ``w`` to carry them: the path
    of each role whose pods lack one (a Deployment's ``spec.template.metadata.labels``, a CronJob's
    ``spec.jobTemplate.spec.template.metadata.labels``, a Pod's ``metadata.labels``), deduplicated."""
    out: list[FieldPath] = []
    labels = target == "labels"
    for role in w.roles:
        carried = role.pod_labels if labels else role.pod_annotations
        for k in keys:
            if not carried.get(k):
                path = role.labels_path if labels else role.annotations_path
                if path not in out:
                    out.append(path)
                break
    return out or [("metadata", target)]


@lru_cache(maxsize=256)
def _dotted(path: FieldPath) -> str:
    """``spec.template.metadata.labels``: a few paths, over and over, so each is spelt once."""
    return ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path).replace(".[", "[")


class RuleCompiler:
    """Compiles the rules of one policy; ``template`` is the policy's message override, if any."""

    def __init__(self, policy_name: str, template: Template | None, savings: SavingFns) -> None:
        self.policy_name = policy_name
        self.template = template
        self.savings = savings

    def violation(self, w: Workload, rule: str, default: str, context: Mapping[str, str],
                  path: FieldPath = (), saving: float | None = None,
                  facts: Mapping[str, object] | None = None) -> Violation:
        if self.template is None:
            return new_violation((rule, default, path, saving, facts or {}))
        message = self.template.render(w, {"policy": self.policy_name, **context})
        return new_violation((rule, message, path, saving, facts or {}))

    # ---- labels and annotations ----
    # A label rule reads what every pod the workload runs carries (``Workload.labels``: a controller's pod
    # template, see docs/language.md); the fix names the path that puts the key on every such pod.
    def require_keys(self, body: ast.RequireKeys) -> RuleFn:
        keys = tuple(k.value for k in body.keys)
        read = ATTRIBUTES[body.target].getter
        noun = body.target[:-1]
        keys_text = ", ".join(keys)
        templated = self.template is not None
        target = body.target

        def check(w: Workload) -> Sequence[Violation]:
            missing = list(filterfalse(read(w).get, keys))
            if not missing:
                return NONE
            listed = ", ".join(missing)
            plural = "s" if len(missing) > 1 else ""
            paths = fix_paths(w, target, missing)
            where = fix_where(w, target, paths)
            default = f"missing required {noun}{plural} {listed}; add {'them' if plural else 'it'} under {where}"
            if not templated:  # (``violation``'s own result, without its call)
                return [new_violation((target, default, paths[0], None, {"missing": tuple(missing)}))]
            context = {"missing": listed, "keys": keys_text, "where": where}
            return [self.violation(w, target, default, context, paths[0], facts={"missing": tuple(missing)})]

        return check

    def require_key(self, body: ast.RequireKey) -> RuleFn:
        key = body.key.value
        plural = "labels" if body.target == "label" else "annotations"
        read = ATTRIBUTES[plural].getter
        allowed = frozenset(v.value for v in body.allowed) if body.allowed is not None else None
        allowed_text = ", ".join(v.value for v in body.allowed or ())
        pattern = body.pattern.value if body.pattern is not None else None
        rx = compile_regex(pattern) if pattern is not None else None  # RE2 (compiler/regex.py)
        context = {"key": key, "allowed": allowed_text, "pattern": pattern or ""}
        templated = self.template is not None
        target = body.target
        how = f" with one of: {allowed_text}" if allowed else ""
        how = how or (f" matching {pattern}" if pattern else "")
        missing = f"{target} {key!r} is missing; set it{how} under "  # and where
        keys = (key,)

        def check(w: Workload) -> Sequence[Violation]:
            value = read(w).get(key)
            if value and (allowed is None or value in allowed) and (rx is None or rx.search(value) is not None):
                return NONE  # (the commonest outcome: where to fix it is not worked out)
            paths = fix_paths(w, plural, keys)
            where = fix_where(w, plural, paths)
            if not value:
                default = missing + where
            elif allowed is not None and value not in allowed:
                default = f"{target} {key}={value!r} is not allowed; use one of: {allowed_text} (at {where})"
            else:
                default = f"{target} {key}={value!r} does not match {pattern}; change it to match (at {where})"
            if not templated:  # (``violation``'s own result, without its call)
                return [new_violation((target, default, (*paths[0], key), None, {key: value}))]
            return [self.violation(w, target, default, {**context, "value": render_value(value), "where": where},
                                   (*paths[0], key), facts={key: value})]

        return check

    # ---- allowlists and denylists ----
    def pattern_list(self, body: ast.PatternList) -> RuleFn:
        patterns = tuple(p.value for p in body.patterns)
        rx = re.compile("|".join(fnmatch.translate(p) for p in patterns), re.IGNORECASE)
        match = rx.match
        allow = body.mode == "allow"
        attr = _FIELDS[body.target]
        noun = _NOUNS[body.target]
        listed = ", ".join(patterns)
        saving_fn = self.savings.allowlist if allow and body.target == "instance_types" else None

        def values(role: Role) -> tuple[str, ...]:
            if attr == "gpu_model":
                return (role.gpu_model,) if role.gpu_model else ()
            if role.instance_type:
                return (role.instance_type,)
            return role.instance_type_candidates

        def check(w: Workload) -> Sequence[Violation]:
            out: list[Violation] = []
            for role in deciding_roles(w):
                for value in values(role):
                    if (match(value) is not None) == allow:
                        continue
                    if allow:
                        default = (f"role {role.name} uses {noun} {value}, which is not allowed; "
                                   f"use one matching: {listed}")
                    else:
                        default = (f"role {role.name} uses {noun} {value}, which is denied ({listed}); "
                                   f"choose another {noun}")
                    prov = role.provenance.get(attr)
                    saving = saving_fn(w, patterns) if saving_fn is not None else None
                    out.append(self.violation(
                        w, attr, default, {"role": role.name, "value": value, "patterns": listed},
                        prov.path if prov else role.template_path, saving, {"role": role.name, attr: value}))
            return out or NONE

        return check

    def require_pinned(self, body: ast.RequirePinned) -> RuleFn:
        def check(w: Workload) -> Sequence[Violation]:
            out: list[Violation] = []
            for role in w.roles:
                if role.gpus_per_pod <= 0 or role.instance_type or role.instance_type_candidates \
                        or role.gpu_model:
                    continue
                gpus = render_value(role.gpus_per_pod)
                default = (f"role {role.name} requests {gpus} GPU(s) per pod but pins no instance type or "
                           "GPU model, so it may land on the most expensive GPUs; add a "
                           "nodeSelector such as node.kubernetes.io/instance-type or nvidia.com/gpu.product")
                out.append(self.violation(w, "pin", default, {"role": role.name}, role.template_path,
                                          facts={"role": role.name, "gpus_per_pod": role.gpus_per_pod}))
            return out

        return check

    def require_spot(self, body: ast.RequireSpot) -> RuleFn:
        spot_saving = self.savings.spot

        def check(w: Workload) -> Sequence[Violation]:
            out: list[Violation] = []
            for role in deciding_roles(w):
                capacity = role.capacity_type
                if capacity is _SPOT:
                    continue
                if capacity is _UNKNOWN_CAPACITY:
                    default = (f"role {role.name} does not request spot capacity (an unknown capacity type "
                               "counts as not spot); add a nodeSelector such as "
                               "karpenter.sh/capacity-type: spot")
                else:
                    default = (f"role {role.name} runs on {capacity.value} capacity, not spot; "
                               "select spot nodes, e.g. karpenter.sh/capacity-type: spot")
                prov = role.provenance.get("capacity_type")
                saving = spot_saving(w)
                facts: dict[str, object] = {"role": role.name, "capacity_type": capacity.value}
                if saving is None and w.cost is not None and w.cost.priced:
                    facts["saving"] = SPOT_SAVING_UNKNOWN  # never computed from a made-up discount
                out.append(self.violation(
                    w, "spot", default, {"role": role.name, "value": capacity.value},
                    prov.path if prov else role.template_path, saving, facts))
            return out

        return check

    # ---- idle shutdown and deadlines ----
    def require_idle(self, body: ast.RequireIdle, maximum: float | None) -> RuleFn:
        idle_saving = self.savings.idle
        limit = render_duration(maximum) if maximum is not None else ""

        def check(w: Workload) -> Sequence[Violation]:
            idle = w.idle_timeout_seconds
            path = w.idle_provenance.path if w.idle_provenance else ("metadata", "annotations")
            if idle is None:
                within = f" of at most {limit}" if limit else ""
                example = limit or "1h"
                default = (f"no idle shutdown is declared; declare an idle timeout{within}, e.g. the annotation "
                           f"{IDLE_TIMEOUT_ANNOTATION}: \"{example}\" (or minReplicas 0, or the operator's "
                           "culling setting)")
            elif maximum is not None and idle > maximum:
                default = (f"idle timeout is {render_duration(idle)}, longer than the maximum {limit}; "
                           f"shorten it (e.g. {IDLE_TIMEOUT_ANNOTATION}: \"{limit}\")")
            else:
                return NONE
            value = render_duration(idle) if idle is not None else "unset"
            return [self.violation(w, "idle", default, {"value": value, "maximum": limit}, path,
                                   idle_saving(w), {"idle_timeout": idle})]

        return check

    def require_deadline(self, body: ast.RequireDeadline, maximum: float | None) -> RuleFn:
        limit = render_duration(maximum) if maximum is not None else ""

        def check(w: Workload) -> Sequence[Violation]:
            run = w.admitted_run_time or w.run_time  # what admission of the jobs it creates will see
            path = run.provenance.path if run.provenance else ("spec",)
            if run.kind is _UNBOUNDED:
                within = f" of at most {limit}" if limit else ""
                default = (f"the job has no bounded run time ({run.reason}); set a deadline{within}, "
                           "e.g. spec.activeDeadlineSeconds")
                value = "unbounded"
            elif _too_long(run.kind, run.hours_per_run, maximum):
                value = render_duration((run.hours_per_run or 0) * 3600)
                default = (f"the job may run {value} per run, longer than the maximum {limit}; "
                           "lower its deadline")
            else:
                return NONE
            return [self.violation(w, "deadline", default, {"value": value, "maximum": limit}, path,
                                   facts={"run_kind": run.kind.value, "run_hours": run.hours_per_run})]

        return check

    # ---- general conditions ----
    def assertion(self, body: ast.Assert, condition: ast.Expr, constants: Mapping[str, str]) -> RuleFn:
        test = compile_expr(condition)
        text = unparse(body.condition)
        used = [n for n in dict.fromkeys(_names(body.condition)) if n in constants]
        limits = "; " + ", ".join(f"{n} is {constants[n]}" for n in used) if used else ""
        reads = _reads(condition)
        path = _first_object_path(condition)
        negate = body.negate
        rule = "forbid" if negate else "assert"

        single = _single_quantifier(condition)
        template, policy_name = self.template, self.policy_name
        witnesses = [n for n, (_, kind) in reads.items() if kind == WITNESS]  # the facts {elements} is made of
        if single is not None and list(reads) == [single[2]] and template is None:
            return self._quantifier_only(single, text, limits, negate, rule, path)

        render = template.bound({"policy": policy_name, "condition": text}, "elements") if template is not None \
            else None
        find, fact = (single[0], single[2]) if single is not None else (None, "")
        decided_by_none = single is not None and single[1] in ("all", "none")
        only_fact = find is not None and list(reads) == [fact]  # the condition reads nothing else

        def check(w: Workload) -> Sequence[Violation]:
            if find is not None:  # one pass finds both the verdict and the elements that decided it
                labels = find(w)
                held = None if labels is None else (not labels if decided_by_none else bool(labels))
                if (held is True) != negate:
                    return NONE
                facts = {fact: labels} if only_fact else _facts(reads, w, fact, labels)
            else:
                if (test(w) is True) != negate:
                    return NONE
                facts = _facts(reads, w)
            if render is not None:  # the policy's message: only the elements are needed, not the default text
                elements = ""
                for name in witnesses:  # the first quantifier's deciding elements that are any
                    listed = facts[name]
                    elements = ", ".join(listed) if listed is not None else "unset"
                    if elements:
                        break
                message = render(w, elements)
                return [new_violation((rule, message, path, None, facts))]
            parts = []
            for n, v in facts.items():
                if reads[n][1] == WITNESS:
                    parts.append(f"{n}: {', '.join(v) if v is not None else 'unset'}")
                else:
                    parts.append(f"{n} is {render_value(v, reads[n][1])}")
            shown = ", ".join(parts)
            if negate:
                default = f"{text} holds, which the policy forbids" + (f" ({shown})" if shown else "")
            else:
                default = f"requires {text}" + (f", but {shown}" if shown else ", which does not hold")
            return [new_violation((rule, default + limits, path, None, facts))]

        return check

    def _quantifier_only(self, single: tuple[Closure, str, str], text: str, limits: str, negate: bool, rule: str,
                         path: FieldPath) -> RuleFn:
        """``assert all c in containers: …`` with the default message, the commonest rule over containers:
        the message is the same text around the deciding elements, so it is put together once."""
        find, op, fact = single
        decided_by_none = op in ("all", "none")
        if negate:
            head, tail = f"{text} holds, which the policy forbids ({fact}: ", f"){limits}"
        else:
            head, tail = f"requires {text}, but {fact}: ", limits

        def check(w: Workload) -> Sequence[Violation]:
            labels = find(w)
            if labels is None:  # not a collection: null, which an assert reports and a forbid does not
                if negate:
                    return NONE
            elif (not labels if decided_by_none else bool(labels)) != negate:
                return NONE
            listed = ", ".join(labels) if labels is not None else "unset"
            return [new_violation((rule, head + listed + tail, path, None, {fact: labels}))]

        return check


def _facts(reads: Mapping[str, tuple[Closure, str]], w: Workload, fact: str = "", found: Any = None) -> dict[str, Any]:
    """What a condition read of ``w`` (``_reads``), ``found`` for ``fact`` when given. (Comprehensions here,
    not in the rule's closure: there they would cost a cell per evaluation, violation or not.)"""
    return {name: found if name == fact and fact else getter(w) for name, (getter, _) in reads.items()}


def _too_long(kind: RunKind, hours_per_run: float | None, maximum: float | None) -> bool:
    """A per-run bound above the maximum; continuous kinds have no run to bound."""
    if maximum is None or hours_per_run is None or kind is _CONTINUOUS:
        return False
    return hours_per_run * 3600 > maximum


def _reads(e: ast.Expr) -> dict[str, tuple[Closure, str]]:
    """Attributes and raw-object paths an expression reads: name → (getter, type), for facts."""
    out: dict[str, tuple[Closure, str]] = {}

    def visit(x: ast.Expr) -> None:
        if isinstance(x, ast.Quantifier):  # its body reads variables: say which elements decided it
            noun = "failing" if x.op == "all" else "matching"
            out[f"{noun} {unparse(x.collection)}"] = (witnesses(x), WITNESS)
            return
        if isinstance(x, ast.Name) and x.id in ATTRIBUTES and x.id != "object":
            out[x.id] = (ATTRIBUTES[x.id].getter, ATTRIBUTES[x.id].type)
            return
        if isinstance(x, ast.Field | ast.Index) and _root(x) is not None:
            out[unparse(x)] = (compile_expr(x), "")
            return
        for child in children(x):
            visit(child)

    visit(e)
    return out


WITNESS = "witness"  # a fact listing the elements that decided a quantifier


def witnesses(q: ast.Quantifier) -> Closure:
    """The elements a top-level quantifier's verdict turns on: those failing ``all``, those matching the
    others; each by its name (containers), its key (maps) or its position."""
    collection = compile_expr(q.collection)
    body = compile_expr(q.body, tuple(n.name for n in q.names))
    want = q.op != "all"
    pairs = len(q.names) == 2
    if by_class(q):  # once per group of containers alike in what the body reads
        return container_groups.deciding(q, body)

    def find(w: Workload) -> list[str] | None:
        x = collection(w)
        if isinstance(x, dict | list | tuple):
            return _deciding_elements(body, w, x, pairs, want)
        return None

    return find


def _deciding_elements(body: Closure, w: Workload, x: Any, pairs: bool, want: bool) -> list[str]:
    """The keys of a map, or the labels of a list's elements, for which ``body`` is ``want``."""
    if isinstance(x, dict):
        return [str(k) for k, v in x.items() if (body((w, k, v) if pairs else (w, k)) is True) == want]
    return [element_label(item, i) for i, item in enumerate(x) if (body((w, item)) is True) == want]


def _single_quantifier(e: ast.Expr) -> tuple[Closure, str, str] | None:
    """For a condition that is one top-level quantifier over a list (``all c in containers: …``): the
    closure finding its deciding elements, its operator and the name of its fact."""
    if not isinstance(e, ast.Quantifier) or len(e.names) != 1 or e.op == "count":
        return None
    noun = "failing" if e.op == "all" else "matching"
    return witnesses(e), e.op, f"{noun} {unparse(e.collection)}"


def element_label(item: Any, index: int) -> str:
    """How an element of a collection is named in messages: its name (containers) or its position."""
    if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]:
        name: str = item["name"]
        return name
    return f"#{index}"


def _names(e: ast.Expr) -> list[str]:
    if isinstance(e, ast.Name):
        return [e.id]
    return [n for c in children(e) for n in _names(c)]


def _root(e: ast.Expr) -> str | None:
    while isinstance(e, ast.Field | ast.Index):
        e = e.target
    return e.id if isinstance(e, ast.Name) else None


def _first_object_path(e: ast.Expr) -> FieldPath:
    """The first constant ``object.…`` path in ``e``, so a finding points at that field's line."""
    if isinstance(e, ast.Field | ast.Index) and _root(e) == "object":
        steps: list[str | int] = []
        node: ast.Expr = e
        while isinstance(node, ast.Field | ast.Index):
            if isinstance(node, ast.Field):
                steps.append(node.name.name)
            elif isinstance(node.index, ast.Literal) and isinstance(node.index.value, str | int):
                steps.append(node.index.value)
            else:
                return ()
            node = node.target
        return tuple(reversed(steps))
    for child in children(e):
        found = _first_object_path(child)
        if found:
            return found
    return ()


def constant_value(e: ast.Expr | None) -> Any:
    return e.value if isinstance(e, ast.Literal) else None


def fix_where(w: Workload, target: str, paths: Sequence[FieldPath]) -> str:
    """``paths`` in words, with the note of each role whose pods no field of the object can label
    (``Role.labels_note``: an LLMInferenceService, a KAITO preset)."""
    where = _dotted(paths[0]) if len(paths) == 1 else " and ".join(map(_dotted, paths))
    for r in w.roles:
        if r.labels_note:
            break
    else:  # the usual case: every role's pods can be labelled
        return where
    notes = _notes(w, target, paths)
    return f"{where} ({'; '.join(n for n in notes if n)})" if notes else where


def _notes(w: Workload, target: str, paths: Sequence[FieldPath]) -> dict[str | None, None]:
    """The notes of the roles whose pods no field can label, at ``paths`` (apart: ``fix_where`` runs for
    every label finding and would otherwise make a cell for each of its arguments)."""
    return dict.fromkeys(r.labels_note for r in w.roles if r.labels_note
                         and (r.labels_path if target == "labels" else r.annotations_path) in paths)
