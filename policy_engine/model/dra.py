"""Dynamic Resource Allocation: the GPUs a pod's ``resourceClaims`` ask for through a ResourceClaimTemplate.

A pod (or a pod template) lists ``spec.resourceClaims``; an entry naming ``resourceClaimTemplateName``
(``source.resourceClaimTemplateName`` before Kubernetes 1.31) gets a ResourceClaim of its own made from
that template, so each pod holds the template's devices. The template's requests are
``spec.spec.devices.requests[]``: a ``deviceClassName`` with ``allocationMode``/``count`` directly
(resource.k8s.io/v1beta1), under ``exactly`` (v1beta2, v1), or as prioritised ``firstAvailable``
alternatives (the first is counted: the one the scheduler tries first). A request counts as GPUs when its
device class names a GPU or TPU (``is_gpu_device_class``, the same rule as for kinds the model does not
read); ``ExactCount`` counts ``count`` (default 1); ``All`` (every matching device on the node) counts 1
and says so. An entry naming ``resourceClaimName`` shares an existing claim between pods and is not
counted per pod.
"""

from __future__ import annotations

from typing import Any

from policy_engine.model.documents import Document, FieldPath
from policy_engine.records import frozen_record


def is_gpu_device_class(name: str) -> bool:
    """A DRA device class that hands out GPUs or TPUs (``gpu.nvidia.com``, ``tpu.google.com``…)."""
    lowered = name.lower()
    return "gpu" in lowered or "tpu" in lowered


@frozen_record
class ClaimRef:
    """A pod's ``resourceClaims[i]`` that names a ResourceClaimTemplate."""

    path: FieldPath  # of the entry inside the object
    template: str


@frozen_record
class DeviceRequest:
    """Devices a pod template asks for through dynamic resource allocation: a device class and a count."""

    device_class: str
    count: int
    path: FieldPath  # of the request inside the template
    note: str = ""


def claim_refs(spec: dict[str, Any], spec_path: FieldPath) -> list[ClaimRef]:
    """The ResourceClaimTemplates a pod spec's ``resourceClaims`` name, in order."""
    claims = spec.get("resourceClaims")
    if not isinstance(claims, list):
        return []
    out: list[ClaimRef] = []
    for i, entry in enumerate(claims):
        if not isinstance(entry, dict):
            continue
        source = entry.get("source")
        name = (source if isinstance(source, dict) else entry).get("resourceClaimTemplateName")
        if isinstance(name, str) and name:
            out.append(ClaimRef((*spec_path, "resourceClaims", i), name))
    return out


def gpu_requests(template: Document) -> list[DeviceRequest]:
    """The GPU device requests of a ResourceClaimTemplate (what each pod naming it holds)."""
    base: FieldPath = ("spec", "spec", "devices", "requests")
    spec = template.obj.get("spec")
    inner = spec.get("spec") if isinstance(spec, dict) else None
    devices = inner.get("devices") if isinstance(inner, dict) else None
    requests = devices.get("requests") if isinstance(devices, dict) else None
    out: list[DeviceRequest] = []
    for i, req in enumerate(requests if isinstance(requests, list) else []):
        if not isinstance(req, dict):
            continue
        path: FieldPath = (*base, i)
        if isinstance(req.get("exactly"), dict):
            req, path = req["exactly"], (*path, "exactly")
        elif isinstance(req.get("firstAvailable"), list) and req["firstAvailable"] \
                and isinstance(req["firstAvailable"][0], dict):
            req, path = req["firstAvailable"][0], (*path, "firstAvailable", 0)
        device_class = req.get("deviceClassName")
        if not isinstance(device_class, str) or not is_gpu_device_class(device_class):
            continue
        if req.get("allocationMode") == "All":
            out.append(DeviceRequest(device_class, 1, path, "allocationMode All: every matching device of "
                                                            "the node, counted as 1"))
            continue
        count = req.get("count", 1)
        out.append(DeviceRequest(device_class, count if isinstance(count, int) and count > 0 else 1, path))
    return out
