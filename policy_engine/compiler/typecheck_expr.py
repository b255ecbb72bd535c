"""Type-checking expressions: every name, function, unit, operator and regex, each mistake located.

``ExprChecker.check`` returns an expression's type and records it in ``types`` (node id → type) for the
later passes; problems go to ``diagnostics``. An expression already reported types as ``error`` so one
mistake produces one diagnostic, not a cascade.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

from policy_engine.compiler import kube_schema, regex
from policy_engine.compiler import types as t
from policy_engine.compiler.attributes import ATTRIBUTES
from policy_engine.compiler.cel import CelError, compile_cel
from policy_engine.compiler.checked import Constant
from policy_engine.compiler.functions import FUNCTION_NAMES, FUNCTIONS
from policy_engine.compiler.objects import CONTAINER_FIELDS, RESOURCE_FIELDS, RESOURCE_TYPES
from policy_engine.diagnostics import Diagnostic, Span
from policy_engine.quantity import BINARY_SUFFIXES
from policy_engine.syntax import ast
from policy_engine.syntax.unparse import unparse
from policy_engine.wording import count

#: Units people write for durations, singular and without a trailing "s", and what the language spells.
_UNIT_ALIASES = {"sec": "s", "second": "s", "min": "m", "minute": "m", "hr": "h", "hour": "h", "day": "d",
                 "week": "w", "wk": "w", "mn": "m"}


#: Names people reach for, from other tools, that spelling distance would not lead to the attribute.
_ATTRIBUTE_SYNONYMS = {
    "gpu_count": "did you mean 'gpus'?", "num_gpus": "did you mean 'gpus'?", "gpu": "did you mean 'gpus'?",
    "n_gpus": "did you mean 'gpus'?", "gpus_count": "did you mean 'gpus'?", "gpu_num": "did you mean 'gpus'?",
    "number_of_gpus": "did you mean 'gpus'?", "gpus_per_pod": "did you mean 'gpus'? (total over the workload's pods)",
    "cost": "did you mean 'monthly_cost'?", "price": "did you mean 'hourly_cost'?",
}


def suggest(name: str, candidates: object) -> str | None:
    """'did you mean …?' from the closest known names (difflib), or None."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)  # type: ignore[call-overload]
    return f"did you mean {close[0]!r}?" if close else None


