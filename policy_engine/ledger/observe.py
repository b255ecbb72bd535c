"""What the ledger records of one GPU pod, and which quota/budget groups it belongs to.

An ``Observation`` is a pod's lifetime (start, end, deadline), its rate (GPUs, and the hourly price that
applied: the instance type and capacity type of the node it ran on), and what grouping reads: the
workload's labels after namespace inheritance, namespace, owning controller, GPU model. It is built from
the cluster-state cache's pod record, whose workload comes from the same model ``check`` uses, so a
quota's key reads a pod in the ledger exactly as it reads a manifest.

``source`` is the pod reduced to what a group key can read (metadata, owner, placement, container
resources): when policies change, the ledger rebuilds the workload from it to key pods that ended before
the writer (re)started.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from policy_engine.compiler.program import AggregateRule, PolicySet
from policy_engine.model.build import WorkloadError, build_workload
from policy_engine.model.documents import Document
from policy_engine.model.workload import Workload
from policy_engine.pricing.catalog import Catalog
from policy_engine.pricing.showback import group_value

LEDGER_FILE = "<ledger>"
POD_TEMPLATE_HASH = "pod-template-hash"


class PodLike(Protocol):
    """What the cluster-state cache's ``PodRecord`` offers (the ledger reads nothing else)."""

    uid: str
    namespace: str
    name: str
    node: str | None
    gpus: float
    workload: Workload
    started: datetime | None
    ended: datetime | None
    deadline: datetime | None
    source: dict[str, Any]
    hourly: float | None


@dataclass(frozen=True, slots=True)
class LedgerRule:
    """One aggregate rule of the policies in force.

    The ledger keys pods by the rule's *group key expression* (``id``, its folded source text such as
    ``labels["team"]``), not by the policy's name: every rule grouping the same way shares the keys, and a
    webhook whose policies name their quotas differently from the controller's still reads them.
    """

    name: str  # <policy>#<index>, for people
    policy: str
    rule: AggregateRule

    @property
    def id(self) -> str:
        return self.rule.key_label

    @property
    def key_label(self) -> str:
        return self.rule.key_label


def ledger_rules(policies: PolicySet) -> list[LedgerRule]:
    return [LedgerRule(f"{p.name}#{i}", p.name, rule) for p in policies.policies
            for i, rule in enumerate(p.aggregates)]


@dataclass(frozen=True, slots=True)
class Observation:
    uid: str
    namespace: str
    name: str
    workload: str  # the owning controller, e.g. "Deployment/serve", "Job/train-7"; the pod itself if none
    kind: str  # the owner's kind
    node: str | None
    instance_type: str | None
    capacity_type: str | None
    model: str
    gpus: float
    hourly: float | None  # None: not priced (unknown instance type), kept apart in budgets
    started: datetime | None
    ended: datetime | None
    deadline: datetime | None
    labels: Mapping[str, str]
    source: Mapping[str, Any]
    keys: Mapping[str, str]  # ledger rule id -> group key, for the rules in force when observed


def owner_of(obj: Mapping[str, Any]) -> tuple[str, str]:
    """The pod's owning controller as (kind, name); a ReplicaSet with a pod-template-hash reads as its
    Deployment."""
    meta = obj.get("metadata") or {}
    refs = meta.get("ownerReferences") or ()
    ref = next((r for r in refs if isinstance(r, dict) and r.get("controller")), None) or (
        refs[0] if refs and isinstance(refs[0], dict) else None)
    if ref is None:
        return "Pod", str(meta.get("name") or "")
    kind, name = str(ref.get("kind") or "Pod"), str(ref.get("name") or "")
    template_hash = (meta.get("labels") or {}).get(POD_TEMPLATE_HASH)
    if kind == "ReplicaSet" and template_hash and name.endswith(f"-{template_hash}"):
        return "Deployment", name[: -len(template_hash) - 1]
    return kind, name


def key_source(obj: Mapping[str, Any], workload: Workload) -> dict[str, Any]:
    """The pod reduced to what group keys read; labels are the workload's (inherited ones included)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    role = workload.roles[0] if workload.roles else None
    selector = dict(spec.get("nodeSelector") or {})
    if role is not None:  # the node's placement won over the spec when the pod was priced
        if role.instance_type:
            selector["node.kubernetes.io/instance-type"] = role.instance_type
        if role.capacity_type.value != "unknown":
            selector["karpenter.sh/capacity-type"] = role.capacity_type.value
        if role.gpu_model:
            selector["nvidia.com/gpu.product"] = role.gpu_model

    def containers(group: str) -> list[dict[str, Any]]:
        return [{"name": c.get("name"), "resources": c.get("resources") or {}}
                for c in spec.get(group) or () if isinstance(c, dict)]

    out_meta: dict[str, Any] = {"name": meta.get("name"), "namespace": meta.get("namespace"),
                                "labels": dict(workload.labels)}
    if meta.get("ownerReferences"):
        out_meta["ownerReferences"] = meta["ownerReferences"]
    out_spec: dict[str, Any] = {"containers": containers("containers"), "nodeSelector": selector}
    if spec.get("initContainers"):
        out_spec["initContainers"] = containers("initContainers")
    for field in ("activeDeadlineSeconds", "priorityClassName", "nodeName"):
        if spec.get(field) is not None:
            out_spec[field] = spec[field]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": out_meta, "spec": out_spec}


def observe(record: PodLike, catalog: Catalog, rules: Iterable[LedgerRule]) -> Observation:
    """The ledger's view of one cache record, keyed by every rule in force."""
    w = record.workload
    role = w.roles[0] if w.roles else None
    kind, owner = owner_of(record.source)
    keys: dict[str, str] = {}
    for r in rules:
        key = r.rule.key(w)
        if key is not None:
            keys[r.id] = key
    return Observation(
        uid=record.uid, namespace=record.namespace, name=record.name, workload=f"{kind}/{owner}", kind=kind,
        node=record.node, instance_type=role.instance_type if role else None,
        capacity_type=role.capacity_type.value if role else None, model=group_value(w, "model", catalog),
        gpus=record.gpus, hourly=record.hourly, started=record.started, ended=record.ended,
        deadline=record.deadline, labels=dict(w.labels), source=key_source(record.source, w), keys=keys)


def pack_source(source: Mapping[str, Any]) -> bytes:
    """The key source as stored: without its labels (the ledger keeps them in their own column), compressed."""
    meta = {k: v for k, v in (source.get("metadata") or {}).items() if k != "labels"}
    return zlib.compress(json.dumps({**source, "metadata": meta}, sort_keys=True, separators=(",", ":")).encode())


def rebuild_workload(source: bytes | str, labels_json: str) -> Workload | None:
    """The workload of a stored pod, for keying it by a rule that did not exist when it was observed."""
    try:
        text = zlib.decompress(source).decode() if isinstance(source, bytes) else source
        obj = json.loads(text)
        if not isinstance(obj, dict):
            return None
        obj.setdefault("metadata", {})["labels"] = json.loads(labels_json)
        return build_workload(Document(obj, LEDGER_FILE, 1))
    except (ValueError, zlib.error, WorkloadError):
        return None
