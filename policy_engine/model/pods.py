"""A pod spec (or a CRD's pod-like block) → one ``Role``: requests, GPUs per pod, placement, labels.

GPUs per pod follow the scheduler's effective request: per resource, max(the init phase, Σ app containers
+ Σ sidecars), where a sidecar is an init container with ``restartPolicy: Always`` that keeps running and
each init container's phase counts it beside the sidecars started before it; each container's amount
being its request or, when it has none, its limit (Kubernetes copies limits to
absent requests; extended resources must have requests == limits). A KAI ``gpu-fraction`` pod
annotation, and failing any GPU resource a Ray ``rayStartParams.num-gpus``, count when no accelerator
resource is requested.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import field
from decimal import Decimal
from typing import Any, NamedTuple

from policy_engine.errors import QuantityError
from policy_engine.model import fields
from policy_engine.model.config import ModelConfig
from policy_engine.model.documents import Document, FieldPath
from policy_engine.model.dra import ClaimRef, claim_refs, gpu_requests
from policy_engine.model.field_errors import field_error
from policy_engine.model.placement import read_placement
from policy_engine.model.quantities import GIB, gpu_fraction, parse_quantity
from policy_engine.model.references import CLAIM_TEMPLATE
from policy_engine.model.references import key as referenced
from policy_engine.model.workload import Container, Provenance, Role
from policy_engine.records import frozen_record, record

KAI_FRACTION_ANNOTATION = "gpu-fraction"


class ContainerRef(NamedTuple):
    """A mapping holding ``resources`` (or ``resources_key``): a container, an Argo script, a trainer.

    A named tuple: immutable, and cheap to build for each of a pod's (up to 20,000) containers."""

    path: FieldPath
    init: bool = False
    resources_key: str = "resources"


@frozen_record
class Replicas:
    """How many pods a role runs (with its autoscaling bounds) and where that was read."""

    count: int
    minimum: int | None = None
    maximum: int | None = None
    path: FieldPath | None = None
    note: str = ""




@record
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
    #: The controller builds these pods' metadata itself and copies only the object's labels (and
    #: annotations) whose keys start with one of these prefixes (KServe's LLMInferenceService: kueue
    #: ones; a KAITO preset: none). ``fixed_labels`` are the ones it sets. ``labels_note`` then says, in a
    #: finding, how a label can reach the pods at all (``Role.labels_note``).
    copied_prefixes: tuple[str, ...] | None = None
    fixed_labels: tuple[tuple[str, str], ...] = ()
    labels_note: str | None = None


def default_containers(doc: Document, spec_path: FieldPath, spec: dict[str, Any] | None = None
                       ) -> tuple[ContainerRef, ...]:
    """A pod spec's init containers, then its containers (a named tuple made without its Python-level
    constructor: a pod may have 20,000 of them); ``spec``: the mapping at ``spec_path``, already read."""
    if spec is not None and "initContainers" not in spec and type(containers := spec.get("containers")) is list:
        base = (*spec_path, "containers")  # (most pods) no init containers, and a list of containers
        return tuple([_ref(ContainerRef, ((*base, i), False, "resources")) for i in range(len(containers))])
    refs: list[ContainerRef] = []
    for key, init in (("initContainers", True), ("containers", False)):
        base = (*spec_path, key)
        count = len(fields.sequence(doc, base, spec))
        refs += [_ref(ContainerRef, ((*base, i), init, "resources")) for i in range(count)]
    return tuple(refs)


_ref = tuple.__new__