def error(span: Span, code: str, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(span, code, message, hint=hint)


class ExprChecker:
    def __init__(self, params: Mapping[str, Constant], diagnostics: list[Diagnostic],
                 types: dict[int, str] | None = None) -> None:
        self.params = params
        self.diagnostics = diagnostics
        self.types: dict[int, str] = {} if types is None else types
        self.scope: dict[str, str] = {}  # variables bound by enclosing quantifiers -> their types
        #: ``object``/``old_object`` of a policy matching only kinds with a schema (kube_schema), and the
        #: shape of every raw value read from them (node id → Shape; bound variables by name)
        self.object_shape: kube_schema.Shape | None = None
        self.pod_shapes: dict[str, kube_schema.Shape] = {}  # pod_spec, volumes, tolerations, a container
        self.shapes: dict[int, kube_schema.Shape] = {}
        self.scope_shapes: dict[str, kube_schema.Shape] = {}

    def report(self, span: Span, code: str, message: str, hint: str | None = None) -> str:
        self.diagnostics.append(error(span, code, message, hint))
        return t.ERROR

    def check(self, e: ast.Expr) -> str:
        type_ = self._check(e)
        self.types[id(e)] = type_
        return type_

    def condition(self, e: ast.Expr, what: str) -> str:
        """A boolean expression (``when``, ``if``, ``assert``)."""
        type_ = self.check(e)
        if type_ not in (t.BOOL, t.ANY, t.ERROR):
            self.report(e.span, "E203", f"{what} must be true or false, but this is {t.describe(type_)}",
                        "compare it with something, e.g. `gpus > 0`")
        return type_

    def expect(self, e: ast.Expr, wanted: tuple[str, ...], what: str, example: str) -> str:
        type_ = self.check(e)
        if type_ not in (*wanted, t.ANY, t.ERROR):
            self.report(e.span, "E201", f"{what} must be {t.describe(wanted[0])}, "
                        f"but this is {t.describe(type_)}", f"write {example}")
            return t.ERROR
        return type_

    # ---- per node ----
    def _check(self, e: ast.Expr) -> str:
        if isinstance(e, ast.Literal):
            return self._literal(e)
        if isinstance(e, ast.Name):
            return self._name(e)
        if isinstance(e, ast.Field):
            target = self.check(e.target)
            shape = self.shapes.get(id(e.target))
            if shape is not None and target == t.ANY:
                return self._shaped(e, shape, e.name.name, e.name.span)
            if target in (t.ANY, t.ERROR):
                return target
            record = _RECORDS.get(target)
            if record is not None:
                return self._record_field(e, target, record)
            hint = None
            if target == t.MAP:
                hint = f'read a key with {unparse(e.target)}["{e.name.name}"]'
            return self.report(e.name.span, "E201", f"'.{e.name.name}' reads a field of the raw object only; "
                               f"this is {t.describe(target)}", hint)
        if isinstance(e, ast.Index):
            return self._index(e)
        if isinstance(e, ast.Call):
            return self._call(e)
        if isinstance(e, ast.ListExpr):
            return self._list(e)
        if isinstance(e, ast.MapExpr):
            return self._map(e)
        if isinstance(e, ast.Quantifier):
            return self._quantifier(e)
        if isinstance(e, ast.Neg):
            negated = self.check(e.operand)
            if negated in (t.NUMBER, t.PERCENT, t.DURATION, t.MONEY, t.ANY, t.ERROR) or negated in t.QUANTITIES:
                return negated
            return self.report(e.span, "E201", f"cannot negate {t.describe(negated)}")
        if isinstance(e, ast.Not):
            self.condition(e.operand, "the operand of 'not'")
            return t.BOOL
        if isinstance(e, ast.BoolOp):
            for operand in e.operands:
                self.condition(operand, f"each side of '{e.op}'")
            return t.BOOL
        if isinstance(e, ast.BinOp):
            left, right = self._milli(e.left, e.right, self.check(e.left), self.check(e.right))
            result = t.arithmetic(e.op, left, right)
            if result is None:
                return self.report(e.span, "E201",
                                   f"cannot compute {t.describe(left)} {e.op} {t.describe(right)}")
            return result
        return self._compare(e)

    def _literal(self, e: ast.Literal) -> str:
        if e.type == "duration" and e.value is None:
            number = e.raw[: -len(e.unit)]
            alias = _UNIT_ALIASES.get(e.unit.lower().rstrip("s") or "s")
            if alias is not None:
                hint = f"write {number}{alias}"
            elif e.unit in ATTRIBUTES or e.unit in self.params:
                hint = f"put an operator between the number and {e.unit!r}, e.g. `{number} * {e.unit}`"
            else:
                hint = "durations use s, m, h, d or w, e.g. 90m"
            return self.report(e.span, "E104", f"unknown duration unit {e.unit!r} in {e.raw}", hint)
        if e.type == t.QUANTITY and e.unit in BINARY_SUFFIXES:
            return t.MEMORY  # 512Mi is a size in bytes
        return e.type

    def _name(self, e: ast.Name) -> str:
        if e.id in self.scope:
            if e.id in self.scope_shapes:
                self.shapes[id(e)] = self.scope_shapes[e.id]
            return self.scope[e.id]
        if e.id in self.params:
            return self.params[e.id].type
        attribute = ATTRIBUTES.get(e.id)
        if attribute is not None:
            if e.id in ("object", "old_object") and self.object_shape is not None:
                self.shapes[id(e)] = self.object_shape
            elif e.id in self.pod_shapes:
                self.shapes[id(e)] = self.pod_shapes[e.id]
            return attribute.type
        if e.id in FUNCTION_NAMES:
            return self.report(e.span, "E101", f"{e.id!r} is a function", f"call it: {e.id}(...)")
        return self.report(e.span, "E101", f"unknown attribute or parameter {e.id!r}",
                           _ATTRIBUTE_SYNONYMS.get(e.id) or suggest(e.id, [*ATTRIBUTES, *self.params, *self.scope])
                           or (f'did you mean labels["{e.id}"]? (labels are read by key)'
                               if e.id.isalpha() and e.id.islower() else None))

    def _index(self, e: ast.Index) -> str:
        target, index = self.check(e.target), self.check(e.index)
        shape = self.shapes.get(id(e.target))
        if shape is not None and target == t.ANY:
            return self._shaped_index(e, shape, index)
        if target in (t.ANY, t.ERROR):
            return target
        value = t.map_value(target)
        if target == t.RESOURCES:
            value = t.QUANTITY
            if isinstance(e.index, ast.Literal) and isinstance(e.index.value, str):
                value = RESOURCE_TYPES.get(e.index.value, t.QUANTITY)
        if value is not None:
            if index not in (t.STRING, t.ANY, t.ERROR):
                return self.report(e.index.span, "E201",
                                   f"a map key must be a string, not {t.describe(index)}",
                                   'write labels["team"]')
            return value
        element = t.element_of(target)
        if element is not None:
            if index not in (t.NUMBER, t.ANY, t.ERROR):
                return self.report(e.index.span, "E201",
                                   f"a list index must be a number, not {t.describe(index)}")
            return element
        return self.report(e.span, "E201", f"cannot index {t.describe(target)}")

    def _call(self, e: ast.Call) -> str:
        name = e.func.name
        if name == "cel":
            return self._cel(e)
        fn = FUNCTIONS.get(name)
        if fn is None:
            for a in e.args:
                self.check(a)
            return self.report(e.func.span, "E102", f"unknown function {name!r}",
                               suggest(name, FUNCTION_NAMES))
        if len(e.args) != len(fn.params):
            return self.report(e.span, "E202", f"{name}() takes {count(len(fn.params), 'argument')}, "
                               f"got {len(e.args)}")
        for arg, wanted in zip(e.args, fn.params, strict=True):
            got = self.check(arg)
            if wanted != t.ANY and got not in (wanted, t.ANY, t.ERROR, t.NULL):
                self.report(arg.span, "E202", f"{name}() needs {t.describe(wanted)} here, "
                            f"not {t.describe(got)}")
        return fn.result

    def _cel(self, e: ast.Call) -> str:
        if len(e.args) != 1 or not isinstance(e.args[0], ast.Literal) or e.args[0].type != "string":
            return self.report(e.span, "E202", "cel() takes one string literal: the CEL expression",
                               'write cel("object.spec.replicas <= 4")')
        literal = e.args[0]
        self.types[id(literal)] = t.STRING
        compiled = compile_cel(str(literal.value))
        if isinstance(compiled, CelError):
            span = _inside_string(literal, compiled.line, compiled.column)
            return self.report(span, "E206", compiled.message,
                               "CEL sees the manifest as `object`, as a ValidatingAdmissionPolicy does")
        return t.ANY

    def _list(self, e: ast.ListExpr) -> str:
        element = t.NULL
        for item in e.items:
            got = self.check(item)
            common = t.unify(element, got)
            if common is None:
                return self.report(item.span, "E201",
                                   f"a list mixes {t.describe(element)} and {t.describe(got)}")
            element = common
        return t.list_of(t.ANY if element == t.NULL else element)

    def _compare(self, e: ast.Compare) -> str:
        left, right = self._milli(e.left, e.right, self.check(e.left), self.check(e.right))
        op = e.op_text or e.op
        if e.op in ("==", "!="):
            if t.unify(left, right) is None:
                self._mismatch(e, left, right)
        elif e.op in ("<", "<=", ">", ">="):
            if not t.orderable(left, right):
                self._mismatch(e, left, right)
        elif e.op in ("in", "not in"):
            element = t.element_of(right)
            if t.map_value(right) is not None or right == t.STRING:
                element = t.STRING
            if element is None and not t.loose(right):
                self.report(e.right.span, "E201", f"'{op}' needs a list, a map or a string on its right, "
                            f"not {t.describe(right)}")
            elif element is not None and t.unify(left, element) is None:
                self._mismatch(e, left, right)
        else:
            if left not in (t.STRING, t.ANY, t.ERROR, t.NULL):
                self.report(e.left.span, "E201", f"'{op}' matches strings, not {t.describe(left)}")
            if right not in (t.STRING, t.ANY, t.ERROR):
                self.report(e.right.span, "E201", f"the pattern of '{op}' must be a string")
            elif isinstance(e.right, ast.Literal) and isinstance(e.right.value, str):
                check_regex(e.right.value, e.right.span, self.diagnostics)
        return t.BOOL

    def _milli(self, left_node: ast.Expr, right_node: ast.Expr, left: str, right: str) -> tuple[str, str]:
        """``500m`` reads as minutes, except beside a quantity, where it is 500 milli-units (0.5 CPU)."""
        if left in t.QUANTITIES and self._minutes(right_node):
            self.types[id(right_node)] = right = t.QUANTITY
        elif right in t.QUANTITIES and self._minutes(left_node):
            self.types[id(left_node)] = left = t.QUANTITY
        return left, right

    def _minutes(self, e: ast.Expr) -> bool:
        """A literal ``500m``, or a parameter set to one (``param max_cpu = 500m``)."""
        if isinstance(e, ast.Name) and e.id in self.params and e.id not in self.scope:
            constant = self.params[e.id]
            return constant.type == t.DURATION and MINUTES.fullmatch(constant.raw) is not None
        return _is_minutes(e)

    def _shaped(self, e: ast.Expr, shape: kube_schema.Shape, name: str, span: Span) -> str:
        """``value.name`` (or ``value["name"]``) of a value whose schema is known."""
        found = kube_schema.field(shape, name)
        if found is None:
            return t.ANY  # a free-form value (IntOrString, RawExtension): any field may be there
        if isinstance(found, list):
            hint = suggest(name, found) or (f"it has: {', '.join(found)}" if found else None)
            return self.report(span, "E207", f"{shape.owner} has no field {name!r}", hint)
        self.shapes[id(e)] = found
        return found.language_type

    def _shaped_index(self, e: ast.Index, shape: kube_schema.Shape, index: str) -> str:
        if isinstance(e.index, ast.Literal) and isinstance(e.index.value, str) \
                and kube_schema.element(shape, by_key=True) is None:
            return self._shaped(e, shape, e.index.value, e.index.span)  # object.spec["minReplicas"]
        inner = kube_schema.element(shape, by_key=index == t.STRING)
        if inner is None:
            return t.ANY
        self.shapes[id(e)] = inner
        return inner.language_type

    def _record_field(self, e: ast.Field, target: str, record: dict[str, tuple[str, str]]) -> str:
        found = record.get(e.name.name)
        if found is not None:
            if target == t.CONTAINER and e.name.name == "object" and "container" in self.pod_shapes:
                self.shapes[id(e)] = self.pod_shapes["container"]
            return found[0]
        hint = suggest(e.name.name, record) or f"{t.describe(target)} has: {', '.join(record)}"
        if target == t.RESOURCES:
            hint = suggest(e.name.name, record) or f'read any other resource by name: ["{e.name.name}"]'
        return self.report(e.name.span, "E207", f"{t.describe(target)} has no field {e.name.name!r}", hint)

    def _map(self, e: ast.MapExpr) -> str:
        value = t.NULL
        for key, item in e.entries:
            if self.check(key) not in (t.STRING, t.ERROR):
                self.report(key.span, "E201", "a map key must be a string", 'write {"team-a": 4}')
            got = self.check(item)
            common = t.unify(value, got)
            if common is None:
                return self.report(item.span, "E201", f"a map mixes {t.describe(value)} and {t.describe(got)}")
            value = common
        return t.map_of(t.ANY if value == t.NULL else value)

    def _quantifier(self, e: ast.Quantifier) -> str:
        collection = self.check(e.collection)
        element = t.element_of(collection)
        value = t.map_value(collection)
        shaped = self._shaped_names(e, collection)
        if shaped is not None:
            bound = [type_ for type_, _ in shaped]
        elif collection in (t.ANY, t.ERROR):
            bound = [collection] * len(e.names)
        elif value is not None:
            bound = [t.STRING, value][: len(e.names)]
        elif element is not None and len(e.names) == 1:
            bound = [element]
        elif element is not None:
            self.report(e.names[1].span, "E201", "a list binds one name per element",
                        f"write `{e.op} {e.names[0].name} in {unparse(e.collection)}: ...`")
            bound = [element, t.ERROR]
        else:
            self.report(e.collection.span, "E201", f"'{e.op}' iterates over a list or a map, "
                        f"not {t.describe(collection)}")
            bound = [t.ERROR] * len(e.names)
        saved, saved_shapes = dict(self.scope), dict(self.scope_shapes)
        name_shapes = [shape for _, shape in shaped] if shaped is not None else [None] * len(e.names)
        for name, type_, name_shape in zip(e.names, bound, name_shapes, strict=True):
            self.scope_shapes.pop(name.name, None)
            if name_shape is not None:
                self.scope_shapes[name.name] = name_shape
            if name.name in ATTRIBUTES or name.name in self.params or name.name in saved:
                what = "an attribute" if name.name in ATTRIBUTES else (
                    "a parameter" if name.name in self.params else "an enclosing variable")
                self.report(name.span, "E308", f"variable {name.name!r} hides {what} of the same name",
                            "choose another name, e.g. c for a container")
            self.scope[name.name] = type_
        try:
            self.condition(e.body, f"the condition of '{e.op}'")
        finally:
            self.scope, self.scope_shapes = saved, saved_shapes
        return t.NUMBER if e.op == "count" else t.BOOL

    def _shaped_names(self, e: ast.Quantifier, collection: str) -> list[tuple[str, kube_schema.Shape | None]] | None:
        """The types and shapes a quantifier binds over a raw list or map whose schema is known."""
        dynamic = collection == t.ANY or t.element_of(collection) == t.ANY  # `volumes` is a list of raw values
        shape = self.shapes.get(id(e.collection)) if dynamic else None
        if shape is None:
            return None
        element = kube_schema.element(shape, by_key=False)
        if element is not None and len(e.names) == 1:
            return [(element.language_type, element)]
        value = kube_schema.element(shape, by_key=True)
        if value is not None:
            return [(t.STRING, None), (value.language_type, value)][: len(e.names)]
        return None

    def _mismatch(self, e: ast.Compare, left: str, right: str) -> None:
        if t.ERROR in (left, right):
            return
        hint = None
        if {left, right} == {t.DURATION, t.STRING}:
            hint = "write a duration without quotes, e.g. 30m"
        elif {left, right} == {t.DURATION, t.NUMBER}:
            hint = "give the number a unit, e.g. 30m or 2h"
        elif {left, right} == {t.MONEY, t.NUMBER}:
            hint = "write money with a dollar sign, e.g. $500"
        elif {left, right} == {t.CPU, t.MEMORY}:
            hint = "CPU is counted in cores (500m, 2), memory and storage in bytes (512Mi, 4Gi)"
        elif t.QUANTITIES & {left, right} and t.STRING in (left, right):
            hint = 'write the quantity without quotes (512Mi), or convert a string with quantity("512Mi")'
        elif t.QUANTITIES & {left, right} and t.DURATION in (left, right):
            hint = "a quantity is not a duration: 500m beside a quantity is 0.5"
        shaped = self.shapes.get(id(e.left)) or self.shapes.get(id(e.right))
        if hint is None and shaped is not None:
            hint = f"{shaped.owner} is {t.describe(shaped.language_type)} in the Kubernetes API schema"
        op = e.op_text or e.op
        self.report(e.span, "E201",
                    f"cannot compare {t.describe(left)} with {t.describe(right)} using '{op}'", hint)


_RECORDS = {t.CONTAINER: CONTAINER_FIELDS, t.RESOURCES: RESOURCE_FIELDS}


MINUTES = re.compile(r"[0-9]+(\.[0-9]+)?m")


def _is_minutes(e: ast.Expr) -> bool:
    return isinstance(e, ast.Literal) and e.type == "duration" and e.unit == "m"


def check_regex(pattern: str, span: Span, diagnostics: list[Diagnostic]) -> bool:
    why = regex.problem(pattern)
    if why is not None:
        diagnostics.append(error(span, "E205", f"invalid regular expression: {why}",
                                 "regexes use RE2 syntax (no backreferences or lookaround); escape a literal "
                                 "'.' as \\."))
        return False
    return True


def _inside_string(literal: ast.Literal, line: int, column: int) -> Span:
    """The position of character (line, column) of a string literal's value, inside the policy file."""
    if line <= 1:
        col = literal.span.column + column  # +1 for the opening quote, -1 because column is 1-based
        return Span(literal.span.file, literal.span.line, col, literal.span.line, col + 1)
    return literal.span
