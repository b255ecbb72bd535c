"""Batch and training kinds: Kubeflow training-operator jobs, TrainJob, JobSet, Volcano, Argo, HyperPod."""

from __future__ import annotations

from policy_engine.model import fields, runtime
from policy_engine.model.config import ModelConfig
from policy_engine.model.documents import Document, FieldPath
from policy_engine.model.kinds_core import META_ANNOTATIONS, job_replicas
from policy_engine.model.pods import ContainerRef, Replicas, RoleSource
from policy_engine.model.shape import Shape, replicas_at, template_role

#: kind → the spec field holding its map of replica type → ReplicaSpec (training-operator v1, MPIJob v2).
REPLICA_SPECS = {
    "PyTorchJob": "pytorchReplicaSpecs",
    "TFJob": "tfReplicaSpecs",
    "MPIJob": "mpiReplicaSpecs",
    "XGBoostJob": "xgbReplicaSpecs",
    "PaddleJob": "paddleReplicaSpecs",
    "JAXJob": "jaxReplicaSpecs",
    "MXJob": "mxReplicaSpecs",
}
_TRAINING_DEADLINES: list[FieldPath] = [
    ("spec", "runPolicy", "activeDeadlineSeconds"),
    ("spec", "activeDeadlineSeconds"),
]


def training_operator_job(doc: Document, config: ModelConfig) -> Shape | None:
    """One role per replica type; PyTorchJob ``elasticPolicy`` min/max apply to its Worker role."""
    key = REPLICA_SPECS[doc.kind]
    specs = fields.mapping(doc, ("spec", key)) or {}
    roles: list[RoleSource] = []
    for name in specs:
        base: FieldPath = ("spec", key, name)
        if not isinstance(fields.get(doc.obj, (*base, "template")), dict):
            continue
        replicas = replicas_at(doc, (*base, "replicas"))
        if doc.kind == "PyTorchJob" and str(name).lower() == "worker":
            elastic: FieldPath = ("spec", "elasticPolicy")
            low = fields.integer(doc, (*elastic, "minReplicas"), None)
            high = fields.integer(doc, (*elastic, "maxReplicas"), None)
            if low is not None or high is not None:
                replicas = Replicas(
                    replicas.count, low, high, replicas.path, "elastic: replicas, with min/max kept"
                )
        roles.append(template_role(doc, str(name), (*base, "template"), replicas))
    if not roles:
        return None
    run = runtime.bounded_job(doc, _TRAINING_DEADLINES, [META_ANNOTATIONS])
    return Shape(roles, run)


def hyperpod_pytorch_job(doc: Document, config: ModelConfig) -> Shape | None:
    """SageMaker HyperPod: ``spec.replicaSpecs`` is a list of {name, replicas, template}."""
    roles = [
        template_role(
            doc,
            str(spec.get("name") or f"replicas-{i}"),
            ("spec", "replicaSpecs", i, "template"),
            replicas_at(doc, ("spec", "replicaSpecs", i, "replicas")),
        )
        for i, spec in enumerate(fields.sequence(doc, ("spec", "replicaSpecs")))
        if isinstance(spec, dict) and isinstance(spec.get("template"), dict)
    ]
    if not roles:
        return None
    return Shape(roles, runtime.bounded_job(doc, _TRAINING_DEADLINES, [META_ANNOTATIONS]))


def train_job(doc: Document, config: ModelConfig) -> Shape:
    """trainer.kubeflow.org TrainJob: ``numNodes`` pods each holding ``resourcesPerNode``.

    The pod template lives in the referenced (Cluster)TrainingRuntime, which a manifest scan cannot
    resolve: placement and any GPUs the runtime itself requests are unknown, and the role says so.
    """
    trainer: FieldPath = ("spec", "trainer")
    replicas = replicas_at(
        doc, (*trainer, "numNodes"), note="spec.trainer.numNodes absent: the runtime decides; reported as 1"
    )
    runtime_name = fields.get(doc.obj, ("spec", "runtimeRef", "name"))
    role = RoleSource(
        "node",
        trainer,
        None,
        replicas,
        containers=(ContainerRef(trainer, resources_key="resourcesPerNode"),),
        template_path=trainer,
    )
    role.notes.append(f"runtime {runtime_name!r} not resolved: its pod template and placement are unknown")
    run = runtime.bounded_job(doc, [("spec", "activeDeadlineSeconds")], [META_ANNOTATIONS])
    return Shape([role], run, notes=list(role.notes))


