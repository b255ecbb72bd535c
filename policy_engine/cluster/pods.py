"""A GPU pod as the cluster-state cache keeps it: its workload, its GPUs, when it ran, and its hourly price.

The workload comes from the same model the CI check uses (``build_workload`` on the pod object), after
namespace label inheritance, so a quota's group key reads a live pod exactly as it reads a manifest.
The price is the pricing engine's price of one pod of that workload on the node it actually runs on:
the node's instance-type, capacity-type and GPU-model labels win over what the pod spec asked for.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from policy_engine.errors import WorkloadError
from policy_engine.model.build import build_workload
from policy_engine.model.documents import Document
from policy_engine.model.inherit import inherit_labels
from policy_engine.model.placement import read_placement
from policy_engine.model.workload import Workload
from policy_engine.pricing.catalog import Catalog
from policy_engine.pricing.cost import REGION_LABELS, Unpriced, price_pod, priced_workload

CLUSTER_FILE = "<cluster>"
FINISHED_PHASES = ("Succeeded", "Failed")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@dataclass(slots=True)
class PodRecord:
    uid: str
    namespace: str
    name: str
    node: str | None  # spec.nodeName: None until scheduled
    gpus: float
    workload: Workload
    inherited: dict[str, str]  # labels taken from the namespace when the workload was built
    started: datetime | None  # status.startTime
    ended: datetime | None  # last container finish, or when the watch saw the pod go
    deadline: datetime | None  # startTime + spec.activeDeadlineSeconds: the kubelet stops the pod then
    source: dict[str, Any] = field(default_factory=dict)  # the pod as listed, trimmed, before inheritance
    keys: dict[int, tuple[Any, str | None]] = field(default_factory=dict)  # id(rule) -> (rule, its group key)
    hourly: float | None = None  # None: not priced (unknown node or instance type)
    unpriced_reason: str | None = None

    @property
    def running(self) -> bool:
        """Holds its GPUs now: scheduled onto a node and not finished."""
        return self.node is not None and self.ended is None


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as the API server writes it (``2026-11-23T10:00:00Z``)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _finished_at(status: Mapping[str, Any]) -> datetime | None:
    times = [parse_time((cs.get("state") or {}).get("terminated", {}).get("finishedAt"))
             for cs in status.get("containerStatuses") or () if isinstance(cs, dict)]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def requests_extended_resources(spec: Mapping[str, Any]) -> bool:
    """Whether any container asks for a vendor resource (``nvidia.com/gpu``, ``google.com/tpu``…).

    Every accelerator is such a resource (a name with a domain), so a pod without one is no GPU pod and
    the workload model need not read it: most pods of a cluster are skipped this cheaply.
    """
    for group in ("containers", "initContainers"):
        for container in spec.get(group) or ():
            resources = container.get("resources") if isinstance(container, dict) else None
            if not isinstance(resources, dict):
                continue
            for section in ("limits", "requests"):
                amounts = resources.get(section)
                if isinstance(amounts, dict) and any("/" in str(name) for name in amounts):
                    return True
    return False


def trimmed(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod without what the cache never reads and that can be most of its size: managedFields and
    kubectl's last-applied-configuration copy of the whole object."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return obj
    meta = {k: v for k, v in meta.items() if k != "managedFields"}
    annotations = meta.get("annotations")
    if isinstance(annotations, dict) and LAST_APPLIED in annotations:
        meta["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    return {**obj, "metadata": meta}


def build_record(obj: dict[str, Any], namespace_labels: Mapping[str, str] | None, keys: Sequence[str],
                 seen: datetime, authoritative: Collection[str] = (),
                 catalog: Catalog | None = None) -> PodRecord | None:
    """The record of a pod that requests GPUs; None for a pod without GPUs or one the model cannot read."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    if not isinstance(spec, dict) or not requests_extended_resources(spec):
        return None
    obj = trimmed(obj)
    status = obj.get("status") or {}
    try:
        doc = Document(obj, CLUSTER_FILE, 1)  # the one priced-workload path, with the catalog's hours
        workload = priced_workload(doc, catalog) if catalog is not None else build_workload(doc)
    except WorkloadError:
        return None
    if workload is None or workload.gpus <= 0:
        return None
    taken = inherit_labels(workload, namespace_labels, keys, authoritative)  # the one rule (model/inherit.py)
    started = parse_time(status.get("startTime"))
    ended = None
    if status.get("phase") in FINISHED_PHASES:
        ended = _finished_at(status) or seen
    deadline_seconds = spec.get("activeDeadlineSeconds")
    deadline = (started + timedelta(seconds=float(deadline_seconds))
                if started is not None and isinstance(deadline_seconds, int | float) else None)
    return PodRecord(uid=str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}"),
                     namespace=str(meta.get("namespace") or ""), name=str(meta.get("name") or ""),
                     node=str(spec["nodeName"]) if spec.get("nodeName") else None, gpus=workload.gpus,
                     workload=workload, inherited=taken, started=started, ended=ended, deadline=deadline,
                     source=obj)


def price_record(record: PodRecord, node_labels: Mapping[str, str] | None, catalog: Catalog) -> None:
    """Set the record's hourly price: one pod of its workload, placed by its node's labels."""
    placement = read_placement({"nodeSelector": dict(node_labels)}, ()) if node_labels else None
    role = record.workload.roles[0]
    if placement is not None:
        if placement.instance_type:
            role.instance_type, role.instance_type_candidates = placement.instance_type, ()
        if placement.gpu_model:
            role.gpu_model = placement.gpu_model
        if placement.capacity_type.value != "unknown":
            role.capacity_type = placement.capacity_type
        regions = {k: v for k in REGION_LABELS if (v := placement.node_selector.get(k))}
        if regions:  # the node's region selects the regional price
            role.node_selector = {**role.node_selector, **regions}
    priced = price_pod(role, catalog)
    if isinstance(priced, Unpriced):
        record.hourly, record.unpriced_reason = None, priced.reason
    else:
        record.hourly, record.unpriced_reason = priced.effective, None