def build_role(doc: Document, source: RoleSource, config: ModelConfig) -> Role:
    spec_path = source.spec_path
    spec = fields.mapping(doc, spec_path) or {}
    refs = source.containers if source.containers is not None else default_containers(doc, spec_path, spec)
    meta = fields.mapping(doc, source.meta_path) if source.meta_path is not None else None
    inherited = source.inherited_meta or ((("metadata",),) if source.meta_path is None else ())
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    for path in inherited:
        block = fields.mapping(doc, path) or {}
        labels.update(fields.string_map(block.get("labels")))
        annotations.update(fields.string_map(block.get("annotations")))
    if meta:
        if inherited:
            labels.update(fields.string_map(meta.get("labels")))
            annotations.update(fields.string_map(meta.get("annotations")))
        else:  # (most roles) the template's own metadata alone
            labels = fields.string_map(meta.get("labels"))
            annotations = fields.string_map(meta.get("annotations"))
    labels_note = None
    if source.copied_prefixes is not None:
        prefixes = source.copied_prefixes
        labels = {**{k: v for k, v in labels.items() if prefixes and k.startswith(prefixes)},
                  **dict(source.fixed_labels)}
        annotations = {k: v for k, v in annotations.items() if prefixes and k.startswith(prefixes)}
        labels_note = source.labels_note
    fix = source.fix_meta or source.meta_path or inherited[0]
    labels_path: FieldPath = (*fix, "labels")
    annotations_path: FieldPath = (*fix, "annotations")
    if labels_note:  # no field of the object reaches the pods: the fix names the namespace
        labels_path = annotations_path = source.fix_meta or ("metadata", "namespace")
    replicas = source.replicas
    provenance: dict[str, Provenance] = {}
    if replicas.path is not None:
        provenance["replicas"] = Provenance(replicas.path, replicas.note)
    elif replicas.note:
        provenance["replicas"] = Provenance(source.template_path or spec_path, replicas.note)

    containers, sums, inits, first_gpu_path, quantities, fractions = _read_containers(
        doc, refs, config, {(*spec_path, "containers"): spec.get("containers")})
    pod: dict[str, Decimal] = dict(sums)
    for name, amount in inits.items():
        if amount > pod.get(name, _ZERO):
            pod[name] = amount
    placement = read_placement(spec, spec_path)
    role = Role(source.name, replicas.count, replicas.minimum, replicas.maximum,
                gpu_model=placement.gpu_model, instance_type=placement.instance_type,
                instance_type_candidates=placement.instance_type_candidates, capacity_type=placement.capacity_type,
                cpu_request=float(pod.get("cpu", 0)), memory_request_gib=float(pod.get("memory", 0)) / GIB,
                containers=tuple(containers), pod_labels=labels, pod_annotations=annotations,
                labels_path=labels_path, annotations_path=annotations_path, labels_note=labels_note,
                node_selector=placement.node_selector, template_path=source.template_path or spec_path,
                spec_path=spec_path, provenance=provenance, quantities=quantities)
    if fractions:
        _count_gpus(role, pod, fractions)
        if role.gpus_per_pod and first_gpu_path is not None:
            provenance["gpus"] = Provenance(first_gpu_path, f"{role.gpu_resource}")
    claims = claim_refs(spec, spec_path) if "resourceClaims" in spec else None
    if claims:
        _claimed_gpus(doc, role, claims, config)
    if not role.gpus_per_pod:
        _fallback_gpus(doc, role, source, meta)
    if placement.provenance:
        provenance.update(placement.provenance)
    if source.instance_type_override is not None:
        role.instance_type, path = source.instance_type_override
        provenance["instance_type"] = Provenance(path, "the CRD's own instance type")
    return role


