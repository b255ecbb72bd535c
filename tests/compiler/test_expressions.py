"""Expression semantics: operators, units, the missing-value rule, functions, CEL, multi-role reads."""

from __future__ import annotations

from typing import Any

import pytest

from policy_engine.compiler import compile_text
from policy_engine.compiler.attributes import ATTRIBUTES
from policy_engine.compiler.fold import fold
from policy_engine.compiler.typecheck_expr import ExprChecker
from policy_engine.model.workload import CapacityType, Workload
from policy_engine.syntax import ast
from policy_engine.syntax.parser import parse
from tests.workloads import role, workload

OBJ = {"kind": "Job", "metadata": {"name": "x", "labels": {"app": "llm"}},
       "spec": {"parallelism": 4, "template": {"spec": {"containers": [{"image": "vllm:0.6"}]}}}}


def holds(expr: str, w: Workload | None = None) -> bool:
    """Whether ``assert expr`` passes for ``w`` (a workload over OBJ by default)."""
    result = compile_text(f'policy "p" {{ assert {expr} }}')
    assert result.policy_set is not None, [d.message for d in result.diagnostics]
    [policy] = result.policy_set.policies
    return policy.violations(w or workload(role(gpus=2, replicas=2), kind="Job", name="train", namespace="ml", obj=OBJ,
                                      labels={"team": "ml"})) == []


@pytest.mark.parametrize("expr", [
    "gpus == 4", "gpus >= 4 and gpus < 5", "not gpus > 4", "gpus * 2 - 1 == 7", "gpus / 4 == 1",
    'labels["team"] == "ml"', 'labels["team"] in ["ml", "nlp"]', 'labels["team"] not in ["web"]',
    '"team" in labels', 'name =~ "^tr"', 'name matches "ain$"', 'kind in "CronJob Job"',
    "90m == 1.5h", "7d == 1w", "2h > 90m", "$1,500 == $1500", "$0.50 < $1", "80% == 0.8",
    "object.spec.parallelism == 4", 'object.metadata.labels["app"] == "llm"',
    'object.spec.template.spec.containers[0].image == "vllm:0.6"', "len(object.spec.template.spec.containers) == 1",
    'lower("ABC") == "abc"', 'startswith(name, "tr")', "has(object.spec.parallelism)",
    'cel("object.spec.parallelism == 4")', 'cel("has(object.spec.parallelism) && object.spec.parallelism > 2")',
    'cel("object.metadata.labels.app == \'llm\'")',
])
def test_expressions_that_hold(expr: str) -> None:
    assert holds(expr)


@pytest.mark.parametrize("expr", [
    # the missing-value rule: a missing field is null; ordering with null is false; nothing raises
    "object.spec.missing > 0", "object.spec.missing < 0", "object.spec.missing.deeper == 1",
    "object.spec.template.spec.containers[5].image == \"x\"", "object.spec.parallelism[0] == 1",
    "monthly_cost > $0", "idle_timeout < 1h", "object.spec.missing + 1 == 1",
    'object.spec.missing =~ "x"', "object.spec.parallelism / 0 == 1",
    'cel("object.spec.missing == 1")',  # a CEL evaluation error is null
])
def test_missing_values_never_satisfy_comparisons(expr: str) -> None:
    assert not holds(expr)


def test_equals_null_tests_absence() -> None:
    assert holds("object.spec.missing == null")
    assert holds("idle_timeout == null")
    assert holds("object.spec.parallelism != null")


def test_multi_role_scalars_read_the_gpu_roles() -> None:
    agree = workload(role("launcher", instance_type="m5.large"),
                     role("a", gpus=1, gpu_model="NVIDIA-A100", capacity=CapacityType.SPOT),
                     role("b", gpus=1, gpu_model="NVIDIA-A100", capacity=CapacityType.SPOT))
    assert ATTRIBUTES["gpu_model"].getter(agree) == "NVIDIA-A100"
    assert ATTRIBUTES["capacity_type"].getter(agree) == "spot"
    assert ATTRIBUTES["instance_type"].getter(agree) is None  # the GPU roles pin none
    differ = workload(role("a", gpus=1, gpu_model="NVIDIA-A100"), role("b", gpus=1, gpu_model="NVIDIA-L4"))
    assert ATTRIBUTES["gpu_model"].getter(differ) is None
    cpu_only = workload(role("web", instance_type="m5.large"))
    assert ATTRIBUTES["instance_type"].getter(cpu_only) == "m5.large"


def _expr(text: str) -> Any:
    module = parse(f"param x = {text}").module
    assert module is not None
    return module.params[0].value


def test_fold_pass_alone_computes_constants_and_keeps_attributes() -> None:
    checker = ExprChecker({}, [])
    e = _expr("gpus > 2 * 4 and (1h > 30m or gpus == 0)")
    checker.check(e)
    folded = fold(e, {}, checker.types)
    assert isinstance(folded, ast.Compare)  # `(1h > 30m or …)` folded to true and dropped
    assert isinstance(folded.right, ast.Literal) and folded.right.value == 8


def test_check_pass_alone_types_expressions() -> None:
    diagnostics: list[Any] = []
    checker = ExprChecker({}, diagnostics)
    assert checker.check(_expr("monthly_cost * 2")) == "money"
    assert checker.check(_expr("idle_timeout / 30m")) == "number"
    assert checker.check(_expr('[1, 2] == ["a"]')) == "bool" and diagnostics[0].code == "E201"


def test_cel_converts_only_what_it_reads_and_keeps_absence() -> None:
    from policy_engine.compiler.cel import _paths_read, _pruned

    paths = _paths_read("has(object.spec.x) && object.spec.template.spec.containers.all(c, c.image != '')")
    assert paths == (("spec", "x"), ("spec", "template", "spec", "containers"))
    obj = {"spec": {"template": {"spec": {"containers": [{"image": "a"}], "volumes": []}}, "replicas": 2}}
    assert _pruned(obj, paths or ()) == {"spec": {"template": {"spec": {"containers": [{"image": "a"}]}}}}
    assert _paths_read("size(object) > 0") is None  # object used whole: converted whole
    assert holds('cel("object.spec.template.spec.containers.all(c, c.image.startsWith(\'vllm\'))")')
    assert not holds('cel("has(object.spec.x)")')
