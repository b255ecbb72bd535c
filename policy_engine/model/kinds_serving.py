"""Long-running AI kinds: Ray clusters, KServe, LeaderWorkerSet, Kubeflow Notebook, NVIDIA NIM."""

from __future__ import annotations

from policy_engine.model import fields, runtime
from policy_engine.model.config import ModelConfig
from policy_engine.model.documents import Document, FieldPath
from policy_engine.model.kinds_core import META_ANNOTATIONS, require
from policy_engine.model.pods import ContainerRef, Replicas, RoleSource, default_containers
from policy_engine.model.shape import Shape, autoscaled, replicas_at, template_role
from policy_engine.model.workload import Provenance

#: Knative's default ``stable-window``: a KServe component with minReplicas 0 scales to zero after it.
KNATIVE_SCALE_TO_ZERO_SECONDS = 60.0
_RAY_CLUSTER = {
    "RayCluster": ("spec",),
    "RayJob": ("spec", "rayClusterSpec"),
    "RayService": ("spec", "rayClusterConfig"),
}


def _ray_roles(doc: Document, base: FieldPath) -> list[RoleSource]:
    """Head (1 pod) and each worker group: replicas clamped to [minReplicas, maxReplicas] x numOfHosts.

    With in-tree autoscaling a group declared at 0 that may grow counts as 1 (see ``autoscaled``).
    """
    roles: list[RoleSource] = []
    head: FieldPath = (*base, "headGroupSpec")
    if isinstance(fields.get(doc.obj, (*head, "template")), dict):
        roles.append(
            template_role(
                doc,
                "head",
                (*head, "template"),
                Replicas(1, note="one Ray head"),
                ray_num_gpus_path=(*head, "rayStartParams", "num-gpus"),
            )
        )
    autoscaling = fields.get(doc.obj, (*base, "enableInTreeAutoscaling")) is True
    for i, group in enumerate(fields.sequence(doc, (*base, "workerGroupSpecs"))):
        g: FieldPath = (*base, "workerGroupSpecs", i)
        if not isinstance(fields.get(doc.obj, (*g, "template")), dict):
            continue
        name = str(
            group.get("groupName") if isinstance(group, dict) and group.get("groupName") else f"worker-{i}"
        )
        declared = fields.integer(doc, (*g, "replicas"), None)
        declared_low = fields.integer(doc, (*g, "minReplicas"), None)
        low = declared_low or 0
        high = fields.integer(doc, (*g, "maxReplicas"), None)
        hosts = fields.integer(doc, (*g, "numOfHosts"), 1, minimum=1) or 1
        path = (*g, "replicas") if declared is not None else (*g, "minReplicas")
        if fields.get(doc.obj, (*g, "suspend")) is True:
            replicas = Replicas(0, low, high, (*g, "suspend"), "worker group suspended")
        elif autoscaling:
            replicas = autoscaled(doc, declared, low, high, path, "Ray autoscaler")
        else:
            count = declared if declared is not None else low
            replicas = Replicas(count, declared_low, high, path, "replicas (autoscaling off)")
        if hosts > 1:
            replicas = Replicas(
                replicas.count * hosts,
                replicas.minimum,
                replicas.maximum,
                replicas.path,
                f"{replicas.note}; x numOfHosts {hosts}",
            )
        roles.append(
            template_role(
                doc,
                f"worker:{name}",
                (*g, "template"),
                replicas,
                ray_num_gpus_path=(*g, "rayStartParams", "num-gpus"),
            )
        )
    return roles


def _ray_idle(doc: Document, base: FieldPath) -> tuple[float, Provenance] | None:
    path = (*base, "autoscalerOptions", "idleTimeoutSeconds")
    seconds = fields.number(doc, path)
    return None if seconds is None else (seconds, Provenance(path, "Ray autoscaler scales idle workers down"))


#: RayJob ``submissionMode`` values in which KubeRay runs the submitter as a Kubernetes Job (the default).
RAY_SUBMITTER_JOB_MODES = (None, "K8sJobMode")