def _read_containers(
    doc: Document, refs: tuple[ContainerRef, ...], config: ModelConfig, parents: dict[FieldPath, Any] | None = None
) -> tuple[list[Container], dict[str, Decimal], dict[str, Decimal], FieldPath | None, dict[str, Decimal],
           dict[str, float]]:
    """Containers, their summed requests, where the first GPU is asked for, the quantity strings parsed
    (with their values) and the GPUs one unit of each accelerator resource asked for is, in time linear in
    the containers (a pod may have 20,000). ``parents``: lists of containers already read, by path.

    A regular container's amounts (its request, or its limit when it has none) are counted per distinct
    (requests, limits) pair, keyed by one flat tuple of their names and values: a pair seen before is
    neither checked nor added up again (its other times are multiplied in at the end), and its container
    shares the first one's mappings; a new one is checked, its new quantity strings parsed (each once per
    workload) and added up at once. When most pairs are new (every container asks for its own amount),
    the rest are checked and added up one by one, unkeyed. Decimal arithmetic, or even a dictionary per
    container, costs more than everything else here. A container keeps the object's own mappings when their
    values are all strings (the usual case) rather than a copy.
    """
    containers: list[Container] = []
    append = containers.append
    #: a regular container's requests and limits (flat) → [how many, their text forms, the mappings]
    counted: dict[tuple[Any, ...], list[Any]] = {}
    inits: dict[str, Decimal] = {}
    sums: dict[str, Decimal] = {}
    sidecars: dict[str, Decimal] = {}  # Σ of the sidecars (init containers with restartPolicy Always) so far
    if parents is None:  # the containers list, read once rather than walked to per container
        parents = {}
    valid: set[str] = set()  # quantity strings already checked ("100m", "16Gi" repeat across containers)
    parsed: dict[str, Decimal] = {}  # ... and their values: each distinct string is parsed once per workload
    counting = len(refs) > 1  # (one container, most pods: nothing to key it against)
    for ref in refs:
        path = ref.path
        raw = None
        if path and type(index := path[-1]) is int:  # _holder, inline: this loop runs once per container
            parent = parents.get(parent_path := path[:-1])
            if parent is None:
                parent = parents[parent_path] = fields.get(doc.obj, parent_path)
            if type(parent) is list and 0 <= index < len(parent) and type(parent[index]) is dict:
                raw = parent[index]
        if raw is None:
            raw = _holder(doc, path, parents)
        holder = raw if raw is not None else _EMPTY
        resources = holder.get(ref.resources_key)
        if resources is None:
            resources = _EMPTY
        elif type(resources) is not dict:
            _child_mapping(doc, resources, (*ref.path, ref.resources_key))
        requests: Any = resources.get("requests")
        limits: Any = resources.get("limits")
        name = holder.get("name")
        if type(name) is not str:
            name = str(name or "")
        if not ref.init:
            if requests is None:
                requests = _EMPTY
            if limits is None:
                limits = _EMPTY
            if counting and type(requests) is dict and type(limits) is dict:
                # one flat tuple, nothing else kept per container (no tuple per item): the number of requests,
                # their names and values, then the limits' names and values, then the type of each (1, 1.0 and
                # true are equal keys, but `true` is no quantity and `1.0` is written so)
                pair = (len(requests), *requests, *requests.values(), *limits, *limits.values())
                pair = (*pair, *map(type, pair))
                try:
                    seen = counted.get(pair)
                except TypeError:  # an unhashable value: checked (and refused) below
                    seen = None
                    pair = ()  # not counted: refused below
                if seen is not None:  # checked and added up before: counted
                    seen[0] += 1
                    append(Container(name, False, seen[1], seen[2], path, raw))
                    continue
                if pair:  # a new pair: checked (its new strings parsed), added up at once
                    requests, requests_text = _quantities(doc, ref, "requests", requests, valid, parsed)
                    limits, limits_text = _quantities(doc, ref, "limits", limits, valid, parsed)
                    append(Container(name, False, requests_text, limits_text, path, raw))
                    counted[pair] = [1, requests_text, limits_text, requests, limits]
                    _add(sums, requests, limits, parsed, 1)
                    if len(counted) > _COUNT_AT_LEAST and 2 * len(counted) > len(containers):
                        counting = False  # most pairs are new: keying them costs more than it saves
                    continue
        # a mapping whose values are all strings already checked in this workload is kept as it is; another
        # is checked (its new strings parsed, once per workload) by _quantities
        try:  # every string checked before? (once pairs are no longer keyed, this runs per container)
            known_requests = type(requests) is dict and valid.issuperset(requests.values())
            known_limits = type(limits) is dict and valid.issuperset(limits.values())
        except TypeError:  # an unhashable value: _quantities says where
            known_requests = known_limits = False
        if known_requests:
            requests_text = requests
        else:
            requests, requests_text = _quantities(doc, ref, "requests", requests, valid, parsed)
        if known_limits:
            limits_text = limits
        else:
            limits, limits_text = _quantities(doc, ref, "limits", limits, valid, parsed)
        append(Container(name, ref.init, requests_text, limits_text, path, raw))
        if ref.init:
            # an init container runs beside the sidecars started before it (KEP-753)
            sidecar = holder.get("restartPolicy") == "Always"
            for resource, value in (requests.items() if not limits else {**limits, **requests}.items()):
                running = _quantity(value) + sidecars.get(resource, Decimal(0))
                if running > inits.get(resource, Decimal(0)):
                    inits[resource] = running
                if sidecar:
                    sidecars[resource] = running
        else:  # no longer counting pairs: added up one by one
            _add(sums, requests, limits, parsed, 1)
    for times, _, _, requests, limits in counted.values():  # the pairs seen again: their other times
        if times > 1:
            _add(sums, requests, limits, parsed, times - 1)
    for resource, amount in sidecars.items():  # sidecars keep running beside the app containers
        sums[resource] = sums.get(resource, Decimal(0)) + amount
    fractions: dict[str, float] = {}  # the accelerator resources asked for, in the order of sums then inits
    for names in (sums, inits):
        for resource in names:
            if type(resource) is not str:  # `1: 2` in YAML: every name is in a sum
                raise _unnamed_resource(doc, refs, containers)
            fraction = gpu_fraction(resource, config)
            if fraction is not None:
                fractions[resource] = fraction
    first_gpu = _first_gpu_path(refs, containers, fractions.keys()) if fractions else None
    return containers, sums, inits, first_gpu, parsed, fractions


