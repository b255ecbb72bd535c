"""What a kind extractor returns: where each role's pods are described, and how long they run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field

from policy_engine.model import fields
from policy_engine.model.config import ModelConfig
from policy_engine.model.documents import Document, FieldPath
from policy_engine.model.pods import Replicas, RoleSource
from policy_engine.model.workload import Provenance, RunTime
from policy_engine.records import record


@record
class Shape:
    """What a kind's reader found in one object: its roles, how long it runs, how long it idles."""

    roles: list[RoleSource]
    run_time: RunTime
    idle: tuple[float, Provenance] | None = None
    generic: bool = False  # an unknown kind read through a conventional pod-template path
    notes: list[str] = field(default_factory=list)
    admitted_run_time: RunTime | None = None  # ``Workload.admitted_run_time``
    creates: str | None = None  # ``Workload.creates``


Extractor = Callable[[Document, ModelConfig], "Shape | None"]


def template_role(
    doc: Document,
    name: str,
    template_path: FieldPath,
    replicas: Replicas,
    ray_num_gpus_path: FieldPath | None = None,
) -> RoleSource:
    """A role whose pods come from a PodTemplateSpec (``metadata`` + ``spec``) at ``template_path``."""
    return RoleSource(
        name=name,
        spec_path=(*template_path, "spec"),
        meta_path=(*template_path, "metadata"),
        replicas=replicas,
        ray_num_gpus_path=ray_num_gpus_path,
        template_path=template_path,
    )


def replicas_at(doc: Document, path: FieldPath, default: int = 1, note: str = "") -> Replicas:
    """A plain replica count (no autoscaling): the field's value, or ``default`` when absent."""
    raw = fields.get(doc.obj, path)
    value = fields.integer(doc, path, default, value=raw)
    assert value is not None
    present = raw is not None
    return Replicas(value, None, None, path if present else None,
                    note or ("" if present else f"{'.'.join(map(str, path))} absent: default {default}"))


def autoscaled(
    doc: Document, steady: int | None, minimum: int, maximum: int | None, path: FieldPath | None, what: str
) -> Replicas:
    """Replicas of an autoscaled role: what runs steadily, at least one pod when it scales from zero.

    ``steady`` is the declared current/desired count (None: the minimum). A role whose steady count is
    0 but may scale up (``maximum`` > 0 or unset) is reported as 1 replica — the pod that runs while
    it serves — with ``min_replicas`` 0 kept so that policies and the cost model see the scale-to-zero.
    """
    count = minimum if steady is None else steady
    if maximum is not None:
        count = min(count, maximum)
    count = max(count, minimum)
    note = f"{what}: min {minimum}, max {maximum if maximum is not None else 'unset'}"
    if count == 0 and (maximum is None or maximum > 0):
        count = 1
        note += "; scales from zero, reported as 1 replica while serving"
    return Replicas(count, minimum, maximum, path, note)