def _ray_submitter(doc: Document) -> RoleSource | None:
    """The submitter pod a RayJob's KubeRay runs (``K8sJobMode``, the default) beside its cluster.

    KubeRay's ``createNewK8sJob`` makes a Job named as the RayJob whose pod template is
    ``spec.submitterPodTemplate`` copied as is, else a default template with NO labels or annotations
    (one ``ray-job-submitter`` container, the head's image, 500m CPU / 200Mi requested); the Job's own
    labels are only ``ray.io/originated-from-*`` and ``app.kubernetes.io/created-by``. So the RayJob's
    labels never reach that pod: a label rule reads ``spec.submitterPodTemplate.metadata.labels`` for it,
    as the webhook does when the pod is created. ``HTTPMode``, ``InteractiveMode`` and ``SidecarMode``
    run no submitter Job.
    """
    if fields.get(doc.obj, ("spec", "submissionMode")) not in RAY_SUBMITTER_JOB_MODES:
        return None
    template: FieldPath = ("spec", "submitterPodTemplate")
    given = isinstance(fields.get(doc.obj, template), dict)
    return RoleSource("submitter", (*template, "spec"), (*template, "metadata"),
                      Replicas(1, note="KubeRay's submitter Job: one pod" + (
                          "" if given else "; the default template (no labels; 500m CPU, 200Mi requested)")),
                      template_path=template)


def ray(doc: Document, config: ModelConfig) -> Shape | None:
    base = _RAY_CLUSTER[doc.kind]
    roles = _ray_roles(doc, base)
    submitter = _ray_submitter(doc) if doc.kind == "RayJob" else None
    if submitter is not None and (roles or fields.get(doc.obj, ("spec", "clusterSelector"))):
        roles.append(submitter)
    if not roles:
        return None
    if doc.kind == "RayJob":
        run = runtime.bounded_job(doc, [("spec", "activeDeadlineSeconds")], [META_ANNOTATIONS])
    else:
        run = runtime.continuous(config, f"a {doc.kind} runs all month")
    return Shape(roles, run, idle=_ray_idle(doc, base))


#: Framework keys of a KServe predictor/explainer: each is a container with ``resources``.
KSERVE_FRAMEWORKS = (
    "model",
    "sklearn",
    "xgboost",
    "tensorflow",
    "pytorch",
    "triton",
    "onnx",
    "pmml",
    "lightgbm",
    "paddle",
    "huggingface",
    "alibi",
    "art",
)


def inference_service(doc: Document, config: ModelConfig) -> Shape | None:
    """Predictor, transformer and explainer: minReplicas (default 1) … maxReplicas each.

    minReplicas 0 is Knative scale-to-zero: the role reports 1 replica while serving, and the workload's
    idle timeout is Knative's default 60 s stable window.
    """
    roles: list[RoleSource] = []
    idle: tuple[float, Provenance] | None = None
    for component in ("predictor", "transformer", "explainer"):
        base: FieldPath = ("spec", component)
        spec = fields.mapping(doc, base)
        if spec is None:
            continue
        refs = [ContainerRef((*base, key)) for key in KSERVE_FRAMEWORKS if isinstance(spec.get(key), dict)]
        refs += list(default_containers(doc, base))
        if not refs:
            continue
        low = fields.integer(doc, (*base, "minReplicas"), 1)
        high = fields.integer(doc, (*base, "maxReplicas"), None)
        assert low is not None
        replicas = autoscaled(doc, None, low, high, (*base, "minReplicas"), "KServe autoscaling")
        # KServe copies the InferenceService's own labels/annotations onto each component's pods
        # (then the component's `labels`/`annotations`): metadata.labels reaches every pod.
        roles.append(RoleSource(component, base, base, replicas, containers=tuple(refs), template_path=base,
                                inherited_meta=(("metadata",),), fix_meta=("metadata",)))
        if low == 0 and idle is None:
            idle = (
                KNATIVE_SCALE_TO_ZERO_SECONDS,
                Provenance((*base, "minReplicas"), "minReplicas 0: Knative scales to zero after 60 s idle"),
            )
    if not roles:
        return None
    return Shape(roles, runtime.continuous(config, "an InferenceService serves all month"), idle=idle)


