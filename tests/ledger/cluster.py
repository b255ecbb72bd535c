"""A simulated cluster for the ledger tests: GPU pods with known lifetimes, fed through the real
cluster-state cache (``Store``: workload model, node placement, pricing) so the ledger sees exactly what
the controller's cache would hand it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from policy_engine.cluster.pods import PodRecord
from policy_engine.cluster.store import Store
from policy_engine.compiler.program import PolicySet
from policy_engine.engine import Engine, load_engine
from policy_engine.pricing.catalog import Catalog

POLICIES = Path(__file__).resolve().parents[1] / "fixtures" / "ledger" / "quotas.policy"
T0 = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
NODES: list[dict[str, Any]] = [
    {"metadata": {"name": "gpu-a", "labels": {"node.kubernetes.io/instance-type": "p4d.24xlarge",
                                              "karpenter.sh/capacity-type": "on-demand"}}},
    {"metadata": {"name": "gpu-b", "labels": {"node.kubernetes.io/instance-type": "p4d.24xlarge",
                                              "karpenter.sh/capacity-type": "spot"}}},
]
TEAMS = ("nlp", "vision", "search")


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SimPod:
    name: str
    team: str
    gpus: int
    node: str
    start: datetime
    end: datetime | None  # None: runs on
    deleted: bool  # True: vanishes from the API at ``end``; False: stays listed as Succeeded
    namespace_name: str | None = None  # default team-<team>
    own_labels: tuple[tuple[str, str], ...] | None = None  # default team=<team>, model=llama

    @property
    def namespace(self) -> str:
        return self.namespace_name or f"team-{self.team}"

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.own_labels) if self.own_labels is not None else {"team": self.team, "model": "llama"}

    def listed_at(self, t: datetime) -> bool:
        return self.start <= t and not (self.deleted and self.end is not None and t >= self.end)

    def obj(self, t: datetime) -> dict[str, Any]:
        finished = self.end is not None and t >= self.end
        status: dict[str, Any] = {"phase": "Succeeded" if finished else "Running", "startTime": iso(self.start)}
        if finished:
            assert self.end is not None
            status["containerStatuses"] = [{"name": "main", "state": {"terminated": {"finishedAt": iso(self.end)}}}]
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": self.name, "namespace": self.namespace, "uid": f"uid-{self.name}",
                         "labels": self.labels,
                         "ownerReferences": [{"kind": "Job", "name": self.name.rsplit("-", 1)[0],
                                              "controller": True}]},
            "spec": {"nodeName": self.node, "containers": [
                {"name": "main", "resources": {"requests": {"nvidia.com/gpu": str(self.gpus)},
                                               "limits": {"nvidia.com/gpu": str(self.gpus)}}}]},
            "status": status,
        }

    def hours(self, start: datetime, now: datetime) -> float:
        stop = min(self.end or now, now)
        return max((stop - max(self.start, start)).total_seconds(), 0.0) / 3600.0


def fleet(count: int) -> list[SimPod]:
    """Pods starting over the first 20 hours; a third deleted, a third finishing (and staying listed)."""
    pods = []
    for i in range(count):
        start = T0 + (i % 20) * HOUR
        kind = (i // 3) % 3  # every team has deleted, finished and running pods
        end = start + (5 + i % 7) * HOUR if kind == 0 else start + (3 + i % 5) * HOUR if kind == 1 else None
        pods.append(SimPod(f"job{i}-0", TEAMS[i % 3], 1 + i % 4, "gpu-a" if i % 2 else "gpu-b", start, end,
                           deleted=kind == 0))
    return pods


class Cache:
    """The real cluster-state store, fed whole lists at simulated times (as a relist would)."""

    def __init__(self, catalog: Catalog, namespaces: list[dict[str, Any]] | None = None,
                 inherit: tuple[str, ...] = ("team",), authoritative: tuple[str, ...] = ()) -> None:
        self.store = Store(catalog, inherit, authoritative)
        self.store.replace("nodes", NODES, T0)
        self.store.replace("namespaces", namespaces or [], T0)
        self.synced = True

    def list_at(self, pods: list[SimPod], t: datetime) -> None:
        self.store.replace("pods", [p.obj(t) for p in pods if p.listed_at(t)], t)

    def pod_records(self) -> list[PodRecord]:
        return list(self.store.records())

    def store_state(self) -> Cache:
        """What ``CacheSource`` reads of a ``ClusterState``: ``synced`` and ``store``."""
        return self


def per_gpu_hour(node: str, catalog: Catalog) -> float:
    """The pricing engine's hourly price of one GPU on a node of ``NODES`` (the price the ledger records)."""
    from policy_engine.model.workload import CapacityType
    from policy_engine.pricing.cost import PodPrice, price_pod
    from tests.workloads import role

    labels = next(n["metadata"]["labels"] for n in NODES if n["metadata"]["name"] == node)
    priced = price_pod(role("gpu", gpus=1.0, instance_type=labels["node.kubernetes.io/instance-type"],
                            capacity=CapacityType(labels["karpenter.sh/capacity-type"])), catalog)
    assert isinstance(priced, PodPrice)
    return priced.effective


def engine() -> Engine:
    return load_engine([POLICIES])


def policies_of(e: Engine) -> PolicySet:
    return e.policies


def write_ledger(path: Path, pods: list[SimPod], hours: int, cache: Cache | None = None) -> Engine:
    """A ledger written by the real writer from the simulated cluster (through ``cache``: namespaces and the
    inheritance rule), one cycle per hour from T0."""
    from policy_engine.ledger.store import Ledger
    from policy_engine.ledger.writer import LedgerWriter

    e = engine()
    with Ledger(path) as ledger:
        cache = cache or Cache(e.catalog)
        clock = {"now": T0}
        writer = LedgerWriter(ledger, cache, lambda: e.policies, lambda: e.catalog, clock=lambda: clock["now"])
        for k in range(hours):
            clock["now"] = T0 + k * HOUR
            cache.list_at(pods, clock["now"])
            writer.cycle()
    return e
