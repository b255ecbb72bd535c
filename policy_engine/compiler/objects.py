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

import itertools
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import lru_cache
from typing import Any

from policy_engine.model import fields
from policy_engine.model.config import DEFAULT_CONFIG
from policy_engine.model.documents import Document
from policy_engine.model.quantities import gpu_fraction
from policy_engine.model.workload import Container, Role, RunKind, RunTime, Workload
from policy_engine.quantity import Quantity, quantity
from policy_engine.records import record

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
def quantity_of(value: str | int | float) -> Quantity | None:
    """Manifests repeat a few amounts (``500m``, ``1Gi``) over and over: each is parsed once. Typed, so
    ``1`` and ``1.0`` (equal and of one hash) keep their own entries: each is shown as written."""
    return quantity(value)


_AMOUNT_TYPES = frozenset({str, int, float})
_NOTHING_PARSED: dict[str, Decimal] = {}  # read only
_PLAIN_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})  # never accelerators: no lookup


@lru_cache(maxsize=1024)
def is_accelerator(name: str) -> bool:
    """Whether ``name`` is an accelerator resource (its amounts add up in ``requests.gpu``)."""
    return name not in _PLAIN_RESOURCES and gpu_fraction(name, DEFAULT_CONFIG) is not None


def _amount(value: Any, parsed: dict[str, Decimal]) -> Quantity | None:
    """``value`` as a quantity: from the value the workload model parsed (``Role.quantities``) when it did."""
    if type(value) is str:
        found = parsed.get(value)
        if found is not None:
            return Quantity(found, value.strip())
    return quantity_of(value) if type(value) in _AMOUNT_TYPES else None  # not bool: type(True) is bool


def resources(raw: Any, parsed: dict[str, Decimal] = _NOTHING_PARSED) -> dict[str, Any]:
    """``requests`` (or ``limits``) as a record: each resource's quantity (null when it is none), ``cpu`` and
    ``memory`` always, ``ephemeral_storage`` and ``gpu`` (every accelerator resource added up)."""
    if not isinstance(raw, dict) or not raw:
        return _NO_RESOURCES
    out: dict[str, Any] = {"cpu": None, "memory": None}
    gpu: Decimal | None = None
    for name, value in raw.items():
        q = _amount(value, parsed)
        if type(name) is not str:
            name = str(name)
        out[name] = q
        if q is not None and name not in _PLAIN_RESOURCES and is_accelerator(name):
            gpu = q if gpu is None else gpu + q
    out["ephemeral_storage"] = out.get("ephemeral-storage")
    out["gpu"] = gpu
    return out


def resource(raw: dict[str, Any], name: str, parsed: dict[str, Decimal]) -> Any:
    """What ``resources(raw, parsed)[name]`` is, for a mapping whose keys are strings (as the model keeps them),
    without building the record."""
    if name == "gpu":
        gpu: Decimal | None = None
        for key, value in raw.items():
            if is_accelerator(key) and (q := _amount(value, parsed)) is not None:
                gpu = q if gpu is None else gpu + q
        return gpu
    return _amount(raw.get("ephemeral-storage" if name == "ephemeral_storage" else name), parsed)




#: Shared by every container without requests (or limits): read only.
_NO_RESOURCES: dict[str, Any] = {"cpu": None, "memory": None, "ephemeral_storage": None, "gpu": None}


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def container_record(raw: dict[str, Any], type_: str, role: str, amounts: tuple[Any, Any] | None = None,
                     parsed: dict[str, Decimal] = _NOTHING_PARSED) -> dict[str, Any]:
    """A container as a record; ``amounts`` are its (requests, limits) when the workload model read them
    (a CRD's trainer may keep them under another key than ``resources``), ``parsed`` the values of the
    quantity strings it parsed (``Role.quantities``): not parsed again."""
    image = raw.get("image")
    registry: str | None
    repository: str | None
    if isinstance(image, str):
        registry, repository, tag, digest = parse_image(image)
    else:
        image = registry = repository = tag = digest = None
    written = raw.get("resources")
    if amounts is not None:
        requests, limits = resources(amounts[0], parsed), resources(amounts[1], parsed)
    elif isinstance(written, dict):
        requests, limits = resources(written.get("requests")), resources(written.get("limits"))
    else:
        requests = limits = _NO_RESOURCES
    container_ports, host_ports = _ports(raw) if "ports" in raw else ([], [])
    security = raw.get("securityContext")
    pull = raw.get("imagePullPolicy")
    name = raw.get("name")
    out = {
        "name": name if isinstance(name, str) else "", "type": type_, "role": role, "image": image,
        "registry": registry, "repository": repository, "tag": tag, "digest": digest,
        "image_pull_policy": pull if isinstance(pull, str) else None, "requests": requests, "limits": limits,
        "ports": container_ports, "host_ports": host_ports, **_NO_FLAGS, "object": raw,
    }
    if isinstance(security, dict) and security:  # most containers set none: the flags stay null
        for key, field in FLAGS:
            value = security.get(key)
            out[field] = value if isinstance(value, bool) else None
    return out


