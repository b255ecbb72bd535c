"""Typed values read from a workload's pod specs, whatever the kind: containers, volumes, tolerations.

A container is a record (a ``dict`` with fixed keys, so raw-path closures read it like any mapping): its
name, its type (``app``, ``init``, ``sidecar`` — an init container with ``restartPolicy: Always`` —, or
``ephemeral``), its image and that image's parsed parts, requests and limits per resource as exact
quantities, pull policy, ports and the security-context fields that change what a pod costs or where it
may run. The records of a workload are built once and shared by every policy that reads them.

Kinds that are not workloads (Namespace, Service, HorizontalPodAutoscaler, …) are evaluated as bare
objects: no pod roles, their labels and annotations, ``object`` for everything else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from policy_engine.model import fields
from policy_engine.model.config import DEFAULT_CONFIG
from policy_engine.model.documents import Document
from policy_engine.model.quantities import gpu_fraction
from policy_engine.model.workload import Role, RunKind, RunTime, Workload
from policy_engine.quantity import Quantity, quantity

#: Fields of a container record: name → (type, meaning). The checker types ``c.<field>`` from this table.
CONTAINER_FIELDS: dict[str, tuple[str, str]] = {
    "name": ("string", "the container's name"),
    "type": ("string", "app, init, sidecar (an init container with restartPolicy Always) or ephemeral"),
    "role": ("string", "the pod role it belongs to (worker, head, pod, ...)"),
    "image": ("string", "the image reference as written"),
    "registry": ("string", "the image's registry (docker.io when none is written)"),
    "repository": ("string", "the image's repository, without registry, tag or digest"),
    "tag": ("string", "the image's tag; null when none is written"),
    "digest": ("string", "the image's digest (sha256:...); null when not pinned by digest"),
    "image_pull_policy": ("string", "imagePullPolicy as written; null when not set"),
    "requests": ("resources", "resource requests"),
    "limits": ("resources", "resource limits"),
    "ports": ("list[number]", "containerPort of each port"),
    "host_ports": ("list[number]", "hostPort of each port that sets one"),
    "privileged": ("bool", "securityContext.privileged (null when not set)"),
    "allow_privilege_escalation": ("bool", "securityContext.allowPrivilegeEscalation (null when not set)"),
    "run_as_non_root": ("bool", "securityContext.runAsNonRoot (null when not set)"),
    "read_only_root_filesystem": ("bool", "securityContext.readOnlyRootFilesystem (null when not set)"),
    "object": ("any", "the container as written"),
}

#: Fields of a requests/limits record; any other resource is read by name: ``c.limits["nvidia.com/gpu"]``.
RESOURCE_FIELDS: dict[str, tuple[str, str]] = {
    "cpu": ("cpu", "CPU cores"),
    "memory": ("memory", "memory, bytes"),
    "ephemeral_storage": ("memory", "ephemeral-storage, bytes"),
    "gpu": ("quantity", "every accelerator resource (nvidia.com/gpu, MIG slices, ...) added up"),
}
#: The quantity type of a resource read by its Kubernetes name.
RESOURCE_TYPES = {"cpu": "cpu", "memory": "memory", "ephemeral-storage": "memory", "hugepages-2Mi": "memory",
                  "hugepages-1Gi": "memory"}

_DIGEST = re.compile(r"@([A-Za-z0-9_+.-]+:[A-Fa-f0-9]+)$")


@lru_cache(maxsize=4096)
def parse_image(ref: str) -> tuple[str, str, str | None, str | None]:
    """An image reference → (registry, repository, tag, digest), the way the container runtime reads it."""
    digest = None
    found = _DIGEST.search(ref)
    if found:
        digest, ref = found.group(1), ref[: found.start()]
    tag = None
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        ref, tag = ref[:colon], ref[colon + 1:]
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest, tag, digest
    return "docker.io", ref, tag, digest


@lru_cache(maxsize=4096, typed=True)
def _quantity(value: str | int | float) -> Quantity | None:
    """Manifests repeat a few amounts (``500m``, ``1Gi``) over and over: each is parsed once. Typed, so
    ``1`` and ``1.0`` (equal and of one hash) keep their own entries: each is shown as written."""
    return quantity(value)


@lru_cache(maxsize=1024)
def _is_accelerator(name: str) -> bool:
    return gpu_fraction(name, DEFAULT_CONFIG) is not None


def _resources(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not raw:
        return _NO_RESOURCES
    out: dict[str, Any] = {"cpu": None, "memory": None}
    gpu: Decimal | None = None
    for name, value in raw.items():
        q = _quantity(value) if type(value) in _AMOUNT_TYPES else None  # not bool: type(True) is bool
        if type(name) is not str:
            name = str(name)
        out[name] = q
        if q is not None and name not in _PLAIN_RESOURCES and _is_accelerator(name):
            gpu = q if gpu is None else gpu + q
    out["ephemeral_storage"] = out.get("ephemeral-storage")
    out["gpu"] = gpu
    return out


_AMOUNT_TYPES = frozenset({str, int, float})
_PLAIN_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})  # never accelerators: no lookup


#: Shared by every container without requests (or limits): read only.
_NO_RESOURCES: dict[str, Any] = {"cpu": None, "memory": None, "ephemeral_storage": None, "gpu": None}
_NO_SECURITY: dict[str, Any] = {}


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def container_record(raw: dict[str, Any], type_: str, role: str,
                     amounts: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """A container as a record; ``amounts`` are its (requests, limits) when the workload model read them
    (a CRD's trainer may keep them under another key than ``resources``)."""
    image = raw.get("image")
    registry: str | None
    repository: str | None
    if isinstance(image, str):
        registry, repository, tag, digest = parse_image(image)
    else:
        image = registry = repository = tag = digest = None
    resources = raw.get("resources")
    if amounts is not None:
        requests, limits = _resources(amounts[0]), _resources(amounts[1])
    elif isinstance(resources, dict):
        requests, limits = _resources(resources.get("requests")), _resources(resources.get("limits"))
    else:
        requests = limits = _NO_RESOURCES
    ports = raw.get("ports")
    container_ports: list[int] = []
    host_ports: list[int] = []
    if isinstance(ports, list):
        for p in ports:
            if isinstance(p, dict):
                if isinstance(p.get("containerPort"), int):
                    container_ports.append(p["containerPort"])
                if isinstance(p.get("hostPort"), int):
                    host_ports.append(p["hostPort"])
    security = raw.get("securityContext")
    security = security if isinstance(security, dict) else _NO_SECURITY
    pull = raw.get("imagePullPolicy")
    name = raw.get("name")
    return {
        "name": name if isinstance(name, str) else "", "type": type_, "role": role, "image": image,
        "registry": registry, "repository": repository, "tag": tag, "digest": digest,
        "image_pull_policy": pull if isinstance(pull, str) else None, "requests": requests, "limits": limits,
        "ports": container_ports, "host_ports": host_ports,
        "privileged": _bool(security.get("privileged")),
        "allow_privilege_escalation": _bool(security.get("allowPrivilegeEscalation")),
        "run_as_non_root": _bool(security.get("runAsNonRoot")),
        "read_only_root_filesystem": _bool(security.get("readOnlyRootFilesystem")),
        "object": raw,
    }


def _role_containers(obj: Any, role: Role) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    spec = fields.get(obj, role.spec_path)
    # the containers lists, read once from the pod spec rather than walked to from the root per container
    parents: dict[Any, Any] = {}
    if isinstance(spec, dict):
        for key in ("containers", "initContainers"):
            parents[(*role.spec_path, key)] = spec.get(key)
    for c in role.containers:
        raw = _at(obj, c.path, parents) if c.path else None
        if not isinstance(raw, dict):
            raw = {"name": c.name, "resources": {"requests": c.requests, "limits": c.limits}}
        type_ = "app"
        if c.init:
            type_ = "sidecar" if raw.get("restartPolicy") == "Always" else "init"
        out.append(container_record(raw, type_, role.name, (c.requests, c.limits)))
    ephemeral = spec.get("ephemeralContainers") if isinstance(spec, dict) else None
    for raw in ephemeral if isinstance(ephemeral, list) else ():
        if isinstance(raw, dict):
            out.append(container_record(raw, "ephemeral", role.name))
    return out


def _at(obj: Any, path: tuple[Any, ...], parents: dict[Any, Any]) -> Any:
    """``fields.get(obj, path)``, the parent list of an indexed path looked up once per list."""
    index = path[-1]
    if type(index) is not int:
        return fields.get(obj, path)
    parent_path = path[:-1]
    parent = parents.get(parent_path)
    if parent is None:
        parent = parents[parent_path] = fields.get(obj, parent_path)
    return parent[index] if type(parent) is list and 0 <= index < len(parent) else None


def containers(w: Workload) -> list[dict[str, Any]]:
    """Every container of every pod role: app, init, sidecar and ephemeral, in the order written."""
    obj = w.doc.obj
    return [c for role in w.roles for c in _role_containers(obj, role)]


def _spec_list(key: str) -> Callable[[Workload], list[Any]]:
    def read(w: Workload) -> list[Any]:
        out: list[Any] = []
        for role in w.roles:
            value = fields.get(w.doc.obj, (*role.spec_path, key))
            if isinstance(value, list):
                out.extend(value)
        return out

    return read


volumes = _spec_list("volumes")
tolerations = _spec_list("tolerations")


def pod_spec(w: Workload) -> Any:
    """The pod spec of the first role (a Deployment's spec.template.spec, a Pod's spec, ...); null if none."""
    return fields.get(w.doc.obj, w.roles[0].spec_path) if w.roles else None


def pod_annotations(w: Workload) -> dict[str, str]:
    """Annotations every role's pod template carries with the same value."""
    if not w.roles:
        return {}
    first, *rest = (r.pod_annotations for r in w.roles)
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in rest)}


