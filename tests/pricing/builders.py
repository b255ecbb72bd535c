"""Workloads built straight from the model's dataclasses, so pricing tests do not depend on manifests."""

from __future__ import annotations

from pathlib import Path

from policy_engine.model.documents import Document
from policy_engine.model.workload import CapacityType, Container, Role, RunKind, RunTime, Workload
from policy_engine.pricing.catalog import Catalog, load_catalog

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pricing"
ROUND_CATALOG = FIXTURES / "catalogs" / "round.yaml"

CONTINUOUS = RunTime(RunKind.CONTINUOUS, 730.0, 1.0, "serves all month")


def round_catalog() -> Catalog:
    return load_catalog(str(ROUND_CATALOG))


def bounded(hours: float) -> RunTime:
    return RunTime(RunKind.BOUNDED, hours, 1.0, f"one run of {hours} h")


def scheduled(runs: float, hours: float | None) -> RunTime:
    return RunTime(RunKind.SCHEDULED, hours, runs, f"{runs} runs")


UNBOUNDED = RunTime(RunKind.UNBOUNDED, None, 1.0, "unbounded: no deadline")


def role(name: str = "pod", replicas: int = 1, *, gpus: float = 0.0, model: str | None = None,
         instance: str | None = None, candidates: tuple[str, ...] = (),
         capacity: CapacityType = CapacityType.ON_DEMAND, cpu: float = 0.0, memory_gib: float = 0.0,
         templated: bool = True) -> Role:
    containers = (Container("main", False, {}, {}),) if templated else ()
    return Role(name=name, replicas=replicas, gpus_per_pod=gpus, gpu_model=model, instance_type=instance,
                instance_type_candidates=candidates, capacity_type=capacity, cpu_request=cpu,
                memory_request_gib=memory_gib, containers=containers)


def workload(*roles: Role, run_time: RunTime = CONTINUOUS, kind: str = "Deployment",
             labels: dict[str, str] | None = None, idle_timeout: float | None = None,
             namespace: str | None = "default", name: str = "w") -> Workload:
    doc = Document({"kind": kind, "metadata": {"name": name}}, "test.yaml", 1)
    return Workload(kind=kind, api_version="v1", name=name, namespace=namespace, doc=doc, roles=list(roles),
                    labels=dict(labels or {}), annotations={}, object_labels=dict(labels or {}), pod_labels={},
                    run_time=run_time, idle_timeout_seconds=idle_timeout)


def priced(w: Workload, catalog: Catalog) -> Workload:
    from policy_engine.pricing.cost import price

    w.cost = price(w, catalog)
    return w