#: securityContext flags → container fields (null when not set, or not a boolean).
FLAGS = (("privileged", "privileged"), ("allowPrivilegeEscalation", "allow_privilege_escalation"),
          ("runAsNonRoot", "run_as_non_root"), ("readOnlyRootFilesystem", "read_only_root_filesystem"))
_NO_FLAGS: dict[str, Any] = {field: None for _, field in FLAGS}


def _ports(raw: dict[str, Any]) -> tuple[list[int], list[int]]:
    """The container's containerPort and hostPort numbers."""
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
    return container_ports, host_ports


def parsed_quantities(w: Workload) -> dict[str, Decimal]:
    """The quantity strings the workload model parsed reading ``w``'s containers, and their values."""
    if len(w.roles) == 1:
        return w.roles[0].quantities
    parsed: dict[str, Decimal] = {}
    for role in w.roles:
        parsed.update(role.quantities)
    return parsed


def entries(w: Workload) -> Iterator[tuple[dict[str, Any], str, str, tuple[Any, Any] | None, Container | None]]:
    """Each container of each role as (raw mapping, type, role, amounts, the model's container), in order:
    a role's containers as the model read them, then its ephemeral containers."""
    obj = w.doc.obj
    for role in w.roles:
        yield from entries_of(role, ephemeral_containers(obj, role))


def entries_of(role: Role, ephemeral: list[dict[str, Any]]) -> Iterator[
        tuple[dict[str, Any], str, str, tuple[Any, Any] | None, Container | None]]:
    """``entries`` of one role, its ``ephemeral`` containers last."""
    for c in role.containers:
        raw = c.raw if c.raw is not None else _as_written(c)
        yield raw, _type_of(c, raw), role.name, (c.requests, c.limits), c
    for raw in ephemeral:
        yield raw, "ephemeral", role.name, None, None


def _as_written(c: Container) -> dict[str, Any]:
    """A container the model read from elsewhere than a mapping of its own (a CRD's trainer), as a mapping."""
    return {"name": c.name, "resources": {"requests": c.requests, "limits": c.limits}}


def _type_of(c: Container, raw: dict[str, Any]) -> str:
    """app, init, or sidecar (an init container that restarts ``Always``)."""
    if not c.init:
        return "app"
    return "sidecar" if raw.get("restartPolicy") == "Always" else "init"


def ephemeral_containers(obj: Any, role: Role) -> list[dict[str, Any]]:
    """The ephemeral containers of ``role``'s pod spec that are mappings (the model reads none of them)."""
    spec = fields.get(obj, role.spec_path)
    ephemeral = spec.get("ephemeralContainers") if isinstance(spec, dict) else None
    return [raw for raw in ephemeral if isinstance(raw, dict)] if isinstance(ephemeral, list) else []


#: Container fields that every container of one class (``container_classes``) has alike: all but its name,
#: its ports and the container as written.
CLASS_FIELDS = frozenset(CONTAINER_FIELDS) - {"name", "ports", "host_ports", "object"}


@record
class ContainerClasses:
    """A workload's containers grouped by everything but their name, ports and raw object: a pod of
    20,000 containers is mostly a few kinds of container, and a condition that reads only ``CLASS_FIELDS``
    is decided once per class. ``record_of(j)`` is the record of the first container of class ``j``,
    ``members[j]`` the positions (in ``containers`` order) of all of them, ``ids[j]`` the kind of container
    it is across workloads (``container_classes``; -1 for an ephemeral container, a kind of its own)."""

    members: list[list[int]]
    raws: list[dict[str, Any]]  # each container as written, in order (read for names in messages only)
    ids: list[int]
    #: each class's record, or its kind's shared record (its own fields blank) until ``record_of`` asks for it:
    #: a condition decided per kind before needs no record
    firsts: list[dict[str, Any]]
    complete: list[bool]

    def record_of(self, j: int) -> dict[str, Any]:
        """The record of the first container of class ``j``."""
        first = self.firsts[j]
        if not self.complete[j]:
            first = self.firsts[j] = _with_own_fields(first, self.raws[self.members[j][0]])
            self.complete[j] = True
        return first

    @property
    def records(self) -> list[dict[str, Any]]:
        return [self.record_of(j) for j in range(len(self.firsts))]

    def label(self, index: int) -> str:
        """How container ``index`` is named in messages (as ``element_label`` names its record)."""
        name = self.raws[index].get("name")
        return name if type(name) is str and name else f"#{index}"


