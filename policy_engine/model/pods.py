"""A pod spec (or a CRD's pod-like block) → one ``Role``: requests, GPUs per pod, placement, labels.

GPUs per pod follow the scheduler: per resource, max(max over init containers, Σ over containers),
each container's amount being its request or, when it has none, its limit (Kubernetes copies limits to
absent requests; extended resources must have requests == limits). A KAI ``gpu-fraction`` pod
annotation, and failing any GPU resource a Ray ``rayStartParams.num-gpus``, count when no accelerator
resource is requested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from policy_engine.errors import QuantityError
from policy_engine.model import fields
from policy_engine.model.config import ModelConfig
from policy_engine.model.documents import Document, FieldPath
from policy_engine.model.field_errors import field_error
from policy_engine.model.placement import read_placement
from policy_engine.model.quantities import GIB, gpu_fraction, parse_quantity
from policy_engine.model.workload import Container, Provenance, Role

KAI_FRACTION_ANNOTATION = "gpu-fraction"


@dataclass(frozen=True, slots=True)
class ContainerRef:
    """A mapping holding ``resources`` (or ``resources_key``): a container, an Argo script, a trainer."""

    path: FieldPath
    init: bool = False
    resources_key: str = "resources"


@dataclass(frozen=True, slots=True)
class Replicas:
    count: int
    minimum: int | None = None
    maximum: int | None = None
    path: FieldPath | None = None
    note: str = ""


@dataclass(slots=True)
class RoleSource:
    """Where one role's facts sit in the object; kinds.py produces these, ``build_role`` reads them."""

    name: str
    spec_path: FieldPath  # holds nodeSelector / affinity / tolerations (and containers by default)
    meta_path: FieldPath | None  # holds the pod template's labels / annotations
    replicas: Replicas
    containers: tuple[ContainerRef, ...] | None = None  # None: spec_path's containers and initContainers
    ray_num_gpus_path: FieldPath | None = None
    instance_type_override: tuple[str, FieldPath] | None = None  # a CRD's own instance type field
    template_path: FieldPath = ()
    notes: list[str] = field(default_factory=list)
    #: Metadata blocks whose labels/annotations the kind's controller copies onto these pods, lowest
    #: precedence first (``meta_path`` wins over them). A role with no ``meta_path`` and none of these
    #: is assumed to carry the object's own metadata (the controller's propagation, documented).
    inherited_meta: tuple[FieldPath, ...] = ()
    #: Where a label must be added for every pod of the role to carry it (the fix a finding names).
    fix_meta: FieldPath | None = None


def default_containers(doc: Document, spec_path: FieldPath) -> tuple[ContainerRef, ...]:
    refs = [
        ContainerRef((*spec_path, "initContainers", i), init=True)
        for i, _ in enumerate(fields.sequence(doc, (*spec_path, "initContainers")))
    ]
    refs += [
        ContainerRef((*spec_path, "containers", i))
        for i, _ in enumerate(fields.sequence(doc, (*spec_path, "containers")))
    ]
    return tuple(refs)


def build_role(doc: Document, source: RoleSource, config: ModelConfig) -> Role:
    spec = fields.mapping(doc, source.spec_path) or {}
    refs = source.containers if source.containers is not None else default_containers(doc, source.spec_path)
    meta = fields.mapping(doc, source.meta_path) if source.meta_path is not None else None
    inherited = source.inherited_meta or ((("metadata",),) if source.meta_path is None else ())
    role = Role(
        name=source.name,
        replicas=source.replicas.count,
        min_replicas=source.replicas.minimum,
        max_replicas=source.replicas.maximum,
        template_path=source.template_path or source.spec_path,
        spec_path=source.spec_path,
    )
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    for path in inherited:
        block = fields.mapping(doc, path) or {}
        labels.update(fields.string_map(block.get("labels")))
        annotations.update(fields.string_map(block.get("annotations")))
    labels.update(fields.string_map((meta or {}).get("labels")))
    annotations.update(fields.string_map((meta or {}).get("annotations")))
    role.pod_labels = labels
    role.pod_annotations = annotations
    fix = source.fix_meta or source.meta_path or inherited[0]
    role.labels_path = (*fix, "labels")
    role.annotations_path = (*fix, "annotations")
    if source.replicas.path is not None:
        role.provenance["replicas"] = Provenance(source.replicas.path, source.replicas.note)
    elif source.replicas.note:
        role.provenance["replicas"] = Provenance(
            source.template_path or source.spec_path, source.replicas.note
        )

    containers, sums, inits, first_gpu_path = _read_containers(doc, refs, config)
    role.containers = tuple(containers)
    pod: dict[str, Decimal] = dict(sums)
    for name, amount in inits.items():
        if amount > pod.get(name, Decimal(0)):
            pod[name] = amount
    role.cpu_request = float(pod.get("cpu", 0))
    role.memory_request_gib = float(pod.get("memory", 0)) / GIB
    _count_gpus(role, pod, config)
    if role.gpus_per_pod and first_gpu_path is not None:
        role.provenance["gpus"] = Provenance(first_gpu_path, f"{role.gpu_resource}")
    elif not role.gpus_per_pod:
        _fallback_gpus(doc, role, source, meta)

    placement = read_placement(spec, source.spec_path)
    role.instance_type = placement.instance_type
    role.instance_type_candidates = placement.instance_type_candidates
    role.capacity_type = placement.capacity_type
    role.gpu_model = placement.gpu_model
    role.node_selector = placement.node_selector
    role.provenance.update(placement.provenance)
    if source.instance_type_override is not None:
        role.instance_type, path = source.instance_type_override
        role.provenance["instance_type"] = Provenance(path, "the CRD's own instance type")
    return role