def job_set(doc: Document, config: ModelConfig) -> Shape | None:
    """Each replicatedJob runs ``replicas`` Jobs of ``parallelism`` pods; all start together.

    The JobSet ends when its jobs do, so its bound is the largest child deadline, known only when every
    replicatedJob has one (else the expected-duration annotation, else unbounded).
    """
    roles: list[RoleSource] = []
    deadlines: list[tuple[float, FieldPath]] = []
    jobs = fields.sequence(doc, ("spec", "replicatedJobs"))
    for i, rj in enumerate(jobs):
        base: FieldPath = ("spec", "replicatedJobs", i)
        if not isinstance(fields.get(doc.obj, (*base, "template", "spec", "template")), dict):
            continue
        groups = replicas_at(doc, (*base, "replicas"))
        per_job = job_replicas(doc, (*base, "template", "spec"))
        replicas = Replicas(
            groups.count * per_job.count,
            path=groups.path or per_job.path,
            note=f"{groups.count} job(s) x {per_job.count} pod(s) ({per_job.note})",
        )
        name = str(rj.get("name") if isinstance(rj, dict) and rj.get("name") else f"job-{i}")
        roles.append(template_role(doc, name, (*base, "template", "spec", "template"), replicas))
        seconds = fields.number(doc, (*base, "template", "spec", "activeDeadlineSeconds"))
        if seconds is not None:
            deadlines.append((seconds, (*base, "template", "spec", "activeDeadlineSeconds")))
    if not roles:
        return None
    deadline_paths = [max(deadlines)[1]] if deadlines and len(deadlines) == len(roles) else []
    return Shape(roles, runtime.bounded_job(doc, deadline_paths, [META_ANNOTATIONS]))


def volcano_job(doc: Document, config: ModelConfig) -> Shape | None:
    """batch.volcano.sh Job: one role per task; no Volcano job deadline: only the annotation bounds it."""
    roles = []
    for i, task in enumerate(fields.sequence(doc, ("spec", "tasks"))):
        base: FieldPath = ("spec", "tasks", i)
        if not isinstance(fields.get(doc.obj, (*base, "template")), dict):
            continue
        name = str(task.get("name") if isinstance(task, dict) and task.get("name") else f"task-{i}")
        roles.append(template_role(doc, name, (*base, "template"), replicas_at(doc, (*base, "replicas"))))
    if not roles:
        return None
    return Shape(roles, runtime.bounded_job(doc, [], [META_ANNOTATIONS]))


def _argo_roles(doc: Document, workflow_spec: FieldPath) -> list[RoleSource]:
    """One role per template that runs a container (container, script, containerSet), one pod each.

    A workflow's templates run in sequence or in parallel as its steps/DAG say; the model counts every
    runnable template once, as if all ran at once (an upper bound, documented).
    """
    roles: list[RoleSource] = []
    shared_placement = any(
        fields.get(doc.obj, (*workflow_spec, k)) is not None
        for k in ("nodeSelector", "affinity", "tolerations")
    )
    for i, tpl in enumerate(fields.sequence(doc, (*workflow_spec, "templates"))):
        if not isinstance(tpl, dict):
            continue
        base: FieldPath = (*workflow_spec, "templates", i)
        refs: list[ContainerRef] = [
            ContainerRef((*base, "initContainers", j), init=True)
            for j, _ in enumerate(fields.sequence(doc, (*base, "initContainers")))
        ]
        for key in ("container", "script"):
            if isinstance(tpl.get(key), dict):
                refs.append(ContainerRef((*base, key)))
        refs += [
            ContainerRef((*base, "containerSet", "containers", j))
            for j, _ in enumerate(fields.sequence(doc, (*base, "containerSet", "containers")))
        ]
        refs += [
            ContainerRef((*base, "sidecars", j))
            for j, _ in enumerate(fields.sequence(doc, (*base, "sidecars")))
        ]
        if not any(not r.init for r in refs):
            continue
        own = any(k in tpl for k in ("nodeSelector", "affinity", "tolerations"))
        spec_path = base if own or not shared_placement else workflow_spec
        roles.append(
            RoleSource(
                str(tpl.get("name") or f"template-{i}"),
                spec_path,
                (*base, "metadata"),
                Replicas(1, note="one pod per template run"),
                containers=tuple(refs),
                template_path=base,
                # Argo puts spec.podMetadata on every pod, then the template's own metadata
                inherited_meta=((*workflow_spec, "podMetadata"),),
                fix_meta=(*workflow_spec, "podMetadata"),
            )
        )
    return roles