def _unnamed_resource(doc: Document, refs: tuple[ContainerRef, ...], containers: list[Container]) -> Exception:
    """The located error for the first resource whose name is not a string (``1: 2`` in YAML)."""
    for ref, c in zip(refs, containers, strict=True):
        for which, mapping in (("requests", c.requests), ("limits", c.limits)):
            for name in mapping:
                if type(name) is not str:
                    path = (*ref.path, ref.resources_key, which)
                    return field_error(doc, path, "E701", f"a resource name must be a string, found {name!r}")
    raise AssertionError("no resource without a string name")


def _add(sums: dict[str, Decimal], requests: dict[str, Any], limits: dict[str, Any], parsed: dict[str, Decimal],
         times: int) -> None:
    """Add ``times`` a regular container's amounts (each request, or its limit when it has none) to ``sums``."""
    for resource, value in (requests.items() if not limits or limits.keys() <= requests.keys()
                            else {**limits, **requests}.items()):
        amount = parsed.get(value) if type(value) is str else None
        if amount is None:
            amount = _quantity(value)
        sums[resource] = sums.get(resource, _ZERO) + (amount * times if times != 1 else amount)


_ZERO = Decimal(0)
#: Pairs are keyed until more than this many are new and they are more than half the containers so far.
_COUNT_AT_LEAST = 64


_EMPTY: dict[str, Any] = {}  # read only: the requests (or limits) of a container that sets none


def _first_gpu_path(refs: tuple[ContainerRef, ...], containers: list[Container], gpu_names: Collection[str]
                    ) -> FieldPath | None:
    """Where the first container asking for a GPU (a positive amount of an accelerator resource) asks (each
    container keeps the mapping its ref names: ``raw``)."""
    for ref, container in zip(refs, containers, strict=True):
        resources = (container.raw or _EMPTY).get(ref.resources_key) or _EMPTY
        requests = resources.get("requests") or _EMPTY
        limits = resources.get("limits") or _EMPTY
        for resource, value in (requests.items() if not limits else {**limits, **requests}.items()):
            if resource in gpu_names and _quantity(value) > 0:
                return (*ref.path, ref.resources_key, "requests" if resource in requests else "limits", resource)
    return None


def _holder(doc: Document, path: FieldPath, parents: dict[FieldPath, Any]) -> dict[str, Any] | None:
    """The mapping at ``path`` (None when absent), its parent list looked up once per list."""
    if path and type(path[-1]) is int:
        parent_path = path[:-1]
        parent = parents.get(parent_path)
        if parent is None:
            parent = parents[parent_path] = fields.get(doc.obj, parent_path)
        index = path[-1]
        if type(parent) is list and 0 <= index < len(parent) and type(parent[index]) is dict:
            found: dict[str, Any] = parent[index]
            return found
    return fields.mapping(doc, path)  # absent, or the wrong shape: its own located error