#: Up to this many containers a workload's containers are not grouped: keying them costs more than deciding
#: a condition once per container (most pods have one to four).
_GROUP_FROM = 4

#: The kinds of container met in any workload so far (a tree of manifests repeats a few hundred): a class key →
#: (its id, never reused; the record of its first container, its own fields blank). Records alike are
#: copied from it rather than parsed again, and a condition over ``CLASS_FIELDS`` only is decided once per id
#: (``container_groups``). Bounded: past ``_KNOWN_AT_MOST`` kinds it starts again.
_known: dict[Any, tuple[int, dict[str, Any]]] = {}
_KNOWN_AT_MOST = 4096
_ids = itertools.count()
_OWN_BLANK: dict[str, Any] = {"name": "", "ports": (), "host_ports": (), "object": None}  # never read


def container_classes(w: Workload) -> ContainerClasses:
    """The containers of ``w`` in classes (see ``ContainerClasses``); each class's record is built once.

    Two containers are in one class when their type, role, image, pull policy, security flags and the
    requests and limits the model read (as strings) are equal: then every ``CLASS_FIELDS`` field is."""
    classes: dict[Any, int] = {}
    firsts: list[dict[str, Any]] = []
    complete: list[bool] = []
    members: list[list[int]] = []
    raws: list[dict[str, Any]] = []
    ids: list[int] = []
    roles = w.roles
    count = 0
    for r in roles:
        count += len(r.containers)
    group = count > _GROUP_FROM  # a few containers: each its own class
    parsed: dict[str, Decimal] | None = None  # read only to build a record
    known = _known
    obj = w.doc.obj
    for r in roles:  # in ``entries_of``'s order: each role's containers, then its ephemeral ones
        role = r.name
        for model in r.containers:
            index = len(raws)
            raw = model.raw
            if raw is None:
                raw = _as_written(model)
            type_ = _type_of(model, raw) if model.init else "app"
            raws.append(raw)
            image = raw.get("image")
            pull = raw.get("imagePullPolicy")
            security = raw.get("securityContext")
            key = (type_, role, image if type(image) is str else None, pull if type(pull) is str else None,
                   tuple(model.requests.items()), tuple(model.limits.items()),
                   _security_key(security) if security else None)
            if group:
                found = classes.get(key)
                if found is not None:
                    members[found].append(index)
                    continue
                classes[key] = len(firsts)
            kind = known.get(key)
            if kind is None:
                if parsed is None:
                    parsed = parsed_quantities(w)
                built = container_record(raw, type_, role, (model.requests, model.limits), parsed)
                if len(known) >= _KNOWN_AT_MOST:
                    known.clear()
                kind = known[key] = (next(_ids), {**built, **_OWN_BLANK})
                firsts.append(built)
                complete.append(True)
            else:
                firsts.append(kind[1])
                complete.append(False)
            members.append([index])
            ids.append(kind[0])
        spec: Any = obj  # the role's pod spec (``fields.get``), its mappings walked here: per role of every workload
        for step in r.spec_path:
            if spec.__class__ is not dict or step.__class__ is not str:
                spec = fields.get(obj, r.spec_path)
                break
            spec = spec.get(step)
        ephemeral = spec.get("ephemeralContainers") if isinstance(spec, dict) else None
        if not ephemeral or not isinstance(ephemeral, list):
            continue
        for raw in ephemeral:  # (rare) as written: each a class of its own
            if isinstance(raw, dict):
                members.append([len(raws)])
                raws.append(raw)
                firsts.append(container_record(raw, "ephemeral", role))
                complete.append(True)
                ids.append(-1)
    return ContainerClasses(members, raws, ids, firsts, complete)


def _with_own_fields(shared: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """``shared`` (read only) with the name, ports and object of the container ``raw``."""
    name = raw.get("name")
    ports, host_ports = _ports(raw) if "ports" in raw else ([], [])
    return {**shared, "name": name if isinstance(name, str) else "", "ports": ports, "host_ports": host_ports,
            "object": raw}


def containers(classes: ContainerClasses) -> list[dict[str, Any]]:
    """Every container of every pod role (app, init, sidecar and ephemeral, in the order written) as a
    record: its class's record with its own name, ports and object (the rest is shared, read only)."""
    out: list[Any] = [None] * len(classes.raws)  # every position is some class's member
    for first, members in zip(classes.records, classes.members, strict=True):
        out[members[0]] = first
        for index in members[1:]:
            out[index] = _with_own_fields(first, classes.raws[index])
    return out


def _security_key(security: Any) -> tuple[bool | None, ...] | None:
    if not isinstance(security, dict):
        return None
    return (_bool(security.get("privileged")), _bool(security.get("allowPrivilegeEscalation")),
            _bool(security.get("runAsNonRoot")), _bool(security.get("readOnlyRootFilesystem")))


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
