"""Where a pod will land, read from its nodeSelector, REQUIRED node affinity and tolerations.

Rules (docs/workloads.md restates them):
- a nodeSelector entry pins its label to one value;
- a required node-affinity ``In`` pins a label when every ``nodeSelectorTerm`` (they are ORed) has an
  ``In`` for it: one value overall pins it, several are candidates; ``Exists``, ``NotIn``, ``Gt``… pin
  nothing; preferred affinity pins nothing;
- a toleration of a spot taint alone means "may run on spot", not "is spot": capacity stays unknown and
  the toleration is recorded as provenance ``spot_toleration``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import Any, TypeVar

from policy_engine.model.documents import FieldPath
from policy_engine.model.gpu_models import normalise_gpu_model
from policy_engine.model.workload import CapacityType, Provenance
from policy_engine.records import record

INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
GPU_MODEL_LABELS = (
    "nvidia.com/gpu.product",
    "karpenter.k8s.aws/instance-gpu-name",
    "cloud.google.com/gke-accelerator",
    "cloud.google.com/gke-tpu-accelerator",
)
_SPOT_VALUES: dict[str, dict[str, CapacityType]] = {
    "karpenter.sh/capacity-type": {
        "spot": CapacityType.SPOT,
        "on-demand": CapacityType.ON_DEMAND,
        "reserved": CapacityType.ON_DEMAND,
    },
    "eks.amazonaws.com/capacityType": {"SPOT": CapacityType.SPOT, "ON_DEMAND": CapacityType.ON_DEMAND},
    "cloud.google.com/gke-spot": {"true": CapacityType.SPOT, "false": CapacityType.ON_DEMAND},
    "cloud.google.com/gke-preemptible": {"true": CapacityType.SPOT, "false": CapacityType.ON_DEMAND},
    "kubernetes.azure.com/scalesetpriority": {"spot": CapacityType.SPOT, "regular": CapacityType.ON_DEMAND},
}
CAPACITY_LABELS = tuple(_SPOT_VALUES)
T = TypeVar("T")
SPOT_TAINTS = {
    "cloud.google.com/gke-spot": "true",
    "cloud.google.com/gke-preemptible": "true",
    "kubernetes.azure.com/scalesetpriority": "spot",
    "karpenter.sh/capacity-type": "spot",
    "eks.amazonaws.com/capacityType": "SPOT",
}


@record
class Placement:
    """Where a pod spec lets its pods run: the instance type, capacity type and GPU model it pins."""

    instance_type: str | None = None
    instance_type_candidates: tuple[str, ...] = ()
    capacity_type: CapacityType = CapacityType.UNKNOWN
    gpu_model: str | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, Provenance] = field(default_factory=dict)


#: The values one node label is pinned to, and where (a plain tuple: a pod spec may pin several labels, and
#: a tuple costs a fraction of a record to build).
_Pin = tuple[tuple[str, ...], FieldPath]


def read_placement(spec: dict[str, Any], spec_path: FieldPath) -> Placement:
    """Placement facts of one pod spec (or any mapping holding nodeSelector/affinity/tolerations)."""
    pins = _affinity_pins(spec, spec_path) if "affinity" in spec else {}
    selector = spec.get("nodeSelector")
    if isinstance(selector, dict):
        for key, value in selector.items():
            name = key if type(key) is str else str(key)
            pins[name] = ((value if type(value) is str else str(value),), (*spec_path, "nodeSelector", name))
    if not pins:  # nothing pins the pod: nothing else to read but a spot toleration
        placement = Placement()
        toleration = _spot_toleration(spec, spec_path) if "tolerations" in spec else None
        if toleration is not None:
            placement.provenance["spot_toleration"] = toleration
        return placement
    placement = Placement(node_selector={k: values[0] for k, (values, _) in pins.items() if len(values) == 1})
    for label in INSTANCE_TYPE_LABELS:
        pin = pins.get(label)
        if pin is None:
            continue
        values, path = pin
        if len(values) == 1:
            placement.instance_type = values[0]
        else:
            placement.instance_type_candidates = values
        placement.provenance["instance_type"] = Provenance(path, f"from {label}")
        break

    capacity = _agreed(pins, CAPACITY_LABELS, _capacity)
    if capacity is not None:
        placement.capacity_type, placement.provenance["capacity_type"] = capacity
    model = _agreed(pins, GPU_MODEL_LABELS, _gpu_model)
    if model is not None:
        placement.gpu_model, placement.provenance["gpu_model"] = model

    if placement.capacity_type is CapacityType.UNKNOWN and "tolerations" in spec:  # (else it says nothing more)
        toleration = _spot_toleration(spec, spec_path)
        if toleration is not None:
            placement.provenance["spot_toleration"] = toleration
    return placement


def _capacity(label: str, value: str) -> CapacityType | None:
    return _SPOT_VALUES[label].get(value)


def _gpu_model(_: str, value: str) -> str | None:
    return normalise_gpu_model(value)


def _agreed(
    pins: dict[str, _Pin], labels: tuple[str, ...], read: Callable[[str, str], T | None]
) -> tuple[T, Provenance] | None:
    """The value of the first label whose pinned values all read as one known value."""
    for label in labels:
        pin = pins.get(label)
        if pin is None:
            continue
        values, path = pin
        if len(values) == 1:  # (the usual case) one value: agreed when it reads as a known one
            value = read(label, values[0])
            if value is not None:
                return value, Provenance(path, f"from {label}={values[0]}")
            continue
        read_as = {read(label, v) for v in values}
        if len(read_as) == 1 and None not in read_as:
            value = read_as.pop()
            assert value is not None
            return value, Provenance(path, f"from {label}={','.join(values)}")
    return None


def _affinity_pins(spec: dict[str, Any], spec_path: FieldPath) -> dict[str, _Pin]:
    path: FieldPath = (
        *spec_path,
        "affinity",
        "nodeAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
        "nodeSelectorTerms",
    )
    node: Any = spec
    for key in path[len(spec_path) :]:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, list) or not node:
        return {}
    per_term: list[dict[str, _Pin]] = []
    for t, term in enumerate(node):
        found: dict[str, _Pin] = {}
        expressions = term.get("matchExpressions") if isinstance(term, dict) else None
        for e, expr in enumerate(expressions if isinstance(expressions, list) else []):
            if not isinstance(expr, dict) or expr.get("operator") != "In":
                continue
            values = expr.get("values")
            if isinstance(values, list) and values and isinstance(expr.get("key"), str):
                found[expr["key"]] = (tuple(str(v) for v in values), (*path, t, "matchExpressions", e, "values"))
        per_term.append(found)
    pins: dict[str, _Pin] = {}
    for key in per_term[0]:
        if all(key in found for found in per_term):
            values = tuple(dict.fromkeys(v for found in per_term for v in found[key][0]))
            pins[key] = (values, per_term[0][key][1])
    return pins


def _spot_toleration(spec: dict[str, Any], spec_path: FieldPath) -> Provenance | None:
    tolerations = spec.get("tolerations")
    if not isinstance(tolerations, list):
        return None
    for i, tol in enumerate(tolerations):
        if not isinstance(tol, dict):
            continue
        key = tol.get("key")
        if key in SPOT_TAINTS and (
            tol.get("operator") == "Exists" or str(tol.get("value")) == SPOT_TAINTS[key]
        ):
            return Provenance(
                (*spec_path, "tolerations", i), f"tolerates {key}: may run on spot, not pinned to it"
            )
    return None
