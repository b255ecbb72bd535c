"""Workloads built straight from the model's dataclasses, so compiler tests do not depend on parsing YAML."""

from __future__ import annotations

from typing import Any

from policy_engine.compiler import compile_text
from policy_engine.compiler.program import CompiledPolicy
from policy_engine.diagnostics import render_all
from policy_engine.model.documents import Document
from policy_engine.model.workload import CapacityType, Cost, Role, RunKind, RunTime, Workload


def role(name: str = "worker", *, replicas: int = 1, gpus: float = 0.0, gpu_model: str | None = None,
         instance_type: str | None = None, capacity: CapacityType = CapacityType.UNKNOWN,
         candidates: tuple[str, ...] = ()) -> Role:
    return Role(name=name, replicas=replicas, gpus_per_pod=gpus, gpu_model=gpu_model, instance_type=instance_type,
                capacity_type=capacity, instance_type_candidates=candidates,
                gpu_resource="nvidia.com/gpu" if gpus else None)


def workload(*roles: Role, kind: str = "Job", name: str = "train", namespace: str | None = "ml",
             labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
             obj: dict[str, Any] | None = None, run: RunTime | None = None, idle: float | None = None,
             monthly: float | None = None) -> Workload:
    doc = Document(obj if obj is not None else {"kind": kind, "metadata": {"name": name}}, "w.yaml", 1)
    cost = Cost(priced=monthly is not None, hourly=None if monthly is None else monthly / 730, monthly=monthly)
    return Workload(
        kind=kind, api_version="batch/v1", name=name, namespace=namespace, doc=doc,
        roles=list(roles) or [role()], labels=dict(labels or {}), annotations=dict(annotations or {}),
        object_labels=dict(labels or {}), pod_labels={},
        run_time=run or RunTime(RunKind.BOUNDED, 2.0, 1.0, "activeDeadlineSeconds"),
        idle_timeout_seconds=idle, cost=cost)


def compile_one(text: str) -> CompiledPolicy:
    result = compile_text(text, "t.policy")
    assert result.policy_set is not None, render_all(result.diagnostics, result.sources)
    [policy] = result.policy_set.policies
    return policy
