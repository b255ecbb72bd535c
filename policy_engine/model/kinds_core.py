"""Built-in Kubernetes workload kinds, and unknown kinds with a pod template at a conventional path."""

from __future__ import annotations

from policy_engine.model import fields, runtime
from policy_engine.model.config import ModelConfig
from policy_engine.model.documents import Document, FieldPath
from policy_engine.model.field_errors import field_error
from policy_engine.model.pods import Replicas, RoleSource
from policy_engine.model.shape import Shape, replicas_at, template_role

META_ANNOTATIONS: FieldPath = ("metadata", "annotations")


def require(doc: Document, path: FieldPath) -> None:
    """A kind's pod template must be present: a Deployment without one is malformed, not empty."""
    if not isinstance(fields.get(doc.obj, path), dict):
        raise field_error(doc, path, "E708", "the pod template is missing")


def pod(doc: Document, config: ModelConfig) -> Shape:
    role = RoleSource("pod", ("spec",), ("metadata",), Replicas(1), template_path=())
    restart = str(fields.get(doc.obj, ("spec", "restartPolicy")) or "Always")
    deadline = ("spec", "activeDeadlineSeconds")
    bounded = (
        fields.get(doc.obj, deadline) is not None
        or runtime.annotation_seconds(doc, META_ANNOTATIONS, runtime.EXPECTED_DURATION_ANNOTATION) is not None
    )
    if bounded or restart != "Always":
        run = runtime.bounded_job(doc, [deadline], [META_ANNOTATIONS])
    else:
        run = runtime.continuous(config, "a bare Pod with restartPolicy Always runs until deleted")
    return Shape([role], run)


def replicated(doc: Document, config: ModelConfig) -> Shape:
    """Deployment, ReplicaSet, StatefulSet, ReplicationController: spec.replicas (default 1)."""
    require(doc, ("spec", "template"))
    role = template_role(doc, "pod", ("spec", "template"), replicas_at(doc, ("spec", "replicas")))
    return Shape([role], runtime.continuous(config, f"a {doc.kind} runs all month"))


def daemon_set(doc: Document, config: ModelConfig) -> Shape:
    require(doc, ("spec", "template"))
    replicas = Replicas(1, note="one pod per matching node; the node count is unknown, reported as 1 replica")
    role = template_role(doc, "pod", ("spec", "template"), replicas)
    return Shape([role], runtime.continuous(config, "a DaemonSet runs all month on every matching node"))


def job_replicas(doc: Document, job_spec: FieldPath) -> Replicas:
    """Pods a Job runs at once: parallelism (default 1), no more than completions."""
    spec = fields.get(doc.obj, job_spec)  # (a mapping, else both fields read as absent)
    raw = spec.get("parallelism") if isinstance(spec, dict) else None
    parallelism = fields.integer(doc, (*job_spec, "parallelism"), 1, value=raw)
    completions = fields.integer(doc, (*job_spec, "completions"), None,
                                 value=spec.get("completions") if isinstance(spec, dict) else None)
    assert parallelism is not None
    count = parallelism if completions is None else min(parallelism, completions)
    present = raw is not None
    note = "parallelism" + ("" if present else " absent: default 1")
    if completions is not None and completions < parallelism:
        note = f"completions {completions} < parallelism {parallelism}"
    return Replicas(count, None, None, (*job_spec, "parallelism") if present else None, note)


def job(doc: Document, config: ModelConfig) -> Shape:
    require(doc, ("spec", "template"))
    role = template_role(doc, "pod", ("spec", "template"), job_replicas(doc, ("spec",)))
    run = runtime.bounded_job(
        doc,
        [("spec", "activeDeadlineSeconds")],
        [META_ANNOTATIONS, ("spec", "template", "metadata", "annotations")],
    )
    return Shape([role], run)


def cron_job(doc: Document, config: ModelConfig) -> Shape:
    job_spec: FieldPath = ("spec", "jobTemplate", "spec")
    require(doc, (*job_spec, "template"))
    role = template_role(doc, "pod", (*job_spec, "template"), job_replicas(doc, job_spec))
    run = runtime.scheduled(
        doc,
        [("spec", "schedule")],
        ("spec", "timeZone"),
        [(*job_spec, "activeDeadlineSeconds")],
        [
            META_ANNOTATIONS,
            ("spec", "jobTemplate", "metadata", "annotations"),
            (*job_spec, "template", "metadata", "annotations"),
        ],
    )
    return Shape([role], run)


#: Conventional places an unknown kind keeps a pod template (PodTemplateSpec) or a bare pod spec.
GENERIC_TEMPLATES: tuple[FieldPath, ...] = (
    ("spec", "template"),
    ("spec", "jobTemplate", "spec", "template"),
    ("spec", "podTemplate"),
)
GENERIC_POD_SPECS: tuple[FieldPath, ...] = (("spec", "podSpec"), ("spec", "template", "podSpec"))


#: The keys of ``spec`` those paths go through: a ``spec`` with none of them (a Service) holds no pod.
_GENERIC_KEYS = tuple(dict.fromkeys(path[1] for path in (*GENERIC_TEMPLATES, *GENERIC_POD_SPECS)))


def generic(doc: Document, config: ModelConfig) -> Shape | None:
    """An unknown kind is a workload only when a conventional path holds a pod spec with containers."""
    spec = doc.obj.get("spec")
    if not isinstance(spec, dict) or not any(key in spec for key in _GENERIC_KEYS):
        return None
    for path in GENERIC_TEMPLATES:
        if isinstance(fields.get(doc.obj, (*path, "spec", "containers")), list):
            role = template_role(doc, "pod", path, replicas_at(doc, ("spec", "replicas")))
            break
    else:
        for path in GENERIC_POD_SPECS:
            if isinstance(fields.get(doc.obj, (*path, "containers")), list):
                role = RoleSource(
                    "pod", path, None, replicas_at(doc, ("spec", "replicas")), template_path=path
                )
                break
        else:
            return None
    deadline = ("spec", "activeDeadlineSeconds")
    if (
        fields.get(doc.obj, deadline) is not None
        or runtime.annotation_seconds(doc, META_ANNOTATIONS, runtime.EXPECTED_DURATION_ANNOTATION) is not None
    ):
        run = runtime.bounded_job(doc, [deadline], [META_ANNOTATIONS])
    else:
        run = runtime.continuous(
            config, f"unknown kind {doc.kind} read generically: assumed to run all month"
        )
    return Shape(
        [role],
        run,
        generic=True,
        notes=[f"unknown kind read generically from {'.'.join(map(str, role.template_path))}"],
    )
