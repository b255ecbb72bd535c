"""The attributes a policy expression can read: name, type, getter and a one-line doc.

This table is the single source of the language's vocabulary: the checker types names from it, codegen
binds its getters (``operator.attrgetter`` where a field is read as is) into closures at compile time,
and docs/language.md's attribute table is checked against it by a test.

Multi-role workloads (a PyTorchJob's Master and Worker, a Ray head and worker groups) read the scalar
attributes ``gpu_model``, ``instance_type`` and ``capacity_type`` as the value the GPU-carrying roles
agree on (all roles when none carries a GPU); when they differ the attribute is ``null``. Rules that must
see every role (allow/deny lists, ``require spot``, ``require pinned``) iterate the roles themselves and
name the offending role in their message.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

from policy_engine.compiler import objects
from policy_engine.model.workload import Role, Workload
from policy_engine.records import frozen_record

Getter = Callable[[Workload], Any]


@frozen_record
class Attribute:
    """A workload attribute policies can read: its name, type, getter and documentation."""

    name: str
    type: str  # a type name of compiler.types
    getter: Getter
    doc: str


def per_workload(compute: Getter) -> Getter:
    """Remember the last workload's value: every policy of a set reads ``gpus`` of the same workload in
    turn, and recomputing the sum over roles each time dominated evaluation. The entry is keyed on the
    workload and its roles list (identity and length), and swapped as one tuple, so threads are safe."""
    cell: list[tuple[object, object, int, Any]] = [(None, None, -1, None)]

    def get(w: Workload) -> Any:
        last = cell[0]
        roles = w.roles
        if last[0] is w and last[1] is roles and last[2] == len(roles):
            return last[3]
        value = compute(w)
        cell[0] = (w, roles, len(roles), value)
        return value

    return get


#: The workload's containers in classes (``objects.ContainerClasses``), built once per workload: what a
#: quantifier over ``containers`` whose body reads only ``objects.CLASS_FIELDS`` iterates, and what the
#: ``containers`` records are made from.
container_classes: Callable[[Workload], objects.ContainerClasses] = per_workload(objects.container_classes)


#: GPUs held when every pod runs (``Workload.gpus``, a sum over the roles), once per workload: every GPU policy's
#: ``when gpus > 0``, the engine's counts and the quota contributions read it.
gpus: Getter = per_workload(attrgetter("gpus"))


def _deciding_roles(w: Workload) -> list[Role]:
    gpu_roles = [r for r in w.roles if r.gpus_per_pod > 0]
    return gpu_roles or w.roles


#: The roles whose scalar attributes speak for the workload: the GPU roles, else all roles.
deciding_roles: Callable[[Workload], list[Role]] = per_workload(_deciding_roles)


def _agreed(read: Callable[[Role], Any]) -> Getter:
    def get(w: Workload) -> Any:
        values = {read(r) for r in deciding_roles(w)}
        return values.pop() if len(values) == 1 else None

    return per_workload(get)


def _cost(read: Callable[[Any], Any]) -> Getter:
    def get(w: Workload) -> Any:
        cost = w.cost
        return read(cost) if cost is not None and cost.priced else None

    return get


_TABLE: tuple[Attribute, ...] = (
    Attribute("kind", "string", attrgetter("kind"), "the object's kind, e.g. PyTorchJob"),
    Attribute("api_version", "string", attrgetter("api_version"), "the object's apiVersion"),
    Attribute("name", "string", attrgetter("name"), "metadata.name"),
    Attribute("namespace", "string", attrgetter("namespace"), "metadata.namespace (null when not set)"),
    Attribute("labels", "map", attrgetter("labels"),
              "the labels every pod of the workload carries (see *Which labels a rule reads*)"),
    Attribute("annotations", "map", attrgetter("annotations"),
              "the annotations every pod of the workload carries"),
    Attribute("object_labels", "map", attrgetter("object_labels"), "metadata.labels of the object only"),
    Attribute("pod_labels", "map", attrgetter("pod_labels"), "the same as `labels` (kept for older policies)"),
    Attribute("gpus", "number", gpus,
              "GPUs held when every pod runs: sum of replicas x GPUs per pod"),
    Attribute("gpus_per_pod", "number", per_workload(lambda w: max((r.gpus_per_pod for r in w.roles), default=0.0)),
              "the most GPUs any one pod requests"),
    Attribute("replicas", "number", per_workload(lambda w: sum(r.replicas for r in w.roles)),
              "pods when every role runs"),
    Attribute("roles", "number", lambda w: len(w.roles), "how many pod roles the workload has"),
    Attribute("gpu_model", "string", _agreed(lambda r: r.gpu_model),
              "GPU model of the GPU roles when they agree, else null"),
    Attribute("gpu_resource", "string", _agreed(lambda r: r.gpu_resource),
              "extended resource the GPU roles request, e.g. nvidia.com/gpu"),
    Attribute("instance_type", "string", _agreed(lambda r: r.instance_type),
              "instance type the GPU roles pin when they agree, else null"),
    Attribute("capacity_type", "string", _agreed(lambda r: r.capacity_type.value),
              "spot, on-demand or unknown, when the GPU roles agree, else null"),
    Attribute("cpus", "number", lambda w: sum(r.replicas * r.cpu_request for r in w.roles),
              "CPU cores requested when every pod runs"),
    Attribute("memory_gib", "number", lambda w: sum(r.replicas * r.memory_request_gib for r in w.roles),
              "memory requested when every pod runs, GiB"),
    Attribute("priced", "bool", lambda w: w.cost is not None and w.cost.priced,
              "whether the cost model could price every role"),
    Attribute("monthly_cost", "money", _cost(lambda c: c.monthly),
              "projected cost per month (one run for one-off jobs); null when unpriced"),
    Attribute("hourly_cost", "money", _cost(lambda c: c.hourly), "cost per hour with every pod running"),
    Attribute("gpu_hours", "number", attrgetter("gpu_hours_per_month"),
              "GPU-hours per month (null when the run time is unbounded)"),
    Attribute("run_hours", "number", attrgetter("run_time.hours_per_run"),
              "hours per run (per month for continuous kinds); null when unbounded"),
    Attribute("run_kind", "string", lambda w: w.run_time.kind.value,
              "continuous, bounded, scheduled or unbounded"),
    Attribute("runs_per_month", "number", attrgetter("run_time.runs_per_month"), "runs per month (cron kinds)"),
    Attribute("idle_timeout", "duration", attrgetter("idle_timeout_seconds"),
              "declared idle shutdown; null when none is declared"),
    Attribute("priority_class", "string", attrgetter("priority_class"), "priorityClassName of the pods"),
    Attribute("object", "any", attrgetter("doc.obj"),
              "the raw manifest: object.spec.template..., object.metadata.labels[\"x\"]"),
    Attribute("pod_annotations", "map", per_workload(objects.pod_annotations),
              "annotations common to every role's pod template"),
    Attribute("pod_spec", "any", objects.pod_spec,
              "the pod spec of the first role whatever the kind (a Pod's spec, a Deployment's spec.template.spec)"),
    Attribute("containers", "list[container]",
              per_workload(lambda w: objects.containers(container_classes(w))),
              "every container of every role: app, init, sidecar and ephemeral (fields below)"),
    Attribute("volumes", "list[any]", per_workload(objects.volumes), "the volumes of every role's pod spec"),
    Attribute("tolerations", "list[any]", per_workload(objects.tolerations),
              "the tolerations of every role's pod spec"),
    Attribute("operation", "string", lambda w: w.admission.operation if w.admission else None,
              "the admission operation (CREATE, UPDATE); null in CI and audit"),
    Attribute("old_object", "any", lambda w: w.admission.old_object if w.admission else None,
              "the object before an UPDATE; null otherwise"),
    Attribute("user", "string", lambda w: w.admission.user if w.admission else None,
              "the user making the admission request; null in CI and audit"),
    Attribute("groups", "list[string]", lambda w: list(w.admission.groups) if w.admission else None,
              "the requesting user's groups; null in CI and audit"),
)

ATTRIBUTES: dict[str, Attribute] = {a.name: a for a in _TABLE}
