"""Any Kubernetes document → ``Workload`` (or None: not a workload). The one entry point of the model.

Labels: ``labels`` — what every rule and every showback dimension reads — are the labels **every pod the
workload runs will carry**: for a Pod its own ``metadata.labels``; for a controller the labels common to
every role's pod template, plus the object metadata the kind's controller copies onto its pods (KServe,
Notebook: see ``RoleSource.inherited_meta``). That is what the admission webhook sees on each pod the
controllers create and what Kubecost/OpenCost allocate by, so CI and the cluster give one verdict.
``object_labels`` are the object's own ``metadata.labels`` (readable, never what a label rule reads).
Annotations follow the same rule.
"""

from __future__ import annotations

from typing import Any

from policy_engine.errors import WorkloadError
from policy_engine.model import fields, runtime
from policy_engine.model.config import DEFAULT_CONFIG, ModelConfig
from policy_engine.model.documents import Document
from policy_engine.model.field_errors import field_error
from policy_engine.model.kinds import KNOWN_KINDS, extractor_for
from policy_engine.model.pods import build_role
from policy_engine.model.workload import Provenance, Role, Workload

__all__ = ["KNOWN_KINDS", "WorkloadError", "build_workload"]


def build_workload(doc: Document, config: ModelConfig = DEFAULT_CONFIG) -> Workload | None:
    """The workload ``doc`` describes, None when it runs nothing; ``WorkloadError`` on a malformed field."""
    extractor, generic = extractor_for(doc)
    if extractor is None:
        return None
    shape = extractor(doc, config)
    if shape is None:
        return None
    meta = fields.mapping(doc, ("metadata",)) or {}
    roles: list[Role] = []
    for source in shape.roles:
        role = build_role(doc, source, config)
        for note in source.notes:
            role.provenance.setdefault("template", Provenance(source.template_path, note))
        roles.append(role)
    object_labels = fields.string_map(meta.get("labels"))
    if len(roles) == 1:  # (most workloads) what its one role's pods carry
        pod_labels, pod_annotations = dict(roles[0].pod_labels), dict(roles[0].pod_annotations)
    else:
        pod_labels = _common([r.pod_labels for r in roles])
        pod_annotations = _common([r.pod_annotations for r in roles])
    workload = Workload(
        kind=doc.kind,
        api_version=doc.api_version,
        name=str(meta.get("name") or meta.get("generateName") or ""),
        namespace=str(meta["namespace"]) if meta.get("namespace") else None,
        doc=doc,
        roles=roles,
        labels=pod_labels,
        annotations=pod_annotations,
        object_labels=object_labels,
        pod_labels=pod_labels,
        run_time=shape.run_time,
        priority_class=_priority_class(doc, shape.roles[0].spec_path) if shape.roles else None,
        admitted_run_time=shape.admitted_run_time,
        creates=shape.creates,
    )
    if shape.run_time.provenance is not None:
        workload.provenance["run_time"] = shape.run_time.provenance
    if generic:
        path = roles[0].template_path if roles else ()
        workload.provenance["generic"] = Provenance(
            path, f"unknown kind {doc.kind}: pod template read generically"
        )
    _idle(doc, workload, shape.idle, meta)
    return workload


def carry(workload: Workload) -> None:
    """Recompute what every pod carries after a step changed the roles (a TrainJob resolved against its
    runtime): ``labels``/``pod_labels`` and ``annotations``, the labels and annotations common to all roles."""
    workload.labels = workload.pod_labels = _common([r.pod_labels for r in workload.roles])
    workload.annotations = _common([r.pod_annotations for r in workload.roles])


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first, *rest = maps
    if not rest:  # one role (most workloads): all its pods carry
        return dict(first)
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in rest)}


def _priority_class(doc: Document, spec_path: tuple[str | int, ...]) -> str | None:
    value = fields.get(doc.obj, (*spec_path, "priorityClassName"))
    return str(value) if value else None


def _idle(doc: Document, workload: Workload, declared: tuple[float, Provenance] | None,
          meta: dict[str, Any]) -> None:
    """The policy-engine.io/idle-timeout annotation (object, else every pod) wins over kind facts;
    ``meta``: the object's metadata, already read."""
    name = runtime.IDLE_TIMEOUT_ANNOTATION
    annotations = meta.get("annotations")
    found = runtime.annotation_seconds(doc, ("metadata", "annotations"), name) \
        if isinstance(annotations, dict) and annotations.get(name) is not None else None
    if found is None and name in workload.annotations:
        path = (*workload.roles[0].annotations_path, name)
        seconds = runtime.parse_duration(workload.annotations[name])
        if seconds is None:
            raise field_error(
                doc, path, "E705", f"{workload.annotations[name]!r} is not a duration"
            )
        found = (seconds, path)
    if found is not None:
        workload.idle_timeout_seconds = found[0]
        workload.idle_provenance = Provenance(found[1], name)
    elif declared is not None:
        workload.idle_timeout_seconds, workload.idle_provenance = declared
