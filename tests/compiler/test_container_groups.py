"""Generated pods: quantifiers over ``containers`` decided once per group of containers alike in what the
condition reads (issue #13) give exactly what deciding each container gives, and the records built from the
quantities the workload model parsed are the records parsed from the containers as written."""

from __future__ import annotations

from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy_engine.compiler import compile_text, objects
from policy_engine.compiler.attributes import ATTRIBUTES
from policy_engine.compiler.container_groups import reads
from policy_engine.engine import Engine
from policy_engine.model.documents import Document, load_objects
from policy_engine.model.workload import Workload
from policy_engine.pricing.catalog import load_catalog
from policy_engine.syntax import ast
from policy_engine.syntax.parser import parse

from .test_container_classes import _per_container

#: Conditions reading every field a group shares, by value, by nullness, by name and as a whole.
CONDITIONS = [
    'all c in containers: c.type == "ephemeral" or c.requests.cpu != null and c.requests.memory != null',
    'all c in containers: c.type == "ephemeral" or c.limits.memory != null',
    "all c in containers: c.limits.memory == null or c.requests.memory == null"
    " or c.limits.memory / c.requests.memory <= 2",
    "all c in containers: c.limits.cpu == null or c.requests.cpu == null or c.limits.cpu / c.requests.cpu <= 4",
    'all c in containers: c.registry in ["ghcr.io", "nvcr.io"]',
    "any c in containers: c.requests.gpu > 0",
    "none c in containers: c.limits.gpu != null",
    'all c in containers: c.limits["nvidia.com/gpu"] == c.requests["nvidia.com/gpu"]',
    'any c in containers: c.requests["ephemeral-storage"] != null or c.limits.ephemeral_storage > 1Gi',
    "all c in containers: len(c.requests) <= 2",
    'all c in containers: c.limits["cpu"] != null or c.requests.cpu == null or len(c.limits) == 0',
    "all c in containers: has(c.requests.memory) or c.requests.cpu >= 500m",
    'none c in containers: c.requests.gpu == null and c.limits["example.com/foo"] != null',
    'any c in containers: c.tag == "latest" or c.digest != null',
    'all c in containers: c.repository != null and c.image_pull_policy != "Never"',
    "none c in containers: c.privileged == true or c.allow_privilege_escalation == true",
    "all c in containers: c.run_as_non_root != false and c.read_only_root_filesystem != false",
    'all c in containers: c.role == "pod" and c.type != "init" or c.requests.cpu <= 1',
    '(count c in containers: c.limits.cpu == 1) >= 2',
    '(count c in containers: c.type == "sidecar" or c.limits.memory == null) == 3',
    "(count c in containers: c.requests.memory > 100Mi) > 4",
]

QUANTITIES = ["100m", "0.1", "1", "2", "500m", "128Mi", "1Gi", "1073741824", " 1 ", "1e3", 1, 2, 0.5]
RESOURCES = ["cpu", "memory", "ephemeral-storage", "nvidia.com/gpu", "nvidia.com/mig-1g.5gb", "example.com/foo"]
IMAGES = ["ghcr.io/acme/a:1", "docker.io/b:latest", "nvcr.io/x/y@sha256:ab", "busybox", 7, None]

amounts = st.dictionaries(st.sampled_from(RESOURCES), st.sampled_from(QUANTITIES), max_size=4)
flags = st.sampled_from([True, False, None, "yes"])


@st.composite
def containers(draw: st.DrawFn, prefix: str, init: bool = False) -> dict[str, Any]:
    c: dict[str, Any] = {"name": draw(st.sampled_from(["", f"{prefix}{draw(st.integers(0, 99))}"]))}
    image = draw(st.sampled_from(IMAGES))
    if image is not None:
        c["image"] = image
    resources: dict[str, Any] = {}
    for which in ("requests", "limits"):
        if draw(st.booleans()):
            resources[which] = draw(amounts)
    written = draw(st.booleans())  # `resources: {}` as well as no `resources` at all
    if resources or written:
        c["resources"] = resources
    if draw(st.booleans()):
        c["imagePullPolicy"] = draw(st.sampled_from(["Always", "Never", "IfNotPresent", 3]))
    if draw(st.integers(0, 3)) == 0:
        c["securityContext"] = {k: v for k in ("privileged", "allowPrivilegeEscalation", "runAsNonRoot",
                                               "readOnlyRootFilesystem") if (v := draw(flags)) is not None}
    if init and draw(st.booleans()):
        c["restartPolicy"] = "Always"
    return c


