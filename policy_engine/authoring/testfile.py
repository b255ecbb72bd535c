"""Policy test files (``*.test.yaml``) → ``Suite`` values, or located errors naming file, line and field.

The format (docs/testing.md)::

    policies: [../../max-gpus.policy]          # files or folders, relative to this file
    resources: [manifests.yaml, {apiVersion: v1, kind: Pod, ...}]   # files, folders or inline manifests
    cases:
      - policy: max-gpus
        resource: PyTorchJob/ddp-typo            # Kind/name or Kind/namespace/name
        expect: fail                             # pass | fail | skip
        message: "80 GPUs"                       # a finding's message contains this
        enforcement: deny                        # a finding has this enforcement
        rule: assert                             # a finding came from this rule family
        monthly_cost: {value: 734, tolerance: 5%}   # the workload's projection ($, or "N%" of value)
      - {policy: team-gpu-hour-quota, group: nlp, expect: fail}   # a quota/budget group

The YAML is read as a node tree so every error points at the offending field's line. It may nest as deep
as a manifest may (the API server's 10,000 levels, ``model.documents.compose_single``), and one level
more is E606 where that level opens: an inline manifest is data like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from policy_engine.diagnostics import Diagnostic, Span
from policy_engine.model.documents import Document, TooDeep, compose_single

EXPECTATIONS = ("pass", "fail", "skip")
ENFORCEMENTS = ("deny", "warn", "audit")
DEFAULT_TOLERANCE = 0.005  # relative, when a monthly_cost has none
_CASE_KEYS = ("name", "policy", "resource", "group", "expect", "message", "enforcement", "rule", "monthly_cost")
_TOP_KEYS = ("policies", "resources", "cases", "pricing")
_NOT_TEXT = ("tag:yaml.org,2002:null", "tag:yaml.org,2002:bool")


@dataclass(frozen=True, slots=True)
class Tolerance:
    value: float
    relative: bool  # a fraction of the expected value, else dollars

    def allows(self, expected: float, actual: float) -> bool:
        bound = self.value * abs(expected) if self.relative else self.value
        return abs(actual - expected) <= bound + 1e-9

    def describe(self) -> str:
        return f"{self.value * 100:g}%" if self.relative else f"${self.value:,.2f}"


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """``Kind/name`` or ``Kind/namespace/name`` as written in a case."""

    kind: str
    name: str
    namespace: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Case:
    span: Span
    policy: str
    resource: ResourceRef | None
    group: str | None
    expect: str | None
    message: str | None = None
    enforcement: str | None = None
    rule: str | None = None
    monthly_cost: float | None = None
    tolerance: Tolerance = Tolerance(DEFAULT_TOLERANCE, True)
    name: str | None = None
    fields: dict[str, Span] = field(default_factory=dict)  # where each field was written

    def title(self) -> str:
        target = self.resource.text if self.resource else f"group {self.group}"
        return self.name or f"{self.policy} on {target}"


@dataclass(slots=True)
class Suite:
    file: str
    policies: list[str] = field(default_factory=list)
    policies_line: int = 1
    pricing: str | None = None
    resource_files: list[tuple[str, int]] = field(default_factory=list)  # (path, line in the test file)
    inline: list[Document] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[Diagnostic] = []
        self.constructor = yaml.constructor.SafeConstructor()

    def span(self, node: yaml.Node) -> Span:
        m, e = node.start_mark, node.end_mark
        if isinstance(node, yaml.ScalarNode) and e is not None and e.line == m.line:
            return Span(self.file, m.line + 1, m.column + 1, e.line + 1, e.column + 1)
        return Span(self.file, m.line + 1, m.column + 1)

    def error(self, node: yaml.Node, field_name: str, message: str, hint: str | None = None) -> None:
        self.errors.append(Diagnostic(self.span(node), "E902", f"{field_name}: {message}", hint=hint))

    def value(self, node: yaml.Node) -> Any:
        return self.constructor.construct_document(node)

    def mapping(self, node: yaml.Node, what: str, allowed: tuple[str, ...]) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.error(node, what, "expected a mapping")
            return None
        out: dict[str, yaml.Node] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                self.error(key, what, "a field name must be a string", f"known fields: {', '.join(allowed)}")
                continue
            name = str(key.value)
            if name not in allowed:
                self.error(key, f"{what}.{name}", "unknown field", f"known fields: {', '.join(allowed)}")
                continue
            out[name] = value
        return out

    def string(self, node: yaml.Node, what: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag in _NOT_TEXT:
            self.error(node, what, "expected a string")
            return None
        return str(node.value)

    def strings(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node]]:
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out = []
        for i, item in enumerate(items):
            text = self.string(item, f"{what}[{i}]")
            if text is not None:
                out.append((text, item))
        return out

    # ---- the file ----
    def suite(self, root: yaml.Node) -> Suite:
        suite = Suite(self.file)
        fields = self.mapping(root, "test file", _TOP_KEYS)
        if fields is None:
            return suite
        base = Path(self.file).parent
        for name in ("policies", "resources", "cases"):
            if name not in fields:
                self.errors.append(Diagnostic(self.span(root), "E902", f"{name}: required field is missing"))
        if "policies" in fields:
            suite.policies_line = self.span(fields["policies"]).line
            for text, _node in self.strings(fields["policies"], "policies"):
                suite.policies.append(str(base / text))
        if "pricing" in fields:
            pricing = self.string(fields["pricing"], "pricing")
            suite.pricing = str(base / pricing) if pricing else None
        if "resources" in fields:
            self.resources(fields["resources"], suite, base)
        if "cases" in fields:
            cases = fields["cases"]
            if not isinstance(cases, yaml.SequenceNode) or not cases.value:
                self.error(cases, "cases", "expected a non-empty list of cases")
            else:
                for i, node in enumerate(cases.value):
                    case = self.case(node, f"cases[{i}]")
                    if case is not None:
                        suite.cases.append(case)
        return suite

    def resources(self, node: yaml.Node, suite: Suite, base: Path) -> None:
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for i, item in enumerate(items):
            if isinstance(item, yaml.MappingNode):
                obj = self.value(item)
                if not isinstance(obj.get("kind"), str) or not obj.get("kind"):
                    self.error(item, f"resources[{i}]", "an inline manifest needs a 'kind'")
                    continue
                suite.inline.append(Document(obj, self.file, item.start_mark.line + 1, i, item))
            else:
                text = self.string(item, f"resources[{i}]")
                if text is not None:
                    suite.resource_files.append((str(base / text), self.span(item).line))

    def case(self, node: yaml.Node, what: str) -> Case | None:
        fields = self.mapping(node, what, _CASE_KEYS)
        if fields is None:
            return None
        before = len(self.errors)
        spans = {k: self.span(v) for k, v in fields.items()}
        text = {k: self.string(v, f"{what}.{k}") for k, v in fields.items()
                if k in ("name", "policy", "resource", "group", "expect", "message", "enforcement", "rule")}
        if "policy" not in fields:
            self.error(node, f"{what}.policy", "required field is missing")
        resource = self.resource(fields["resource"], text.get("resource"), f"{what}.resource") \
            if "resource" in fields else None
        group = text.get("group")
        if ("resource" in fields) == ("group" in fields):
            self.error(node, what, "give exactly one of 'resource' (Kind/name) or 'group' (a quota/budget key)")
        expect = text.get("expect")
        if expect is not None and expect not in EXPECTATIONS:
            self.error(fields["expect"], f"{what}.expect", f"{expect!r} is not one of {', '.join(EXPECTATIONS)}")
        if expect is None and "monthly_cost" not in fields:
            self.error(node, f"{what}.expect", "required field is missing (pass, fail or skip)")
        if group is not None and expect == "skip":
            self.error(fields["expect"], f"{what}.expect", "a group case expects pass or fail")
        for key in ("message", "enforcement", "rule"):
            if key in fields and expect != "fail":
                self.error(fields[key], f"{what}.{key}", "only a case that expects 'fail' can check a finding's "
                           + key)
        enforcement = text.get("enforcement")
        if enforcement is not None and enforcement not in ENFORCEMENTS:
            self.error(fields["enforcement"], f"{what}.enforcement",
                       f"{enforcement!r} is not one of {', '.join(ENFORCEMENTS)}")
        cost, tolerance = None, Tolerance(DEFAULT_TOLERANCE, True)
        if "monthly_cost" in fields:
            if group is not None:
                self.error(fields["monthly_cost"], f"{what}.monthly_cost", "only a resource case has a cost")
            cost, tolerance = self.cost(fields["monthly_cost"], f"{what}.monthly_cost")
        if len(self.errors) > before:
            return None
        return Case(self.span(node), text.get("policy") or "", resource, group, expect, text.get("message"),
                    enforcement, text.get("rule"), cost, tolerance, text.get("name"), spans)

    def resource(self, node: yaml.Node, text: str | None, what: str) -> ResourceRef | None:
        if text is None:
            return None
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            self.error(node, what, f"{text!r} is not Kind/name or Kind/namespace/name")
            return None
        if len(parts) == 2:
            return ResourceRef(parts[0], parts[1], None, text)
        return ResourceRef(parts[0], parts[2], parts[1], text)

    def cost(self, node: yaml.Node, what: str) -> tuple[float | None, Tolerance]:
        default = Tolerance(DEFAULT_TOLERANCE, True)
        if isinstance(node, yaml.ScalarNode):
            value = _number(self.value(node))
            if value is None:
                self.error(node, what, "expected a number of dollars or {value: N, tolerance: N or 'N%'}")
            return value, default
        fields = self.mapping(node, what, ("value", "tolerance"))
        if fields is None or "value" not in fields:
            self.error(node, f"{what}.value", "required field is missing")
            return None, default
        value = _number(self.value(fields["value"]))
        if value is None:
            self.error(fields["value"], f"{what}.value", "expected a number of dollars")
        tolerance = default
        if "tolerance" in fields:
            raw = self.value(fields["tolerance"])
            if isinstance(raw, str) and raw.strip().endswith("%") and _number(raw.strip()[:-1]) is not None:
                tolerance = Tolerance(float(raw.strip()[:-1]) / 100, True)
            elif _number(raw) is not None:
                tolerance = Tolerance(float(raw), False)
            else:
                self.error(fields["tolerance"], f"{what}.tolerance", "expected dollars (5) or a percentage ('5%')")
        return value, tolerance


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace("$", "").replace(",", ""))
        except ValueError:
            return None
    return None


def load_suite(text: str, file: str) -> tuple[Suite | None, list[Diagnostic]]:
    """A test file's suite, or every located error it has (then None)."""
    try:
        root = compose_single(text)  # nested up to the API server's 10,000 levels, as manifests are
    except TooDeep as exc:
        return None, [Diagnostic(Span(file, exc.line, exc.column), "E606", str(exc))]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span = Span(file, mark.line + 1, mark.column + 1) if mark else Span(file, 1, 1)
        return None, [Diagnostic(span, "E902", f"invalid YAML: {exc.problem or exc.context}")]
    except yaml.YAMLError as exc:
        return None, [Diagnostic(Span(file, 1, 1), "E902", f"invalid YAML: {exc}")]
    if root is None:
        return None, [Diagnostic(Span(file, 1, 1), "E902", "the test file is empty")]
    reader = _Reader(file)
    try:
        suite = reader.suite(root)
    except yaml.YAMLError as exc:
        return None, [Diagnostic(Span(file, 1, 1), "E902", f"invalid YAML value: {exc}")]
    if reader.errors:
        return None, reader.errors
    return suite, []
