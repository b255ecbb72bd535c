"""Where the value of an attribute came from, in the manifest: the field path, a note, and its line.

The workload model records ``Provenance`` for what it derives (GPUs, instance type, capacity type, GPU
model, run time, idle timeout); for plain metadata (labels, names) the field path is known from the
attribute itself. ``explain`` prints these next to every value a clause read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policy_engine.compiler.attributes import ATTRIBUTES, deciding_roles
from policy_engine.compiler.messages import render_value
from policy_engine.model.documents import FieldPath
from policy_engine.model.workload import Provenance, Workload


@dataclass(frozen=True, slots=True)
class Fact:
    """One value a clause read: ``name = value (source)``."""

    name: str
    value: str
    source: str | None = None

    def describe(self) -> str:
        return f"{self.name} = {self.value}" + (f" ({self.source})" if self.source else "")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "source": self.source}


def _dotted(path: FieldPath) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        elif "." in p or "/" in p:
            out += f'["{p}"]'
        else:
            out += ("." if out else "") + p
    return out


def at(w: Workload, path: FieldPath, note: str = "") -> str:
    """``spec.replicas, line 12`` for a path of the workload's manifest."""
    dotted = _dotted(path)
    where = dotted + (f" {note}" if note and note not in dotted else "")
    return f"{where}, line {w.doc.line_of(path)}" if w.doc.node is not None else where


def _prov(w: Workload, prov: Provenance | None) -> str | None:
    return at(w, prov.path, prov.note) if prov is not None else None


def _role_sources(w: Workload, key: str) -> str | None:
    roles = deciding_roles(w) if key != "replicas" else w.roles
    seen: list[str] = []
    for role in roles:
        prov = role.provenance.get(key)
        if prov is not None:
            text = _prov(w, prov)
            label = f"{role.name}: {text}" if len(roles) > 1 else text
            if label and label not in seen:
                seen.append(label)
    return "; ".join(seen) or None


def _gpu_arithmetic(w: Workload) -> str:
    """``gpus`` is Σ replicas × GPUs per pod: each GPU role's factors and where each was read."""
    parts = []
    for role in w.roles:
        if role.gpus_per_pod <= 0:
            continue
        where = [_prov(w, role.provenance.get(k)) for k in ("replicas", "gpus")]
        shown = "; ".join(x for x in where if x)
        parts.append(f"{role.name}: {role.replicas} × {render_value(role.gpus_per_pod)}"
                     + (f" from {shown}" if shown else ""))
    return " + ".join(parts) or "no GPU requested"


def _keyed(w: Workload, attr: str, key: str) -> str | None:
    """Where ``labels["key"]`` (or annotations) was found. ``labels`` are what every pod carries, so they
    are traced to the role's labels path (a pod template, or the object's metadata where the controller
    copies it); ``object_labels`` to the object's own metadata."""
    plural = "annotations" if "annotation" in attr else "labels"
    if attr == "object_labels":
        if key in w.object_labels:
            return at(w, ("metadata", plural, key))
        return f"not set in metadata.{plural}"
    lacking: list[str] = []
    found: str | None = None
    for role in w.roles:
        values = role.pod_labels if plural == "labels" else role.pod_annotations
        path = role.labels_path if plural == "labels" else role.annotations_path
        where = ".".join(str(p) for p in path)
        if key in values:
            found = found or at(w, (*path, key), "(what the pods carry)" if path[0] != "metadata" else "")
        elif where not in lacking:
            lacking.append(where)
    if found and not lacking:
        return found
    if found:
        return f"{found}; not set in {' and '.join(lacking)}"
    return f"not set in {' and '.join(lacking) or f'metadata.{plural}'}"


def _object_annotations(w: Workload) -> dict[str, str]:
    meta = w.obj.get("metadata")
    raw = meta.get("annotations") if isinstance(meta, dict) else None
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def attribute_source(w: Workload, name: str) -> str | None:
    """Where attribute ``name`` of ``w`` came from, in words; None when nothing more can be said."""
    if name == "gpus":
        return _gpu_arithmetic(w)
    if name == "gpus_per_pod":
        return _role_sources(w, "gpus") or "no GPU requested"
    if name == "replicas":
        return _role_sources(w, "replicas")
    if name in ("instance_type", "gpu_model", "capacity_type"):
        return _role_sources(w, name) or "not pinned by any field"
    if name == "name":
        return at(w, ("metadata", "name"))
    if name == "namespace":
        return at(w, ("metadata", "namespace")) if w.namespace else "metadata.namespace not set"
    if name == "kind":
        return at(w, ("kind",))
    if name == "idle_timeout":
        return _prov(w, w.idle_provenance) or "no idle shutdown declared"
    if name in ("run_hours", "run_kind", "runs_per_month", "gpu_hours"):
        run = w.run_time
        where = _prov(w, run.provenance)
        return f"{run.reason}" + (f"; {where}" if where else "")
    if name in ("monthly_cost", "hourly_cost", "priced"):
        cost = w.cost
        if cost is None:
            return "not priced"
        if not cost.priced:
            return f"unpriced: {cost.unpriced_reason}"
        return "the cost model; see the cost arithmetic below"
    if name == "priority_class":
        return None
    return None


def attribute_fact(w: Workload, name: str) -> Fact:
    attribute = ATTRIBUTES[name]
    value = attribute.getter(w)
    shown = "{…}" if isinstance(value, dict) else _show(value, attribute.type)
    return Fact(name, shown, attribute_source(w, name))


def keyed_fact(w: Workload, attr: str, key: str, value: Any) -> Fact:
    return Fact(f'{attr}["{key}"]', _show(value), _keyed(w, attr, key))


def object_fact(w: Workload, path: FieldPath, text: str, value: Any) -> Fact:
    return Fact(text, _show(value), at(w, path))


def _show(value: Any, type_: str = "") -> str:
    if value is None:
        return "null"
    if isinstance(value, str) and not type_:
        return f'"{value}"'
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict | list):
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "…"
    return render_value(value, type_)
