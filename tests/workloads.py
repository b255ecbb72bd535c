"""The one way tests build workloads: straight from the model's dataclasses, no YAML.

Defaults are what the workload model gives an unremarkable manifest: a ``Deployment`` named ``w`` in
namespace ``default`` that runs all month, one role of one replica with one templated container, no GPU,
no placement, capacity unknown (no spot or on-demand signal), not priced until ``priced`` is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from policy_engine.compiler import compile_text
from policy_engine.compiler.program import CompiledPolicy
from policy_engine.diagnostics import render_all
from policy_engine.model.documents import Document
from policy_engine.model.workload import (
    Admission,
    CapacityType,
    Container,
    Cost,
    Role,
    RunKind,
    RunTime,
    Workload,
)
from policy_engine.pricing.catalog import Catalog, load_catalog

PRICING_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pricing"
ROUND_CATALOG = PRICING_FIXTURES / "catalogs" / "round.yaml"
API_VERSIONS = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "Job": "batch/v1", "CronJob": "batch/v1",
                "Pod": "v1", "PyTorchJob": "kubeflow.org/v1", "RayCluster": "ray.io/v1"}

CONTINUOUS = RunTime(RunKind.CONTINUOUS, 730.0, 1.0, "serves all month")
UNBOUNDED = RunTime(RunKind.UNBOUNDED, None, 1.0, "unbounded: no deadline")


def bounded(hours: float) -> RunTime:
    return RunTime(RunKind.BOUNDED, hours, 1.0, f"one run of {hours} h")


def scheduled(runs: float, hours: float | None) -> RunTime:
    return RunTime(RunKind.SCHEDULED, hours, runs, f"{runs} runs")


def role(name: str = "worker", replicas: int = 1, *, gpus: float = 0.0, gpu_model: str | None = None,
         instance_type: str | None = None, candidates: tuple[str, ...] = (),
         capacity: CapacityType = CapacityType.UNKNOWN, cpu: float = 0.0, memory_gib: float = 0.0,
         templated: bool = True) -> Role:
    containers = (Container("main", False, {}, {}),) if templated else ()
    return Role(name=name, replicas=replicas, gpus_per_pod=gpus, gpu_model=gpu_model, instance_type=instance_type,
                instance_type_candidates=candidates, capacity_type=capacity, cpu_request=cpu,
                memory_request_gib=memory_gib, containers=containers,
                gpu_resource="nvidia.com/gpu" if gpus else None)


def workload(*roles: Role, kind: str = "Deployment", name: str = "w", namespace: str | None = "default",
             labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
             obj: dict[str, Any] | None = None, run_time: RunTime = CONTINUOUS, idle_timeout: float | None = None,
             monthly: float | None = None, admission: Admission | None = None) -> Workload:
    """A workload; ``monthly`` gives it a price (else it has none until ``priced``); ``admission``: what an
    admission request says beyond the object (the webhook's)."""
    doc = Document(obj if obj is not None else {"kind": kind, "metadata": {"name": name}}, "w.yaml", 1)
    cost = Cost(priced=monthly is not None, hourly=None if monthly is None else monthly / 730, monthly=monthly)
    return Workload(
        kind=kind, api_version=API_VERSIONS.get(kind, "v1"), name=name, namespace=namespace, doc=doc,
        roles=list(roles) or [role()], labels=dict(labels or {}), annotations=dict(annotations or {}),
        object_labels=dict(labels or {}), pod_labels={}, run_time=run_time, idle_timeout_seconds=idle_timeout,
        cost=cost, admission=admission)


def round_catalog() -> Catalog:
    """A small catalog of round prices (tests/fixtures/pricing/catalogs/round.yaml)."""
    return load_catalog(str(ROUND_CATALOG))


def priced(w: Workload, catalog: Catalog) -> Workload:
    from policy_engine.pricing.cost import price

    w.cost = price(w, catalog)
    return w


def compile_one(text: str) -> CompiledPolicy:
    result = compile_text(text, "t.policy")
    assert result.policy_set is not None, render_all(result.diagnostics, result.sources)
    [policy] = result.policy_set.policies
    return policy