#: KServe's llmisvc controller copies only these of an LLMInferenceService's labels (and, with the CNI
#: ones, annotations) onto the Deployments / LeaderWorkerSets it builds and their pods
#: (``propagateDeploymentMetadata``); the pods' other labels are its own fixed ones.
LLMISVC_COPIED = ("kueue.x-k8s.io",)
_LLMISVC_NOTE = ("KServe copies only kueue.x-k8s.io/* labels of an LLMInferenceService to its pods: label the "
                 "namespace for the webhook's inherit_labels, or exclude LLMInferenceService from the rule")


def llm_inference_service(doc: Document, config: ModelConfig) -> Shape | None:
    """KServe LLMInferenceService: ``template`` (and ``prefill.template``) are bare pod specs.

    With a ``worker`` pod spec each replica is a multi-node group of data/dataLocal pods (a leader from
    ``template`` and the rest from ``worker``), as the controller builds a LeaderWorkerSet. The pods carry
    the controller's own labels and only the kueue.x-k8s.io ones of the object (``LLMISVC_COPIED``).
    """
    roles: list[RoleSource] = []
    for prefix, name in ((("spec",), "decode"), (("spec", "prefill"), "prefill")):
        if not isinstance(fields.get(doc.obj, (*prefix, "template")), dict):
            continue
        groups = replicas_at(doc, (*prefix, "replicas"))
        roles.append(_llmisvc_role(doc, name, (*prefix, "template"), groups))
        if isinstance(fields.get(doc.obj, (*prefix, "worker")), dict):
            data = fields.integer(doc, (*prefix, "parallelism", "data"), 1) or 1
            local = fields.integer(doc, (*prefix, "parallelism", "dataLocal"), 1) or 1
            size = max(data // local, 1)
            workers = Replicas(
                groups.count * (size - 1),
                path=(*prefix, "parallelism"),
                note=f"{groups.count} group(s) x ({size} pods per group - leader)",
            )
            roles.append(_llmisvc_role(doc, f"{name}-worker", (*prefix, "worker"), workers))
    if not roles:
        return None
    return Shape(roles, runtime.continuous(config, "an LLMInferenceService serves all month"))


def _llmisvc_role(doc: Document, name: str, path: FieldPath, replicas: Replicas) -> RoleSource:
    fixed = (("app.kubernetes.io/name", str(fields.get(doc.obj, ("metadata", "name")) or "")),
             ("app.kubernetes.io/part-of", "llminferenceservice"))
    return RoleSource(name, path, None, replicas, template_path=path, inherited_meta=(("metadata",),),
                      fix_meta=("metadata", "namespace"), copied_prefixes=LLMISVC_COPIED, fixed_labels=fixed,
                      labels_note=_LLMISVC_NOTE)


def leader_worker_set(doc: Document, config: ModelConfig) -> Shape | None:
    """``replicas`` groups of ``size`` pods: a leader (leaderTemplate or workerTemplate) + size-1 workers."""
    lwt: FieldPath = ("spec", "leaderWorkerTemplate")
    require(doc, (*lwt, "workerTemplate"))
    groups = replicas_at(doc, ("spec", "replicas"))
    size = fields.integer(doc, (*lwt, "size"), 1, minimum=1) or 1
    leader_path = (
        (*lwt, "leaderTemplate")
        if isinstance(fields.get(doc.obj, (*lwt, "leaderTemplate")), dict)
        else (*lwt, "workerTemplate")
    )
    roles = [
        template_role(
            doc,
            "leader",
            leader_path,
            Replicas(groups.count, path=groups.path, note=f"one leader per group ({groups.note})"),
        )
    ]
    if size > 1:
        roles.append(
            template_role(
                doc,
                "worker",
                (*lwt, "workerTemplate"),
                Replicas(
                    groups.count * (size - 1),
                    path=(*lwt, "size"),
                    note=f"{groups.count} group(s) x (size {size} - 1 leader)",
                ),
            )
        )
    return Shape(roles, runtime.continuous(config, "a LeaderWorkerSet runs all month"))


def notebook(doc: Document, config: ModelConfig) -> Shape:
    """Kubeflow culling is configured on the controller (ENABLE_CULLING, CULL_IDLE_TIME), not per notebook:
    only the policy-engine.io/idle-timeout annotation declares a notebook's idle shutdown."""
    require(doc, ("spec", "template"))
    role = template_role(doc, "notebook", ("spec", "template"), Replicas(1, note="one notebook pod"))
    # The notebook controller builds the StatefulSet's pod template itself and copies the Notebook's
    # own metadata.labels/annotations onto it; spec.template.metadata is not used.
    role.meta_path = ("metadata",)
    return Shape([role], runtime.continuous(config, "a Notebook runs until culled or stopped"))


def nim_service(doc: Document, config: ModelConfig) -> Shape:
    """NVIDIA NIM operator NIMService: ``spec.resources`` for its one container, ``spec.replicas`` pods."""
    spec: FieldPath = ("spec",)
    low = fields.integer(doc, ("spec", "scale", "hpa", "minReplicas"), None)
    if fields.get(doc.obj, ("spec", "scale", "enabled")) is True and low is not None:
        high = fields.integer(doc, ("spec", "scale", "hpa", "maxReplicas"), None)
        replicas = autoscaled(doc, None, low, high, ("spec", "scale", "hpa", "minReplicas"), "NIM HPA")
    else:
        replicas = replicas_at(doc, ("spec", "replicas"))
    role = RoleSource("nim", spec, ("spec",), replicas, containers=(ContainerRef(spec),), template_path=spec)
    return Shape([role], runtime.continuous(config, "a NIMService serves all month"))


def kaito_workspace(doc: Document, config: ModelConfig) -> Shape:
    """KAITO Workspace: ``resource.count`` nodes of ``resource.instanceType``, pods from its template.

    A preset workspace has no template: the role then carries only the instance type, which the
    pricing step prices (its GPUs come from the catalog's instance type, not from a resource request).
    """
    count = replicas_at(doc, ("resource", "count"))
    template: FieldPath = ("inference", "template")
    if isinstance(fields.get(doc.obj, (*template, "spec")), dict):
        role = template_role(doc, "inference", template, count)
    else:  # KAITO labels a preset's pods kaito.sh/workspace only: none of the Workspace's labels
        name = str(fields.get(doc.obj, ("metadata", "name")) or "")
        role = RoleSource(
            "inference", ("inference",), None, count, containers=(), template_path=("inference",),
            inherited_meta=(("metadata",),), fix_meta=("metadata", "namespace"), copied_prefixes=(),
            fixed_labels=(("kaito.sh/workspace", name),),
            labels_note="KAITO labels a preset Workspace's pods kaito.sh/workspace only: give it an "
                        "inference.template with the labels, or label the namespace for the webhook's "
                        "inherit_labels",
        )
    instance = fields.get(doc.obj, ("resource", "instanceType"))
    if instance:
        role.instance_type_override = (str(instance), ("resource", "instanceType"))
    if fields.get(doc.obj, ("tuning",)) is not None:  # fine-tuning runs a Job: bounded only if declared
        # KAITO's tuning Job carries no deadline and none of the Workspace's annotations: Job rules judge it
        return Shape([role], runtime.bounded_job(doc, [], [META_ANNOTATIONS]),
                     admitted_run_time=runtime.bounded_job(doc, [], []), creates="Job")
    return Shape([role], runtime.continuous(config, "a KAITO Workspace serves all month"))
