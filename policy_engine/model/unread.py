"""GPUs asked for by an object the workload model does not read: never a silent pass.

A kind the model does not know (a ``GPUTrainer`` CRD) whose pods are not at a conventional path is not a
workload, so no policy and no price would see it. ``gpu_requests`` finds where it asks for accelerators
anyway — any ``requests``/``limits`` mapping naming an accelerator resource (``nvidia.com/gpu``,
``amd.com/gpu``, ``google.com/tpu``, MIG slices, any other extended resource with ``gpu`` in its name), and
any DRA device request (``deviceClassName``) whose class names a GPU or TPU — and the engine turns the
first into a built-in finding (``unread-gpu-kind``, warn by default, deny when configured) in CI and at
admission alike. The walk is iterative (no recursion on hostile nesting) and bounded.
"""

from __future__ import annotations

from typing import Any

from policy_engine.model.config import DEFAULT_CONFIG, ModelConfig
from policy_engine.model.documents import Document, FieldPath
from policy_engine.model.dra import is_gpu_device_class
from policy_engine.model.kinds import NOT_WORKLOADS, api_group, is_known
from policy_engine.model.quantities import gpu_fraction
from policy_engine.records import frozen_record

#: Kinds that name accelerators without running anything (quotas, limits, device classes, templates).
#: A ResourceClaimTemplate's devices are counted on the pods that name it (``dra.py``).
NOT_REQUESTS = frozenset({"ResourceQuota", "LimitRange", "Node", "DeviceClass", "ResourceSlice",
                          "ResourceClaimTemplate", "CustomResourceDefinition", "ClusterPolicy", "NodeFeatureRule"})
_MAX_NODES = 200_000


@frozen_record
class GpuRequest:
    """A GPU request found in a kind the model does not read, and where."""

    path: FieldPath
    resource: str  # the resource name, or "DRA device class <name>"
    amount: str


def is_gpu_resource(name: str, config: ModelConfig = DEFAULT_CONFIG) -> bool:
    fraction = gpu_fraction(name, config)
    if fraction is not None:
        return True
    lowered = name.lower()
    return "/" in name and ("gpu" in lowered or "tpu" in lowered) and not lowered.endswith(("gpumem", "gpucores"))


def unread(doc: Document) -> bool:
    """Whether ``doc`` is of a kind the workload model does not read at all (not a template, not a known
    non-workload)."""
    kind = doc.kind
    return kind not in NOT_WORKLOADS and kind not in NOT_REQUESTS and not is_known(api_group(doc.api_version), kind)


def gpu_requests(obj: Any, config: ModelConfig = DEFAULT_CONFIG) -> list[GpuRequest]:
    """Every place under ``obj`` that asks for an accelerator, in document order (at most a few)."""
    if not _asks(obj, config):  # the usual case (a Service, a ConfigMap): walked once, no path built
        return []
    found: list[GpuRequest] = []
    stack: list[tuple[Any, FieldPath]] = [(obj, ())]
    seen = 0
    while stack and seen < _MAX_NODES and len(found) < 8:
        node, path = stack.pop()
        seen += 1
        if isinstance(node, dict):
            found += _asked_at(node, path, config)
            children = [(v, (*path, str(k))) for k, v in node.items() if isinstance(v, dict | list)]
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend(reversed([(v, (*path, i)) for i, v in enumerate(node) if isinstance(v, dict | list)]))
    unique: dict[FieldPath, GpuRequest] = {r.path: r for r in found}
    return list(unique.values())


def _asked_at(node: dict[Any, Any], path: FieldPath, config: ModelConfig) -> list[GpuRequest]:
    """What one mapping (at ``path``) asks for itself: its requests, limits and DRA device class."""
    found: list[GpuRequest] = []
    for key in ("requests", "limits"):
        amounts = node.get(key)
        if isinstance(amounts, dict):
            for name, amount in amounts.items():
                if isinstance(name, str) and is_gpu_resource(name, config) and str(amount) not in ("0", ""):
                    found.append(GpuRequest((*path, key, name), name, str(amount)))
    device_class = node.get("deviceClassName")
    if isinstance(device_class, str) and is_gpu_device_class(device_class):
        count = node.get("count", node.get("allocationMode", 1))
        found.append(GpuRequest((*path, "deviceClassName"), f"DRA device class {device_class}", str(count)))
    return found


def _asks(obj: Any, config: ModelConfig) -> bool:
    """Whether ``gpu_requests`` finds anything: the same walk, in the same order and within the same bound,
    without the path of every mapping and list it passes."""
    stack = [obj]
    seen = 0
    while stack and seen < _MAX_NODES:
        node = stack.pop()
        seen += 1
        if isinstance(node, dict):
            if ("requests" in node or "limits" in node or "deviceClassName" in node) and _asked_at(node, (), config):
                return True
            values: Any = node.values()
        elif isinstance(node, list):
            values = node
        else:
            continue
        start = len(stack)  # the children that hold more pushed last first (popped in document order)
        for value in values:  # (most mappings hold only scalars: labels, annotations, a ConfigMap's data)
            if isinstance(value, _CONTAINERS):
                stack.append(value)
        if len(stack) - start > 1:
            stack[start:] = stack[start:][::-1]
    return False


_CONTAINERS = (dict, list)
