"""Documents other documents name: what a workload's pods come from when it is not in the object itself.

A Kubeflow Trainer ``TrainJob`` names a (Cluster)TrainingRuntime (``training_runtimes.py``); a pod's DRA
``resourceClaims`` name a ``ResourceClaimTemplate`` (``dra.py``). Both may sit anywhere in the scanned
set — another file, another worker's share of a parallel ``check``. So a workload that names one
(``needs_references``) is judged only once the whole set has been read, against every referenced
document of it (``reference_key``, ``scanned_references``): the engine defers it to ``Engine.finish``;
``inspect`` and ``cost`` read the whole set first.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from policy_engine.model.documents import Document
from policy_engine.model.workload import Workload

RUNTIME_KINDS = ("ClusterTrainingRuntime", "TrainingRuntime")
CLAIM_TEMPLATE = "ResourceClaimTemplate"
#: Kinds a workload may name; cluster-scoped ones are found whatever the workload's namespace.
REFERENCED_KINDS = frozenset({*RUNTIME_KINDS, CLAIM_TEMPLATE})
_CLUSTER_SCOPED = frozenset({"ClusterTrainingRuntime"})

Key = tuple[str, str, str]


def key(kind: str, name: str, namespace: str | None) -> Key:
    """(kind, name, namespace): a namespaced kind is found in the naming workload's namespace."""
    return (kind, name, "" if kind in _CLUSTER_SCOPED else namespace or "")


def reference_key(doc: Document) -> Key | None:
    """The key other documents name ``doc`` by, or None when it is not a kind a workload may name."""
    if doc.kind not in REFERENCED_KINDS:
        return None
    raw = doc.obj.get("metadata")
    meta: dict[str, Any] = raw if isinstance(raw, dict) else {}
    return key(doc.kind, str(meta.get("name")), meta.get("namespace"))


def scanned_references(documents: Iterable[Document]) -> dict[Key, Document]:
    """The documents of a scanned set that workloads may name, by ``key``."""
    out: dict[Key, Document] = {}
    for doc in documents:
        found = reference_key(doc)
        if found is not None:
            out[found] = doc
    return out


def needs_references(workload: Workload) -> bool:
    """Whether the workload's pods depend on another document of the set (judge it after reading them all)."""
    return workload.kind == "TrainJob" or any(r.claim_templates for r in workload.roles)