#: Kinds that are not workloads but that policies can match by name (any other kind is written as a string).
OBJECT_KINDS: dict[str, str] = {
    "Namespace": "v1", "Service": "v1", "ConfigMap": "v1", "Secret": "v1", "ServiceAccount": "v1",
    "PersistentVolumeClaim": "v1", "PersistentVolume": "v1", "ResourceQuota": "v1", "LimitRange": "v1",
    "Node": "v1", "HorizontalPodAutoscaler": "autoscaling/v2", "VerticalPodAutoscaler": "autoscaling.k8s.io/v1",
    "PodDisruptionBudget": "policy/v1", "PriorityClass": "scheduling.k8s.io/v1",
    "StorageClass": "storage.k8s.io/v1", "Ingress": "networking.k8s.io/v1",
    "NetworkPolicy": "networking.k8s.io/v1", "ScaledObject": "keda.sh/v1alpha1",
    "PodTemplate": "v1", "ServingRuntime": "serving.kserve.io/v1alpha1",
    "ClusterServingRuntime": "serving.kserve.io/v1alpha1",
}

_NOT_A_WORKLOAD = RunTime(RunKind.CONTINUOUS, None, 1.0, "not a workload: no pods")


def bare_object(doc: Document) -> Workload:
    """A document that runs no pods, as a value policies can read: metadata, labels, ``object``."""
    meta = _mapping(doc.obj.get("metadata"))
    labels = _strings(meta.get("labels"))
    annotations = _strings(meta.get("annotations"))
    return Workload(kind=doc.kind, api_version=doc.api_version, name=str(meta.get("name") or ""),
                    namespace=str(meta["namespace"]) if meta.get("namespace") else None, doc=doc, roles=[],
                    labels=labels, annotations=annotations, object_labels=labels, pod_labels={},
                    run_time=_NOT_A_WORKLOAD)


def is_bare_object(w: Workload) -> bool:
    return w.run_time is _NOT_A_WORKLOAD


def _strings(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