@st.composite
def pods(draw: st.DrawFn) -> dict[str, Any]:
    """A pod of 0 to 40 containers drawn from few choices (so many are alike), some init and ephemeral ones;
    an ephemeral container's amounts may be anything (the model does not read them)."""
    spec: dict[str, Any] = {"containers": draw(st.lists(containers("c"), max_size=40))}
    if draw(st.booleans()):
        spec["initContainers"] = draw(st.lists(containers("i", init=True), max_size=4))
    if draw(st.integers(0, 3)) == 0:
        ephemeral = draw(st.lists(containers("e"), min_size=1, max_size=3))
        for e in ephemeral:
            e.setdefault("resources", {})["limits"] = {"cpu": draw(st.sampled_from(["lots", "1", True, 2]))}
        spec["ephemeralContainers"] = ephemeral
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "generated", "namespace": "ml", "labels": {"team": "a"}}, "spec": spec}


@cache
def _engine(per_container: bool) -> Engine:
    text = "\n".join(f'policy "p{i}" {{\n  assert {_per_container(c) if per_container else c}\n'
                     f'    message "{{elements}}"\n}}' for i, c in enumerate(CONDITIONS))
    compiled = compile_text(text)
    assert compiled.policy_set is not None, [d.headline() for d in compiled.diagnostics]
    return Engine(compiled.policy_set, load_catalog())


def _outcome(engine: Engine, pod: dict[str, Any]) -> list[tuple[str, list[str]]]:
    [doc] = [d for d in load_objects([pod]) if isinstance(d, Document)]
    w = engine.subject(doc)
    assert isinstance(w, Workload)
    return [(p.name, [v.message for v in p.violations(w)]) for p in engine.policies.policies]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pods())
def test_deciding_per_group_gives_what_deciding_per_container_gives(pod: dict[str, Any]) -> None:
    assert _outcome(_engine(False), pod) == _outcome(_engine(True), pod)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pods())
def test_records_from_the_models_quantities_are_the_records_as_written(pod: dict[str, Any]) -> None:
    [doc] = [d for d in load_objects([pod]) if isinstance(d, Document)]
    w = _engine(False).subject(doc)
    assert isinstance(w, Workload)
    records = ATTRIBUTES["containers"].getter(w)
    written = [objects.container_record(raw, type_, role) for raw, type_, role, _, _ in objects.entries(w)]
    assert records == written
    for record, expected in zip(records, written, strict=True):  # equal amounts, and shown as written
        for which in ("requests", "limits"):
            assert {k: str(v) for k, v in record[which].items()} == {k: str(v) for k, v in expected[which].items()}


def _body(condition: str) -> ast.Expr:
    module = parse(f'policy "p" {{ assert {condition} }}').module
    assert module is not None
    [rule] = [i for i in module.policies[0].items if isinstance(i, ast.Rule)]
    assert isinstance(rule.body, ast.Assert) and isinstance(rule.body.condition, ast.Quantifier)
    return rule.body.condition.body


def test_a_condition_reads_only_the_slots_it_needs() -> None:
    assert reads(_body(CONDITIONS[0]), "c") == {("type", None, False), ("requests", "cpu", True),
                                                 ("requests", "memory", True)}
    assert reads(_body(CONDITIONS[3]), "c") == {("limits", "cpu", False), ("requests", "cpu", False)}
    assert reads(_body(CONDITIONS[9]), "c") == {("requests", None, False)}
    assert reads(_body(CONDITIONS[7]), "c") == {("limits", "nvidia.com/gpu", False),
                                                 ("requests", "nvidia.com/gpu", False)}


def test_twenty_thousand_containers_that_differ_in_what_a_condition_ignores_are_one_group() -> None:
    """Every container requests its own CPU: a rule on memory limits decides once, and names the right ones."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "huge", "namespace": "ml"},
           "spec": {"containers": [{"name": f"c{i}", "image": "ghcr.io/acme/a:1",
                                    "resources": {"requests": {"cpu": f"{100 + i}m"},
                                                  "limits": {"memory": "1Gi"} if i % 5000 else {}}}
                                   for i in range(20_000)]}}
    outcome = dict(_outcome(_engine(False), pod))
    assert outcome["p1"] == ["c0, c5000, c10000, c15000"]