def argo_workflow(doc: Document, config: ModelConfig) -> Shape | None:
    roles = _argo_roles(doc, ("spec",))
    if not roles:
        return None
    return Shape(roles, runtime.bounded_job(doc, [("spec", "activeDeadlineSeconds")], [META_ANNOTATIONS]))


def argo_cron_workflow(doc: Document, config: ModelConfig) -> Shape | None:
    spec: FieldPath = ("spec", "workflowSpec")
    roles = _argo_roles(doc, spec)
    if not roles:
        return None
    run = runtime.scheduled(
        doc,
        [("spec", "schedule"), ("spec", "schedules")],
        ("spec", "timezone"),
        [(*spec, "activeDeadlineSeconds")],
        [META_ANNOTATIONS, ("spec", "workflowMetadata", "annotations")],
    )
    return Shape(roles, run)


def katib_experiment(doc: Document, config: ModelConfig) -> Shape | None:
    """Katib Experiment: ``parallelTrialCount`` (default 3) trials of ``trialTemplate.trialSpec`` run at once.

    The trial spec is a Job or a training-operator job; its pods are this workload's roles, multiplied by
    the parallel trials. An experiment runs ``maxTrialCount`` trials in waves with no deadline of its own,
    so its run time is bounded only by the expected-duration annotation (else unbounded, said so).
    Katib creates each Trial labelled with the Experiment's labels, and the Trial creates the trial spec
    as written: the pods carry the trial spec's pod template labels only (``katib_trial``).
    """
    return _katib(doc, ("spec", "trialTemplate", "trialSpec"),
                  replicas_at(doc, ("spec", "parallelTrialCount"), default=3), "parallel trial(s)")


def katib_trial(doc: Document, config: ModelConfig) -> Shape | None:
    """Katib Trial (made by an Experiment): it creates ``spec.runSpec`` as is; one trial's pods."""
    return _katib(doc, ("spec", "runSpec"), Replicas(1, note="one trial"), "trial")


def _katib(doc: Document, base: FieldPath, parallel: Replicas, what: str) -> Shape | None:
    trial = fields.get(doc.obj, base)
    if not isinstance(trial, dict):
        return None
    kind = trial.get("kind")
    roles: list[RoleSource] = []

    def role(name: str, template: FieldPath, per_trial: Replicas) -> RoleSource:
        replicas = Replicas(parallel.count * per_trial.count, path=parallel.path or per_trial.path,
                            note=f"{parallel.count} {what} x {per_trial.count} pod(s)")
        return template_role(doc, name, template, replicas)

    if kind == "Job":
        roles.append(role("trial", (*base, "spec", "template"), job_replicas(doc, (*base, "spec"))))
    elif isinstance(kind, str) and kind in REPLICA_SPECS:
        key = REPLICA_SPECS[kind]
        for name in fields.mapping(doc, (*base, "spec", key)) or {}:
            spec: FieldPath = (*base, "spec", key, name)
            if isinstance(fields.get(doc.obj, (*spec, "template")), dict):
                roles.append(role(f"trial-{name}", (*spec, "template"), replicas_at(doc, (*spec, "replicas"))))
    if not roles:
        return None
    # the trial's own deadline (what its job carries at admission), else a declared expected duration
    deadline: FieldPath = (*base, "spec", "activeDeadlineSeconds") if kind == "Job" else \
        (*base, "spec", "runPolicy", "activeDeadlineSeconds")
    trial_annotations: FieldPath = (*base, "metadata", "annotations")
    run = runtime.bounded_job(doc, [deadline], [trial_annotations, META_ANNOTATIONS])
    # Katib creates the trial's job as written: admission sees only the trial spec's own bound
    admitted = runtime.bounded_job(doc, [deadline], [trial_annotations])
    return Shape(roles, run, admitted_run_time=admitted if admitted != run else None)
