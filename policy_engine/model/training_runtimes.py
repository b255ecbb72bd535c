"""Kubeflow Trainer v2: a TrainJob's pods come from the (Cluster)TrainingRuntime its ``runtimeRef`` names.

A runtime is a JobSet template (``spec.template.spec.replicatedJobs``). The trainer's pods are the
replicated job named ``node`` (upstream's convention; else the one labelled
``trainer.kubeflow.org/trainjob-ancestor-step: trainer``, else the last). ``resolve_train_job`` gives the
TrainJob's ``node`` role the runtime pod's placement and — when the TrainJob sets no
``trainer.resourcesPerNode`` (which replaces the node container's resources) — its GPUs, CPU and memory;
``numNodes`` comes from the TrainJob, else the runtime's ``mlPolicy.numNodes``. Every other replicated
job of the runtime (a dataset or model initializer) runs pods too and is a role of its own.

Labels: the trainer's ``JobSet`` plugin builds the JobSet from the runtime's template, and its pods carry
that template's pod labels plus the TrainJob's ``spec.podTemplateOverrides[].metadata`` for the jobs each
override targets (``Builder``/``PodTemplateOverrides`` upstream); the TrainJob's own ``metadata.labels``
(and ``spec.labels``, for the JobSet and Jobs only) never reach a pod. So a label rule reads each role's
runtime labels plus its overrides, and the fix names ``spec.podTemplateOverrides[].metadata.labels``.

Runtimes are looked up in the scanned set first (``ModelConfig.references``: ``references.py``), then in
the bundled copy of the upstream runtimes (``runtimes/``). ``template_workload`` reads a runtime (and an
``LLMInferenceServiceConfig``, a ``ServingRuntime``) as the pods it would give, for ``inspect``'s templates.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from policy_engine.errors import WorkloadError
from policy_engine.model.build import build_workload, carry
from policy_engine.model.config import ModelConfig
from policy_engine.model.documents import Document, LoadError, load_paths
from policy_engine.model.fields import string_map
from policy_engine.model.references import RUNTIME_KINDS, Key, reference_key
from policy_engine.model.references import key as runtime_key
from policy_engine.model.workload import Provenance, Workload

TEMPLATE_KINDS = (*RUNTIME_KINDS, "LLMInferenceServiceConfig", "ServingRuntime", "ClusterServingRuntime")
BUNDLED = Path(__file__).resolve().parent / "runtimes"
_TRAINER_STEP = "trainer.kubeflow.org/trainjob-ancestor-step"


@functools.lru_cache(maxsize=1)
def bundled_runtimes() -> dict[Key, Document]:
    out: dict[Key, Document] = {}
    for item in load_paths([str(BUNDLED)]):
        if isinstance(item, LoadError) or item.kind not in RUNTIME_KINDS:
            continue
        found = reference_key(item)
        if found is not None:
            out[found] = item
    return out


def find_runtime(config: ModelConfig, kind: str, name: str, namespace: str | None) -> tuple[Document, str] | None:
    """The runtime a TrainJob names and where it was found ("scanned" or "bundled")."""
    key = runtime_key(kind, name, namespace)
    found = config.references.get(key)
    if found is not None:
        return found, "scanned"
    bundled = bundled_runtimes().get(key)
    return (bundled, "bundled") if bundled is not None else None


def _as_jobset(runtime: Document) -> Document:
    spec = ((runtime.obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    obj: dict[str, Any] = {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
                           "metadata": dict(runtime.obj.get("metadata") or {}), "spec": spec}
    return Document(obj, runtime.file, runtime.line)


def _node_role_name(runtime: Document) -> str | None:
    jobs = (((runtime.obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("replicatedJobs") or []
    names = [str(j.get("name")) for j in jobs if isinstance(j, dict)]
    if "node" in names:
        return "node"
    for job in jobs:
        labels = ((job.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if isinstance(labels, dict) and labels.get(_TRAINER_STEP) == "trainer":
            return str(job.get("name"))
    return names[-1] if names else None


def template_workload(doc: Document, config: ModelConfig) -> Workload | None:
    """A runtime or serving config read as the pods it would give (GPUs per instance), for ``inspect``."""
    spec = doc.obj.get("spec") if isinstance(doc.obj.get("spec"), dict) else {}
    if doc.kind in RUNTIME_KINDS:
        synthetic = _as_jobset(doc)
    elif doc.kind == "LLMInferenceServiceConfig":
        synthetic = Document({**doc.obj, "apiVersion": "serving.kserve.io/v1alpha1",
                              "kind": "LLMInferenceService"}, doc.file, doc.line)
    elif isinstance(spec, dict) and isinstance(spec.get("containers"), list):  # (Cluster)ServingRuntime
        synthetic = Document({"apiVersion": "v1", "kind": "Pod", "metadata": doc.obj.get("metadata") or {},
                              "spec": {k: v for k, v in spec.items() if k in ("containers", "nodeSelector",
                                                                              "tolerations", "affinity")}},
                             doc.file, doc.line)
    else:
        return None
    workload = build_workload(synthetic, config)
    if workload is not None:
        workload.kind, workload.api_version, workload.doc = doc.kind, doc.api_version, doc
    return workload


def template_workloads(items: Iterable[Document | LoadError], config: ModelConfig) -> list[Workload]:
    """The runtimes and serving configs among ``items``, each read as the pods it would give; one the model
    cannot read is left out (its kind's own workloads report the field)."""
    out: list[Workload] = []
    for item in items:
        if isinstance(item, Document) and item.kind in TEMPLATE_KINDS:
            try:
                found = template_workload(item, config)
            except WorkloadError:
                continue
            if found is not None:
                out.append(found)
    return out


def resolve_train_job(workload: Workload, config: ModelConfig) -> None:
    """Fill the TrainJob's roles from its runtime and its pods' labels from the runtime and the TrainJob's
    ``podTemplateOverrides`` (see the module docstring), in place."""
    if workload.roles:
        _resolve(workload, config)
        _override_metadata(workload)
        carry(workload)


def _resolve(workload: Workload, config: ModelConfig) -> None:
    obj = workload.obj
    ref = obj.get("spec", {}).get("runtimeRef") or {}
    role = workload.roles[0]
    role.pod_labels, role.pod_annotations = {}, {}  # the TrainJob's own metadata never reaches a pod
    if not isinstance(ref, dict) or not ref.get("name"):
        return
    kind = str(ref.get("kind") or "ClusterTrainingRuntime")
    found = find_runtime(config, kind, str(ref["name"]), workload.namespace)
    if found is None:
        workload.provenance["runtime_unresolved"] = Provenance(
            ("spec", "runtimeRef"), f"{kind} {ref['name']} is neither in the scanned set nor a bundled upstream "
                                    f"runtime: the TrainJob's pods are unknown")
        return
    runtime, where = found
    jobset = build_workload(_as_jobset(runtime), config)
    node_name = _node_role_name(runtime)
    node = next((r for r in (jobset.roles if jobset else []) if r.name == node_name), None)
    if node is None:
        return
    note = f"from {where} {kind} {ref['name']} ({runtime.file}:{runtime.line}), replicated job {node_name}"
    role.name = node.name
    role.pod_labels, role.pod_annotations = dict(node.pod_labels), dict(node.pod_annotations)
    role.provenance.pop("template", None)
    trainer = (obj.get("spec") or {}).get("trainer") or {}
    if not isinstance(trainer, dict) or not trainer.get("resourcesPerNode"):
        role.gpus_per_pod, role.gpu_resource = node.gpus_per_pod, node.gpu_resource
        role.gpu_resources = dict(node.gpu_resources)
        role.cpu_request, role.memory_request_gib = node.cpu_request, node.memory_request_gib
        role.containers = node.containers
        if node.gpus_per_pod:
            role.provenance["gpus"] = Provenance(("spec", "runtimeRef"), note)
    role.instance_type, role.instance_type_candidates = node.instance_type, node.instance_type_candidates
    role.capacity_type, role.gpu_model, role.node_selector = node.capacity_type, node.gpu_model, node.node_selector
    for attr in ("instance_type", "gpu_model", "capacity_type"):
        if attr in node.provenance:
            role.provenance[attr] = Provenance(("spec", "runtimeRef"), note)
    if not (isinstance(trainer, dict) and trainer.get("numNodes") is not None):
        nodes = ((runtime.obj.get("spec") or {}).get("mlPolicy") or {}).get("numNodes")
        if isinstance(nodes, int) and nodes >= 0:
            role.replicas = nodes
            role.provenance["replicas"] = Provenance(("spec", "runtimeRef"), f"mlPolicy.numNodes {nodes} {note}")
    for other in (jobset.roles if jobset else []):  # initializers and any other replicated job run pods too
        if other is not node:
            other.provenance["template"] = Provenance(("spec", "runtimeRef"), f"from {where} {kind} {ref['name']} "
                                                                            f"({runtime.file}:{runtime.line}), "
                                                                            f"replicated job {other.name}")
            workload.roles.append(other)
    workload.provenance["runtime"] = Provenance(("spec", "runtimeRef"), note)


def _override_metadata(workload: Workload) -> None:
    """``spec.podTemplateOverrides[i].metadata`` onto the roles (replicated jobs) each override targets."""
    overrides = (workload.obj.get("spec") or {}).get("podTemplateOverrides")
    overrides = overrides if isinstance(overrides, list) else []
    for role in workload.roles:
        role.labels_path = role.annotations_path = ("spec", "podTemplateOverrides")
        first = True
        for i, override in enumerate(overrides):
            if not isinstance(override, dict):
                continue
            targets = {t.get("name") for t in override.get("targetJobs") or [] if isinstance(t, dict)}
            if role.name not in targets:
                continue
            meta = override.get("metadata")
            if isinstance(meta, dict):
                role.pod_labels.update(string_map(meta.get("labels")))
                role.pod_annotations.update(string_map(meta.get("annotations")))
            if first:
                role.labels_path = ("spec", "podTemplateOverrides", i, "metadata", "labels")
                role.annotations_path = ("spec", "podTemplateOverrides", i, "metadata", "annotations")
                first = False