def _child_mapping(doc: Document, value: Any, path: FieldPath) -> dict[str, Any] | None:
    """``value`` (found at ``path``) as a mapping, as ``fields.mapping`` reads it, without walking from the root."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise field_error(doc, path, "E701", f"expected a mapping, found {type(value).__name__}")
    return value


@functools.lru_cache(maxsize=4096)
def _quantity_text(value: str | int) -> Decimal:
    return parse_quantity(value)  # quantities repeat across containers ("1", "500m", "16Gi", 1)


def _quantity(value: Any) -> Decimal:
    return _quantity_text(value) if type(value) in (str, int) else parse_quantity(value)


def _quantities(doc: Document, ref: ContainerRef, which: str, raw: Any, valid: set[str],
                parsed: dict[str, Decimal]) -> tuple[dict[str, Any], dict[str, str]]:
    """``raw`` (``resources.<which>``) checked as ``_checked_quantities`` does, and its values as strings.

    A string value seen valid before in the workload is not parsed again; when every value is a string
    (the usual case) the string form is the mapping itself (read only, like the object).
    """
    if raw is None:
        return _EMPTY, _EMPTY
    mapping = raw if type(raw) is dict else _child_mapping(doc, raw, (*ref.path, ref.resources_key, which)) or {}
    plain = True
    for value in mapping.values():
        if type(value) is str:
            if value not in valid:  # a new string: parsed once, here (the values before it are valid)
                try:
                    parsed[value] = _quantity_text(value)
                except QuantityError:
                    _checked_quantities(doc, ref, which, mapping, parsed)  # the first bad value, located
                    raise
                valid.add(value)
        else:  # a number (`nvidia.com/gpu: 1`): checked here, the values before it being valid
            plain = False
            try:
                _quantity(value)
            except (QuantityError, TypeError):
                _checked_quantities(doc, ref, which, mapping, parsed)  # located
                raise
    if plain:
        return mapping, mapping
    return mapping, {k: str(v) for k, v in mapping.items()}


def _checked_quantities(doc: Document, ref: ContainerRef, which: str, raw: Any,
                        parsed: dict[str, Decimal] | None = None) -> dict[str, Any]:
    """``raw`` (``resources.<which>``), every value a valid quantity, else a located error; the values of
    its strings are kept in ``parsed``."""
    mapping = raw if type(raw) is dict else _child_mapping(doc, raw, (*ref.path, ref.resources_key, which)) or {}
    for name, value in mapping.items():
        try:
            amount = _quantity(value)
            if parsed is not None and type(value) is str:
                parsed[value] = amount
        except (QuantityError, TypeError) as exc:
            path = (*ref.path, ref.resources_key, which)
            hint = fields.placeholder_hint(value)
            code = "E709" if hint else "E704"
            message = str(exc) if isinstance(exc, QuantityError) else f"{value!r} is not a quantity"
            raise field_error(doc, (*path, str(name)), code, message, hint) from None
    return mapping


def _count_gpus(role: Role, pod: dict[str, Decimal], fractions: dict[str, float]) -> None:
    """The role's GPUs per pod from its effective requests (``pod``) of the accelerator resources (``fractions``:
    the GPUs one unit of each is), and the resource it holds most GPUs of (the first by name on a tie)."""
    best = 0.0
    for name in sorted(fractions):
        amount = pod[name]
        fraction = fractions[name]
        if amount <= 0:
            continue
        role.gpu_resources[name] = float(amount)
        gpus = float(amount) * fraction
        role.gpus_per_pod += gpus
        if gpus > best:
            best, role.gpu_resource = gpus, name


def _claimed_gpus(doc: Document, role: Role, claims: list[ClaimRef], config: ModelConfig) -> None:
    """Each claim made from a ResourceClaimTemplate of the scanned set adds the template's GPU devices."""
    role.claim_templates = tuple(c.template for c in claims)
    meta = doc.obj.get("metadata")
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    for claim in claims:
        template = config.references.get(referenced(CLAIM_TEMPLATE, claim.template, namespace))
        if template is None:
            role.provenance.setdefault("claims_unresolved", Provenance(
                claim.path, f"ResourceClaimTemplate {claim.template} is not in the scanned set: the devices it "
                            f"asks for are unknown"))
            continue
        for req in gpu_requests(template):
            role.gpu_resources[req.device_class] = role.gpu_resources.get(req.device_class, 0.0) + req.count
            role.gpus_per_pod += req.count
            role.gpu_resource = role.gpu_resource or req.device_class
            role.provenance.setdefault("gpus", Provenance(claim.path, (
                f"ResourceClaimTemplate {claim.template} ({template.file}:{template.line}): {req.count} x device "
                f"class {req.device_class}" + (f"; {req.note}" if req.note else ""))))


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