def _read_containers(
    doc: Document, refs: tuple[ContainerRef, ...], config: ModelConfig
) -> tuple[list[Container], dict[str, Decimal], dict[str, Decimal], FieldPath | None]:
    containers: list[Container] = []
    sums: dict[str, Decimal] = {}
    inits: dict[str, Decimal] = {}
    first_gpu_path: FieldPath | None = None
    for ref in refs:
        holder = fields.mapping(doc, ref.path) or {}
        res_path = (*ref.path, ref.resources_key)
        resources = fields.mapping(doc, res_path) or {}
        requests = _quantities(doc, (*res_path, "requests"))
        limits = _quantities(doc, (*res_path, "limits"))
        containers.append(
            Container(
                str(holder.get("name") or ""),
                ref.init,
                {k: str(v) for k, v in (resources.get("requests") or {}).items()},
                {k: str(v) for k, v in (resources.get("limits") or {}).items()},
                ref.path,
            )
        )
        target = inits if ref.init else sums
        for name in {**limits, **requests}:
            amount = requests[name] if name in requests else limits[name]
            if ref.init:
                target[name] = max(target.get(name, Decimal(0)), amount)
            else:
                target[name] = target.get(name, Decimal(0)) + amount
            if first_gpu_path is None and amount > 0 and gpu_fraction(name, config) is not None:
                where = "requests" if name in requests else "limits"
                first_gpu_path = (*res_path, where, name)
    return containers, sums, inits, first_gpu_path


def _quantities(doc: Document, path: FieldPath) -> dict[str, Decimal]:
    raw = fields.mapping(doc, path)
    out: dict[str, Decimal] = {}
    for name, value in (raw or {}).items():
        try:
            out[str(name)] = parse_quantity(value)
        except QuantityError as exc:
            hint = fields.placeholder_hint(value)
            code = "E709" if hint else "E704"
            raise field_error(doc, (*path, str(name)), code, str(exc), hint) from None
    return out


def _count_gpus(role: Role, pod: dict[str, Decimal], config: ModelConfig) -> None:
    best = 0.0
    for name, amount in sorted(pod.items()):
        fraction = gpu_fraction(name, config)
        if fraction is None or amount <= 0:
            continue
        role.gpu_resources[name] = float(amount)
        gpus = float(amount) * fraction
        role.gpus_per_pod += gpus
        if gpus > best:
            best, role.gpu_resource = gpus, name


def _fallback_gpus(doc: Document, role: Role, source: RoleSource, meta: dict[str, Any] | None) -> None:
    """KAI's ``gpu-fraction`` annotation, then Ray's ``num-gpus``: GPUs no resource request shows."""
    if KAI_FRACTION_ANNOTATION in role.pod_annotations and source.meta_path is not None:
        path = (*source.meta_path, "annotations", KAI_FRACTION_ANNOTATION)
        fraction = fields.number(doc, path)
        if fraction:
            role.gpus_per_pod = fraction
            role.gpu_resource = "kai.scheduler/gpu-fraction"
            role.gpu_resources[role.gpu_resource] = fraction
            role.provenance["gpus"] = Provenance(path, "KAI scheduler GPU fraction")
            return
    if source.ray_num_gpus_path is not None:
        gpus = fields.number(doc, source.ray_num_gpus_path)
        if gpus:
            role.gpus_per_pod = gpus
            role.gpu_resource = "ray.io/num-gpus"
            role.gpu_resources[role.gpu_resource] = gpus
            role.provenance["gpus"] = Provenance(
                source.ray_num_gpus_path, "Ray num-gpus without a GPU resource request"
            )
