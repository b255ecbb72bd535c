"""The field types of the Kubernetes kinds the engine knows, so ``object.spec.minReplicas`` is typed.

A policy that matches only built-in kinds (``kinds [HorizontalPodAutoscaler]``) reads ``object`` and
``old_object`` through their OpenAPI schema: a misspelt field is E207 with the closest name, and a field's
type takes part in type checking (``object.spec.minReplicas == "3"`` is E201). A kind without a schema
here (a CRD, a kind group, ``workloads``) keeps ``object`` dynamic (``any``).

The schema is a snapshot, ``kube_schema.json`` beside this file, of the official kubernetes Python
client's models (their ``openapi_types`` and ``attribute_map``): loading it takes a millisecond where
importing the client's ~800 model classes takes most of a second. ``python -m
policy_engine.compiler.kube_schema --write`` regenerates it from the installed client;
tests/compiler/test_object_types.py checks that it is in step.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from policy_engine.compiler import types as t

SNAPSHOT = Path(__file__).with_name("kube_schema.json")

#: The built-in kinds whose objects are typed: every version the client has of each is merged.
TYPED_KINDS = (
    "Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob",
    "Namespace", "Service", "ConfigMap", "Secret", "ServiceAccount", "PersistentVolumeClaim", "PersistentVolume",
    "ResourceQuota", "LimitRange", "Node", "HorizontalPodAutoscaler", "PodDisruptionBudget", "PriorityClass",
    "StorageClass", "Ingress", "NetworkPolicy", "PodTemplate",
)

#: Fields holding quantities that YAML may write as numbers (``cpu: 2``) although the schema says string:
#: their values stay dynamic. Maps of quantities (limits, requests, hard, capacity, ...) are the same.
_QUANTITY_FIELDS = frozenset({"sizeLimit", "divisor", "limits", "requests", "hard", "used", "capacity",
                              "allocatable", "min", "max", "default", "defaultRequest", "maxLimitRequestRatio",
                              "overhead", "allocatedResources"})
_SCALARS = {"int": t.NUMBER, "float": t.NUMBER, "str": t.STRING, "bool": t.BOOL}


@dataclass(frozen=True, slots=True)
class Shape:
    """What a raw value can be, as a set of schema type strings (``V1PodSpec``, ``list[V1Container]``,
    ``map[str]``, ``int``, …); several when a policy matches several kinds or versions."""

    types: frozenset[str]
    owner: str  # how the value is named in messages: "HorizontalPodAutoscaler's spec"

    @property
    def language_type(self) -> str:
        """The language's type of the value: a scalar or a map of strings when every alternative agrees."""
        found = {_language_type(s) for s in self.types}
        return found.pop() if len(found) == 1 else t.ANY


def _language_type(schema: str) -> str:
    if schema == "map[str]":
        return t.MAP
    return _SCALARS.get(schema, t.ANY)


@cache
def _snapshot() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SNAPSHOT.read_text())
    return loaded


def kind_shape(kinds: frozenset[str], what: str) -> Shape | None:
    """The shape of ``object`` for a policy matching exactly ``kinds``; None when one has no schema."""
    table = _snapshot()["kinds"]
    if not kinds or any(k not in table for k in kinds):
        return None
    names = "/".join(sorted(kinds))
    return Shape(frozenset(m for k in kinds for m in table[k]), f"{names}'s {what}" if what else names)


#: The kinds whose pod spec is exactly a Kubernetes PodSpec (a CRD's pod-like block may add fields).
POD_KINDS = frozenset({"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController",
                       "Job", "CronJob", "PodTemplate"})


def pod_shapes(kinds: frozenset[str] | None) -> dict[str, Shape]:
    """For a policy matching only built-in pod kinds: the shapes of ``pod_spec``, ``volumes``,
    ``tolerations`` and a container's ``object``; empty otherwise (they stay dynamic)."""
    if not kinds or not kinds <= POD_KINDS:
        return {}
    return {"pod_spec": Shape(frozenset({"V1PodSpec"}), "the pod spec"),
            "volumes": Shape(frozenset({"list[V1Volume]"}), "volumes"),
            "tolerations": Shape(frozenset({"list[V1Toleration]"}), "tolerations"),
            "container": Shape(frozenset({"V1Container", "V1EphemeralContainer"}), "a container")}


