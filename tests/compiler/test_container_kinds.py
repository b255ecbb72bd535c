"""Kinds of container shared across workloads (``objects.container_classes``' ids): a record copied from the
first container of its kind is the record built afresh, and a condition over containers is decided once per
kind only when it reads nothing but the container, so the verdicts of one workload never leak into another's."""

from __future__ import annotations

from typing import Any

import pytest

from policy_engine.compiler import compile_text, objects
from policy_engine.compiler.attributes import ATTRIBUTES, container_classes
from policy_engine.compiler.container_groups import alike_everywhere
from policy_engine.engine import Engine
from policy_engine.model.documents import Document, load_objects
from policy_engine.model.workload import Workload
from policy_engine.pricing.catalog import load_catalog
from policy_engine.syntax import ast
from policy_engine.syntax.parser import parse


def _pod(name: str, containers: list[dict[str, Any]], gpus: int = 0) -> dict[str, Any]:
    if gpus:
        containers = [{**containers[0], "resources": {"limits": {"nvidia.com/gpu": str(gpus), "memory": "1Gi"}}},
                      *containers[1:]]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "ml"},
            "spec": {"containers": containers}}


APP = {"image": "ghcr.io/acme/app:1", "resources": {"requests": {"cpu": "1", "memory": "1Gi"},
                                                    "limits": {"memory": "2Gi"}}}


def _workload(engine: Engine, pod: dict[str, Any]) -> Workload:
    [doc] = [d for d in load_objects([pod]) if isinstance(d, Document)]
    w = engine.subject(doc)
    assert isinstance(w, Workload)
    return w


def _engine(*conditions: str) -> Engine:
    text = "\n".join(f'policy "p{i}" {{\n  assert {c}\n    message "{{elements}}"\n}}'
                     for i, c in enumerate(conditions))
    compiled = compile_text(text)
    assert compiled.policy_set is not None, [d.headline() for d in compiled.diagnostics]
    return Engine(compiled.policy_set, load_catalog())


def test_a_kind_met_in_another_workload_gives_the_record_built_afresh() -> None:
    engine = _engine("true")
    first = _workload(engine, _pod("a", [{"name": "x", **APP, "ports": [{"containerPort": 80}]}]))
    second = _workload(engine, _pod("b", [{"name": "y", **APP, "ports": [{"containerPort": 81, "hostPort": 9}]},
                                          {"name": "z", **APP}]))
    ids = container_classes(first).ids + container_classes(second).ids
    assert ids[0] == ids[1] == ids[2] >= 0  # one kind of container in both
    for w in (first, second):
        records = ATTRIBUTES["containers"].getter(w)
        assert records == [objects.container_record(raw, type_, role) for raw, type_, role, _, _ in objects.entries(w)]
        assert [list(r) for r in records] == [list(objects.container_record({}, "app", "pod"))] * len(records)
    assert [(r["name"], r["ports"], r["host_ports"]) for r in ATTRIBUTES["containers"].getter(second)] == \
        [("y", [81], [9]), ("z", [], [])]


def test_containers_that_differ_in_a_class_field_are_different_kinds() -> None:
    engine = _engine("true")
    pods = [_pod("a", [{"name": "x", **APP}]), _pod("b", [{"name": "x", **APP, "image": "ghcr.io/acme/app:2"}]),
            _pod("c", [{"name": "x", **APP, "securityContext": {"privileged": True}}]),
            _pod("d", [{"name": "x", **APP, "resources": {"requests": {"cpu": "1000m", "memory": "1Gi"},
                                                          "limits": {"memory": "2Gi"}}}])]
    ids = [container_classes(_workload(engine, p)).ids[0] for p in pods]
    assert len(set(ids)) == 4


def _quantifier(condition: str) -> ast.Quantifier:
    module = parse(f'policy "p" {{ assert {condition} }}').module
    assert module is not None
    [rule] = [i for i in module.policies[0].items if isinstance(i, ast.Rule)]
    assert isinstance(rule.body, ast.Assert) and isinstance(rule.body.condition, ast.Quantifier)
    return rule.body.condition


@pytest.mark.parametrize(("condition", "alike"), [
    ('all c in containers: c.type == "ephemeral" or c.limits.memory != null', True),
    ('all c in containers: c.registry in ["ghcr.io"] and len(c.requests) > 0', True),
    ("all c in containers: c.limits.memory != null or gpus > 0", False),
    ('all c in containers: c.role == name', False),
])
def test_only_a_body_reading_nothing_but_its_container_is_decided_once_per_kind(condition: str, alike: bool) -> None:
    assert alike_everywhere(_quantifier(condition)) is alike


def test_a_body_reading_the_workload_is_decided_for_each_workload() -> None:
    """The same kind of container (no memory limit) in a pod with GPUs and in one without."""
    engine = _engine("all c in containers: c.limits.memory != null or gpus > 0",
                     "all c in containers: c.limits.memory != null")
    bare = {"name": "x", "image": "ghcr.io/acme/app:1"}
    messages = []
    for pod in (_pod("cpu", [bare, {**bare, "name": "y"}]), _pod("gpu", [{**bare, "name": "g"}, bare], gpus=1),
                _pod("cpu2", [bare, {**bare, "name": "y"}])):
        w = _workload(engine, pod)
        messages.append([[v.message for v in p.violations(w)] for p in engine.policies.policies])
    assert messages == [[["x, y"], ["x, y"]], [[], ["x"]], [["x, y"], ["x, y"]]]