def field(shape: Shape, name: str) -> Shape | list[str] | None:
    """The shape of ``value.name``: a Shape, the field names there are (``name`` is none of them), or None
    when the value is dynamic (an IntOrString, a free-form object) and any field may be there."""
    models = _snapshot()["models"]
    found: set[str] = set()
    names: list[str] = []
    for schema in shape.types:
        fields = models.get(schema)
        if fields is None:
            if schema in _SCALARS:
                continue  # a scalar has no fields: only the other alternatives can
            return None
        names.extend(f for f in fields if f not in names)
        if name in fields:
            found.add("object" if name in _QUANTITY_FIELDS and fields[name] in ("str", "map[str]") else fields[name])
    if not found:
        return names
    return Shape(frozenset(found), _owner(shape, name))


def element(shape: Shape, by_key: bool) -> Shape | None:
    """The shape of ``value[i]`` (a list element) or ``value["k"]`` (a map value); None when dynamic."""
    found: set[str] = set()
    for schema in shape.types:
        inner = re.fullmatch(r"(list|map)\[(.*)\]", schema)
        if inner is None or (inner.group(1) == "map") != by_key:
            return None
        found.add(inner.group(2))
    return Shape(frozenset(found), f"{shape.owner}[]") if found else None


def _owner(shape: Shape, name: str) -> str:
    return f"{shape.owner}.{name}" if "'s " in shape.owner else f"{shape.owner}'s {name}"


# ---- generating the snapshot from the installed kubernetes client ----
def _normalise(openapi: str) -> str:
    listed = re.fullmatch(r"(?:List|list)\[(.*)\]", openapi)
    if listed:
        return f"list[{_normalise(listed.group(1))}]"
    mapped = re.fullmatch(r"(?:Dict\[str, (.*)\]|dict\(str, (.*)\))", openapi)
    if mapped:
        return f"map[{_normalise(mapped.group(1) or mapped.group(2))}]"
    return openapi


def generate() -> dict[str, Any]:
    import kubernetes.client.models as client_models  # a dev-time import: ~800 classes

    kinds: dict[str, list[str]] = {}
    exported = getattr(client_models, "_exports", None) or dir(client_models)  # the client loads models lazily
    for kind in TYPED_KINDS:
        found = sorted(name for name in exported if re.fullmatch(rf"V\d+(?:(?:alpha|beta)\d+)?{kind}", name))
        kinds[kind] = [n for n in found if {"kind", "metadata", "api_version"} <= set(
            getattr(client_models, n).openapi_types)]
    models: dict[str, dict[str, str]] = {}
    pending = [m for ms in kinds.values() for m in ms]
    while pending:
        name = pending.pop()
        if name in models:
            continue
        cls = getattr(client_models, name)
        fields = {cls.attribute_map[a]: _normalise(ty) for a, ty in cls.openapi_types.items()}
        models[name] = dict(sorted(fields.items()))
        for ty in fields.values():
            inner = re.sub(r"^(?:(?:list|map)\[)+|\]+$", "", ty)
            if inner.startswith(("V", "Core")):  # a model (V1PodSpec, CoreV1ResourceClaim), not a scalar
                pending.append(inner)
    import kubernetes

    return {"client": kubernetes.__version__, "kinds": kinds, "models": dict(sorted(models.items()))}


def render(snapshot: dict[str, Any]) -> str:
    return json.dumps(snapshot, indent=0, separators=(",", ":")) + "\n"


if __name__ == "__main__":  # pragma: no cover - the maintainer's regeneration step
    if sys.argv[1:] == ["--write"]:
        SNAPSHOT.write_text(render(generate()))
    else:
        sys.stdout.write(render(generate()))
