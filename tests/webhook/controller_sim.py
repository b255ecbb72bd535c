"""A small simulator of the Kubernetes controllers: the objects they create from a workload.

Each ``derive_*`` function returns the direct children one controller creates, the way the real
controller builds them: generated names, ``ownerReferences`` (controller: true), and labels and
annotations copied exactly as upstream copies them (the pod template's labels reach the pods; the
deployment controller adds ``pod-template-hash``; a CronJob's ``jobTemplate.metadata`` becomes the Job's;
KServe and the notebook controller copy the object's own labels; Argo puts ``podMetadata`` and the
template's metadata on each pod; …). ``chain`` walks the whole tree (CronJob → Job → Pod, Deployment →
ReplicaSet → Pod, Notebook → StatefulSet → Pod, …). One pod per role is derived: replicas of one
template are identical to a policy. Upstream references are named beside each function.

Not simulated (documented in docs/webhook.md): Katib's Suggestion Deployment and metrics-collector
sidecar, KServe's router/scheduler Deployment of an LLMInferenceService, Volcano's PodGroup.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

Obj = dict[str, Any]


def _group(obj: Obj) -> str:
    api = str(obj.get("apiVersion") or "")
    return api.split("/", 1)[0] if "/" in api else ""


def _meta(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _name(obj: Obj) -> str:
    meta = _meta(obj)
    return str(meta.get("name") or meta.get("generateName") or "unnamed").rstrip("-")


def _count(value: Any, default: int = 1) -> int:
    """A replica count as the controller reads it; a controller at 0 replicas creates no pods."""
    return value if isinstance(value, int) else default


def _suffix(*parts: str, n: int = 5) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


def _owner(parent: Obj) -> list[Obj]:
    return [{"apiVersion": parent.get("apiVersion"), "kind": parent.get("kind"), "name": _name(parent),
             "uid": _suffix("uid", _name(parent), n=12), "controller": True, "blockOwnerDeletion": True}]


def _child(parent: Obj, api_version: str, kind: str, name: str, labels: dict[str, str],
           annotations: dict[str, str], spec: Obj | None, *, generate_name: str | None = None) -> Obj:
    meta: Obj = {"name": name, "labels": labels, "ownerReferences": _owner(parent)}
    if generate_name:
        meta["generateName"] = generate_name
    if annotations:
        meta["annotations"] = annotations
    namespace = _meta(parent).get("namespace")
    if namespace:
        meta["namespace"] = namespace
    out: Obj = {"apiVersion": api_version, "kind": kind, "metadata": meta}
    if spec is not None:
        out["spec"] = spec
    return out


def _template(template: Any) -> tuple[dict[str, str], dict[str, str], Obj]:
    """A PodTemplateSpec's labels, annotations and pod spec (deep copies)."""
    template = template if isinstance(template, dict) else {}
    meta = template.get("metadata") if isinstance(template.get("metadata"), dict) else {}
    spec = template.get("spec") if isinstance(template.get("spec"), dict) else {}
    return _map(meta.get("labels")), _map(meta.get("annotations")), copy.deepcopy(spec)


def _pod_from_template(parent: Obj, template: Any, name: str, extra_labels: dict[str, str],
                       extra_annotations: dict[str, str] | None = None, **spec_overrides: Any) -> Obj:
    labels, annotations, spec = _template(template)
    spec.update(spec_overrides)
    return _child(parent, "v1", "Pod", name, {**labels, **extra_labels},
                  {**annotations, **(extra_annotations or {})}, spec, generate_name=name.rsplit("-", 1)[0] + "-")


# ---- kubernetes/pkg/controller: deployment, replicaset, statefulset, daemonset, job, cronjob ----

def derive_deployment(obj: Obj) -> list[Obj]:
    """pkg/controller/deployment/sync.go: the ReplicaSet's labels are the template's + pod-template-hash;
    its annotations the Deployment's (minus last-applied) + revision; the template gets the hash too."""
    spec = obj.get("spec") or {}
    template = copy.deepcopy(spec.get("template") or {})
    pod_hash = _suffix("pth", repr(template), n=10)
    meta = template.setdefault("metadata", {})
    meta["labels"] = {**_map(meta.get("labels")), "pod-template-hash": pod_hash}
    annotations = {k: v for k, v in _map(_meta(obj).get("annotations")).items()
                   if k != "kubectl.kubernetes.io/last-applied-configuration"}
    annotations.update({"deployment.kubernetes.io/revision": "1",
                        "deployment.kubernetes.io/desired-replicas": str(spec.get("replicas", 1))})
    rs_spec = {"replicas": spec.get("replicas", 1), "selector": spec.get("selector"), "template": template}
    return [_child(obj, "apps/v1", "ReplicaSet", f"{_name(obj)}-{pod_hash}", dict(meta["labels"]),
                   annotations, rs_spec)]


def derive_replicaset(obj: Obj) -> list[Obj]:
    """pkg/controller/replicaset: pods from the template, generateName ``<rs>-``."""
    if _count((obj.get("spec") or {}).get("replicas")) == 0:
        return []
    template = (obj.get("spec") or {}).get("template")
    return [_pod_from_template(obj, template, f"{_name(obj)}-{_suffix(_name(obj))}", {})]


def derive_statefulset(obj: Obj) -> list[Obj]:
    """pkg/controller/statefulset/stateful_set_utils.go newVersionedStatefulSetPod."""
    if _count((obj.get("spec") or {}).get("replicas")) == 0:
        return []
    template = (obj.get("spec") or {}).get("template")
    name = f"{_name(obj)}-0"
    return [_pod_from_template(obj, template, name, {
        "controller-revision-hash": f"{_name(obj)}-{_suffix('rev', _name(obj), n=10)}",
        "statefulset.kubernetes.io/pod-name": name, "apps.kubernetes.io/pod-index": "0"})]


def derive_daemonset(obj: Obj) -> list[Obj]:
    template = (obj.get("spec") or {}).get("template")
    return [_pod_from_template(obj, template, f"{_name(obj)}-{_suffix(_name(obj))}", {
        "controller-revision-hash": _suffix("rev", _name(obj), n=10), "pod-template-generation": "1"})]


def derive_job(obj: Obj) -> list[Obj]:
    """pkg/controller/job: the template's labels + job-name / controller-uid; the tracking finalizer."""
    if _count((obj.get("spec") or {}).get("parallelism")) == 0 or (obj.get("spec") or {}).get("suspend") is True:
        return []
    template = (obj.get("spec") or {}).get("template")
    uid = _suffix("uid", _name(obj), n=12)
    pod = _pod_from_template(obj, template, f"{_name(obj)}-{_suffix(_name(obj))}", {
        "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": _name(obj),
        "controller-uid": uid, "job-name": _name(obj)})
    pod["metadata"]["finalizers"] = ["batch.kubernetes.io/job-tracking"]
    return [pod]


def derive_cronjob(obj: Obj) -> list[Obj]:
    """pkg/controller/cronjob/utils.go getJobFromTemplate2: the Job's labels and annotations are the
    jobTemplate's metadata (+ the scheduled timestamp); its spec is jobTemplate.spec."""
    job_template = (obj.get("spec") or {}).get("jobTemplate") or {}
    meta = m if isinstance(m := job_template.get("metadata"), dict) else {}
    annotations = {**_map(meta.get("annotations")),
                   "batch.kubernetes.io/cronjob-scheduled-timestamp": "2026-01-01T00:00:00Z"}
    return [_child(obj, "batch/v1", "Job", f"{_name(obj)}-29430000", _map(meta.get("labels")), annotations,
                   copy.deepcopy(job_template.get("spec") or {}))]


# ---- kubeflow training-operator, SageMaker HyperPod, Volcano ----

_REPLICA_SPECS = {"PyTorchJob": "pytorchReplicaSpecs", "TFJob": "tfReplicaSpecs", "MPIJob": "mpiReplicaSpecs",
                  "XGBoostJob": "xgbReplicaSpecs", "PaddleJob": "paddleReplicaSpecs", "JAXJob": "jaxReplicaSpecs",
                  "MXJob": "mxReplicaSpecs"}


def derive_training_job(obj: Obj) -> list[Obj]:
    """training-operator pkg/controller.v1/common/pod.go: template labels + training.kubeflow.org/*."""
    out = []
    for rtype, spec in ((obj.get("spec") or {}).get(_REPLICA_SPECS[str(obj["kind"])]) or {}).items():
        if not isinstance(spec, dict) or not isinstance(spec.get("template"), dict) \
                or _count(spec.get("replicas")) == 0:
            continue
        name = f"{_name(obj)}-{str(rtype).lower()}-0"
        out.append(_pod_from_template(obj, spec["template"], name, {
            "training.kubeflow.org/job-name": _name(obj), "training.kubeflow.org/operator-name": "kubeflow",
            "training.kubeflow.org/replica-type": str(rtype).lower(), "training.kubeflow.org/replica-index": "0"}))
    return out


def derive_hyperpod(obj: Obj) -> list[Obj]:
    out = []
    for i, spec in enumerate((obj.get("spec") or {}).get("replicaSpecs") or []):
        if isinstance(spec, dict) and isinstance(spec.get("template"), dict):
            out.append(_pod_from_template(obj, spec["template"], f"{_name(obj)}-{spec.get('name', i)}-0",
                                          {"sagemaker.amazonaws.com/job-name": _name(obj)}))
    return out


def derive_volcano_job(obj: Obj) -> list[Obj]:
    out = []
    for i, task in enumerate((obj.get("spec") or {}).get("tasks") or []):
        if isinstance(task, dict) and isinstance(task.get("template"), dict):
            task_name = str(task.get("name") or i)
            out.append(_pod_from_template(obj, task["template"], f"{_name(obj)}-{task_name}-0", {
                "volcano.sh/job-name": _name(obj), "volcano.sh/task-spec": task_name}))
    return out


# ---- KubeRay ----

def derive_raycluster(obj: Obj, base: Obj | None = None) -> list[Obj]:
    """ray-operator controllers/ray/common/pod.go: template labels + ray.io/* (cluster labels not copied)."""
    spec = base if base is not None else (obj.get("spec") or {})
    out = []
    head = (spec.get("headGroupSpec") or {}).get("template")
    if isinstance(head, dict):
        out.append(_pod_from_template(obj, head, f"{_name(obj)}-head-{_suffix('h', _name(obj))}", {
            "ray.io/cluster": _name(obj), "ray.io/node-type": "head", "ray.io/group": "headgroup",
            "app.kubernetes.io/created-by": "kuberay-operator"}))
    autoscaling = spec.get("enableInTreeAutoscaling") is True
    for group in spec.get("workerGroupSpecs") or []:
        if not isinstance(group, dict) or group.get("suspend") is True:
            continue
        count = _count(group.get("replicas"), _count(group.get("minReplicas"), 0))
        if count == 0 and not (autoscaling and _count(group.get("maxReplicas"), 1) > 0):
            continue
        if isinstance(group.get("template"), dict):
            g = str(group.get("groupName") or "workers")
            out.append(_pod_from_template(obj, group["template"], f"{_name(obj)}-{g}-worker-{_suffix(g)}", {
                "ray.io/cluster": _name(obj), "ray.io/node-type": "worker", "ray.io/group": g,
                "app.kubernetes.io/created-by": "kuberay-operator"}))
    return out


def derive_rayjob(obj: Obj) -> list[Obj]:
    """rayjob_controller.go constructRayClusterForRayJob: the RayJob's labels + ray.io/originated-from-*;
    spec is rayClusterSpec (a RayService's rayClusterConfig likewise). A RayJob in K8sJobMode (the
    default) also gets its submitter Job (``createNewK8sJob``): named as the RayJob, labelled only
    ray.io/originated-from-* and app.kubernetes.io/created-by, its pod template ``spec.submitterPodTemplate``
    copied as is, else ``GetDefaultSubmitterTemplate`` (no metadata at all)."""
    spec = obj.get("spec") or {}
    cluster_spec = spec.get("rayClusterSpec") if obj["kind"] == "RayJob" else spec.get("rayClusterConfig")
    origin = {"ray.io/originated-from-cr-name": _name(obj), "ray.io/originated-from-crd": str(obj["kind"])}
    out = []
    if isinstance(cluster_spec, dict):
        out.append(_child(obj, "ray.io/v1", "RayCluster", f"{_name(obj)}-{_suffix('rc', _name(obj))}",
                          {**_map(_meta(obj).get("labels")), **origin}, _map(_meta(obj).get("annotations")),
                          copy.deepcopy(cluster_spec)))
    if obj["kind"] == "RayJob" and spec.get("submissionMode") in (None, "K8sJobMode") \
            and (out or spec.get("clusterSelector")):
        template = copy.deepcopy(spec.get("submitterPodTemplate")) if isinstance(
            spec.get("submitterPodTemplate"), dict) else _default_submitter(cluster_spec)
        job_spec = {"backoffLimit": (spec.get("submitterConfig") or {}).get("backoffLimit", 2), "template": template}
        out.append(_child(obj, "batch/v1", "Job", _name(obj),
                          {**origin, "app.kubernetes.io/created-by": "kuberay-operator"}, {}, job_spec))
    return out


def _default_submitter(cluster_spec: Any) -> Obj:
    """ray-operator common/job.go GetDefaultSubmitterTemplate: the head's image, fixed resources."""
    head = ((cluster_spec or {}).get("headGroupSpec") or {}).get("template") or {}
    containers = (head.get("spec") or {}).get("containers") or [{}]
    return {"spec": {"restartPolicy": "Never", "containers": [{
        "name": "ray-job-submitter", "image": containers[0].get("image", "rayproject/ray:latest"),
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "200Mi"}}}]}}


# ---- JobSet, LeaderWorkerSet ----

def derive_jobset(obj: Obj) -> list[Obj]:
    """jobset pkg/controllers/jobset_controller.go constructJob: the replicatedJob template's labels and
    annotations + jobset.sigs.k8s.io/*, added to the Job and to its pod template."""
    out = []
    for rj in (obj.get("spec") or {}).get("replicatedJobs") or []:
        if not isinstance(rj, dict) or not isinstance(rj.get("template"), dict):
            continue
        rj_name = str(rj.get("name") or "job")
        extra = {"jobset.sigs.k8s.io/jobset-name": _name(obj), "jobset.sigs.k8s.io/replicatedjob-name": rj_name,
                 "jobset.sigs.k8s.io/job-index": "0"}
        labels, annotations, spec = _template(rj["template"])
        pod_template = spec.setdefault("template", {})
        pod_meta = pod_template.setdefault("metadata", {})
        pod_meta["labels"] = {**_map(pod_meta.get("labels")), **extra}
        out.append(_child(obj, "batch/v1", "Job", f"{_name(obj)}-{rj_name}-0", {**labels, **extra},
                          annotations, spec))
    return out


def derive_lws(obj: Obj) -> list[Obj]:
    """lws pkg/controllers: a leader StatefulSet from leaderTemplate (else workerTemplate) and one worker
    StatefulSet per group from workerTemplate, their pod templates carrying the template's labels."""
    lwt = (obj.get("spec") or {}).get("leaderWorkerTemplate") or {}
    leader = lwt.get("leaderTemplate") if isinstance(lwt.get("leaderTemplate"), dict) else lwt.get("workerTemplate")
    out = []
    for name, template, extra in ((_name(obj), leader, {"leaderworkerset.sigs.k8s.io/worker-index": "0"}),
                                  (f"{_name(obj)}-0", lwt.get("workerTemplate"), {})):
        if not isinstance(template, dict) or (name != _name(obj) and int(lwt.get("size") or 1) <= 1):
            continue
        t = copy.deepcopy(template)
        meta = t.setdefault("metadata", {})
        meta["labels"] = {**_map(meta.get("labels")), "leaderworkerset.sigs.k8s.io/name": _name(obj), **extra}
        out.append(_child(obj, "apps/v1", "StatefulSet", name, {"leaderworkerset.sigs.k8s.io/name": _name(obj)},
                          {}, {"replicas": 1, "template": t}))
    return out


# ---- Kubeflow Trainer v2, Katib ----

_ANCESTOR = "trainer.kubeflow.org/trainjob-ancestor-step"


def derive_trainjob(obj: Obj) -> list[Obj]:
    """kubeflow/trainer pkg/runtime/core/trainingruntime.go + plugins/jobset (jobset.go Build, builder.go):
    a JobSet named as the TrainJob from the runtime's ``spec.template``, labelled with that template's
    labels (the TrainJob's own are not copied); the trainer job (ancestor label ``trainer``) runs numNodes
    pods, its ``node`` container taking ``resourcesPerNode``; initializers run one; each
    ``podTemplateOverrides[].metadata`` is merged into the pod templates of the jobs it targets. The runtime
    is looked up as check looks it up for one document (the bundled upstream runtimes)."""
    from policy_engine.model.config import ModelConfig
    from policy_engine.model.training_runtimes import find_runtime

    spec = obj.get("spec") or {}
    ref = spec.get("runtimeRef") or {}
    if not ref.get("name"):
        return []
    found = find_runtime(ModelConfig(), str(ref.get("kind") or "ClusterTrainingRuntime"), str(ref["name"]),
                         _meta(obj).get("namespace"))
    if found is None:
        return []
    runtime = found[0].obj.get("spec") or {}
    template = runtime.get("template") or {}
    js_spec = copy.deepcopy(template.get("spec") or {})
    trainer = spec.get("trainer") or {}
    nodes = trainer.get("numNodes", (runtime.get("mlPolicy") or {}).get("numNodes", 1))
    for rj in js_spec.get("replicatedJobs") or []:
        job = rj.setdefault("template", {})
        pod = job.setdefault("spec", {}).setdefault("template", {})
        ancestor = _map((job.get("metadata") or {}).get("labels")).get(_ANCESTOR)
        if ancestor == "trainer":
            rj["replicas"] = 1
            job["spec"]["parallelism"] = job["spec"]["completions"] = nodes
            for c in (pod.get("spec") or {}).get("containers") or []:
                if c.get("name") == "node" and trainer.get("resourcesPerNode"):
                    c["resources"] = copy.deepcopy(trainer["resourcesPerNode"])
        elif ancestor in ("dataset-initializer", "model-initializer"):
            rj["replicas"] = 1
        for override in spec.get("podTemplateOverrides") or []:
            if rj.get("name") in {t.get("name") for t in override.get("targetJobs") or []}:
                meta = pod.setdefault("metadata", {})
                for key in ("labels", "annotations"):
                    merged = {**_map(meta.get(key)), **_map((override.get("metadata") or {}).get(key))}
                    if merged:
                        meta[key] = merged
    if spec.get("activeDeadlineSeconds") is not None:  # the TrainJob's own deadline bounds the JobSet's jobs
        for rj in js_spec.get("replicatedJobs") or []:
            rj["template"]["spec"].setdefault("activeDeadlineSeconds", spec["activeDeadlineSeconds"])
    meta = template.get("metadata") or {}
    return [_child(obj, "jobset.x-k8s.io/v1alpha2", "JobSet", _name(obj), _map(meta.get("labels")),
                   _map(meta.get("annotations")), js_spec)]


def derive_experiment(obj: Obj) -> list[Obj]:
    """katib experiment_util.go createTrialInstance: a Trial labelled with the Experiment's labels +
    katib.kubeflow.org/experiment, its runSpec the trialSpec (manifest/generator.go: name and namespace
    set, nothing else added). One trial: parallel trials are identical to a policy."""
    trial_spec = ((obj.get("spec") or {}).get("trialTemplate") or {}).get("trialSpec")
    if not isinstance(trial_spec, dict):
        return []
    name = f"{_name(obj)}-{_suffix('trial', _name(obj), n=8)}"
    run_spec = copy.deepcopy(trial_spec)
    run_meta = run_spec.setdefault("metadata", {})
    run_meta["name"] = name
    if _meta(obj).get("namespace"):
        run_meta["namespace"] = _meta(obj)["namespace"]
    labels = {**_map(_meta(obj).get("labels")), "katib.kubeflow.org/experiment": _name(obj)}
    return [_child(obj, "kubeflow.org/v1beta1", "Trial", name, labels, {}, {"runSpec": run_spec})]


def derive_trial(obj: Obj) -> list[Obj]:
    """katib trial_controller.go reconcileJob: the runSpec created as is, owned by the Trial."""
    run_spec = (obj.get("spec") or {}).get("runSpec")
    if not isinstance(run_spec, dict) or not run_spec.get("kind"):
        return []
    job = copy.deepcopy(run_spec)
    meta = job.setdefault("metadata", {})
    meta["ownerReferences"] = _owner(obj)
    meta.setdefault("name", _name(obj))
    if _meta(obj).get("namespace"):
        meta["namespace"] = _meta(obj)["namespace"]
    return [job]


# ---- KServe, Kubeflow Notebook, NVIDIA NIM, KAITO ----

_KSERVE_FRAMEWORKS = ("model", "sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx", "pmml",
                      "lightgbm", "paddle", "huggingface")


def derive_inferenceservice(obj: Obj) -> list[Obj]:
    """kserve pkg/controller/v1beta1/inferenceservice/components: each component's Deployment (raw mode)
    carries the InferenceService's labels/annotations ∪ the component's, on the object and the pods."""
    out = []
    for component in ("predictor", "transformer", "explainer"):
        spec = (obj.get("spec") or {}).get(component)
        if not isinstance(spec, dict):
            continue
        containers = [copy.deepcopy(spec[k]) | {"name": "kserve-container"} for k in _KSERVE_FRAMEWORKS
                      if isinstance(spec.get(k), dict)]
        containers += copy.deepcopy(spec.get("containers") or [])
        if not containers:
            continue
        for c in containers:
            for key in ("modelFormat", "storageUri", "runtime", "protocolVersion"):
                c.pop(key, None)
        pod_spec = {k: copy.deepcopy(v) for k, v in spec.items()
                    if k in ("nodeSelector", "affinity", "tolerations", "initContainers", "priorityClassName",
                             "serviceAccountName", "volumes", "runtimeClassName")}
        pod_spec["containers"] = containers
        labels = {**_map(_meta(obj).get("labels")), **_map(spec.get("labels")),
                  "serving.kserve.io/inferenceservice": _name(obj), "component": component}
        annotations = {**_map(_meta(obj).get("annotations")), **_map(spec.get("annotations"))}
        dep_spec = {"replicas": max(int(spec.get("minReplicas", 1) or 1), 1),
                    "selector": {"matchLabels": {"app": f"isvc.{_name(obj)}-{component}"}},
                    "template": {"metadata": {"labels": dict(labels), "annotations": dict(annotations)},
                                 "spec": pod_spec}}
        out.append(_child(obj, "apps/v1", "Deployment", f"{_name(obj)}-{component}", labels, annotations,
                          dep_spec))
    return out


def _kueue_only(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k.startswith("kueue.x-k8s.io")}


def derive_llminferenceservice(obj: Obj) -> list[Obj]:
    """kserve llmisvc workload_single_node.go / workload_multi_node.go: a Deployment (``template``), or a
    LeaderWorkerSet (with ``worker``), per decode and prefill; pod labels are the controller's fixed
    app.kubernetes.io/* / kserve.io/component / llm-d.ai/role, and ``propagateDeploymentMetadata`` copies
    only kueue.x-k8s.io* labels of the LLMInferenceService: its cost labels never reach a pod."""
    spec = obj.get("spec") or {}
    out = []
    copied = _kueue_only(_map(_meta(obj).get("labels")))
    for part, holder in (("", spec), ("-prefill", spec.get("prefill"))):
        if not isinstance(holder, dict) or not (isinstance(holder.get("template"), dict)
                                                or isinstance(holder.get("worker"), dict)):
            continue
        role = "prefill" if part else ("decode" if isinstance(spec.get("prefill"), dict) else "both")
        base = {"app.kubernetes.io/name": _name(obj), "app.kubernetes.io/part-of": "llminferenceservice"}
        if isinstance(holder.get("worker"), dict):
            leader = {**base, "app.kubernetes.io/component": f"llminferenceservice-workload-leader{part}",
                      "kserve.io/component": "workload", "llm-d.ai/role": role, **copied}
            worker = {**base, "app.kubernetes.io/component": f"llminferenceservice-workload-worker{part}", **copied}
            size = ((holder.get("parallelism") or {}).get("data") or 1) // max(
                (holder.get("parallelism") or {}).get("dataLocal") or 1, 1)
            lwt: Obj = {"size": max(size, 1), "workerTemplate": {"metadata": {"labels": worker},
                                                                 "spec": copy.deepcopy(holder["worker"])}}
            if isinstance(holder.get("template"), dict):
                lwt["leaderTemplate"] = {"metadata": {"labels": leader}, "spec": copy.deepcopy(holder["template"])}
            out.append(_child(obj, "leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet",
                              f"{_name(obj)}-kserve-mn{part}", {**worker}, {},
                              {"replicas": holder.get("replicas", 1), "leaderWorkerTemplate": lwt}))
        else:
            labels = {**base, "app.kubernetes.io/component": f"llminferenceservice-workload{part}",
                      "kserve.io/component": "workload", "llm-d.ai/role": role, **copied}
            dep_spec = {"replicas": holder.get("replicas", 1), "selector": {"matchLabels": dict(labels)},
                        "template": {"metadata": {"labels": dict(labels)},
                                     "spec": copy.deepcopy(holder["template"])}}
            out.append(_child(obj, "apps/v1", "Deployment", f"{_name(obj)}-kserve{part}", labels, {}, dep_spec))
    return out


def derive_kaito_workspace(obj: Obj) -> list[Obj]:
    """kaito pkg/workspace/manifests GenerateDeploymentManifestWithPodTemplate: with ``inference.template``
    the pods carry that template's labels + kaito.sh/workspace; a preset's Deployment (a tuning
    Workspace's Job) labels its pods kaito.sh/workspace only, its container asking for every GPU of the
    ``resource.instanceType`` node (the bundled catalog's count) with no memory limit. The Workspace's own
    labels are never copied."""
    from policy_engine.pricing.catalog import load_catalog

    inference = obj.get("inference") or {}
    resource = obj.get("resource") or {}
    label = {"kaito.sh/workspace": _name(obj)}
    if isinstance(inference.get("template"), dict):
        template = copy.deepcopy(inference["template"])
        meta = template.setdefault("metadata", {})
        meta["labels"] = {**_map(meta.get("labels")), **label}
    else:
        inst = load_catalog().instance_types.get(str(resource.get("instanceType")))
        gpus = {"nvidia.com/gpu": f"{inst.gpus:g}"} if inst is not None and inst.gpus else {}
        container = {"name": _name(obj), "image": "mcr.microsoft.com/aks/kaito/preset",
                     "resources": {"requests": dict(gpus), "limits": dict(gpus)}}
        template = {"metadata": {"labels": dict(label)}, "spec": {"containers": [container]}}
    if resource.get("instanceType"):
        template.setdefault("spec", {}).setdefault("nodeSelector", {})[
            "node.kubernetes.io/instance-type"] = resource["instanceType"]
    if "tuning" in obj:  # a fine-tuning Workspace runs a Job
        template["spec"]["restartPolicy"] = "Never"
        return [_child(obj, "batch/v1", "Job", _name(obj), dict(label), {}, {"template": template})]
    dep_spec = {"replicas": resource.get("count", 1), "selector": {"matchLabels": dict(label)}, "template": template}
    return [_child(obj, "apps/v1", "Deployment", _name(obj), dict(label), {}, dep_spec)]


def derive_notebook(obj: Obj) -> list[Obj]:
    """kubeflow notebook-controller generateStatefulSet: the pod template's labels are statefulset /
    notebook-name + every Notebook label; its annotations the Notebook's (without kubectl/notebook ones)."""
    _, _, pod_spec = _template((obj.get("spec") or {}).get("template"))
    labels = {"statefulset": _name(obj), "notebook-name": _name(obj), **_map(_meta(obj).get("labels"))}
    annotations = {k: v for k, v in _map(_meta(obj).get("annotations")).items()
                   if "kubectl" not in k and "notebook" not in k}
    spec = {"replicas": 1, "selector": {"matchLabels": {"statefulset": _name(obj)}},
            "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod_spec}}
    return [_child(obj, "apps/v1", "StatefulSet", _name(obj), {}, {}, spec)]


def derive_nimservice(obj: Obj) -> list[Obj]:
    """k8s-nim-operator: a Deployment whose pods carry spec.labels / spec.annotations."""
    spec = obj.get("spec") or {}
    labels = {**_map(spec.get("labels")), "app": _name(obj)}
    annotations = _map(spec.get("annotations"))
    container = {"name": "nim", "image": "nim", "resources": copy.deepcopy(spec.get("resources") or {})}
    pod_spec: Obj = {"containers": [container]}
    for key in ("nodeSelector", "tolerations", "affinity"):
        if key in spec:
            pod_spec[key] = copy.deepcopy(spec[key])
    dep_spec = {"replicas": spec.get("replicas", 1), "template": {
        "metadata": {"labels": dict(labels), "annotations": dict(annotations)}, "spec": pod_spec}}
    return [_child(obj, "apps/v1", "Deployment", _name(obj), labels, annotations, dep_spec)]


# ---- Argo Workflows ----

def derive_workflow(obj: Obj) -> list[Obj]:
    """argo workflow/controller/workflowpod.go: a pod per container-running template; its labels are
    spec.podMetadata's + the template's metadata + workflows.argoproj.io/* (the Workflow's own are not)."""
    spec = obj.get("spec") or {}
    pod_meta = m if isinstance(m := spec.get("podMetadata"), dict) else {}
    out = []
    for tpl in spec.get("templates") or []:
        if not isinstance(tpl, dict):
            continue
        containers = [copy.deepcopy(tpl[k]) for k in ("container", "script") if isinstance(tpl.get(k), dict)]
        containers += copy.deepcopy((tpl.get("containerSet") or {}).get("containers") or [])
        if not containers:
            continue
        for c in containers:
            c.pop("source", None)
            c.setdefault("name", "main")
        containers += copy.deepcopy(tpl.get("sidecars") or [])
        own = m if isinstance(m := tpl.get("metadata"), dict) else {}
        labels = {**_map(pod_meta.get("labels")), **_map(own.get("labels")),
                  "workflows.argoproj.io/workflow": _name(obj), "workflows.argoproj.io/completed": "false"}
        annotations = {**_map(pod_meta.get("annotations")), **_map(own.get("annotations")),
                       "workflows.argoproj.io/node-name": f"{_name(obj)}.{tpl.get('name')}"}
        pod_spec: Obj = {"restartPolicy": "Never", "containers": containers}
        if tpl.get("initContainers"):
            pod_spec["initContainers"] = copy.deepcopy(tpl["initContainers"])
        for key in ("nodeSelector", "affinity", "tolerations", "priorityClassName"):
            source = tpl if key in tpl else spec
            if key in source:
                pod_spec[key] = copy.deepcopy(source[key])
        name = f"{_name(obj)}-{tpl.get('name', 'main')}-{_suffix(str(tpl.get('name')), n=10)}"
        out.append(_child(obj, "v1", "Pod", name, labels, annotations, pod_spec))
    return out


def derive_cronworkflow(obj: Obj) -> list[Obj]:
    """argo cron: a Workflow from workflowSpec, labelled with workflowMetadata's labels + the cron's name."""
    spec = obj.get("spec") or {}
    wf_meta = m if isinstance(m := spec.get("workflowMetadata"), dict) else {}
    labels = {**_map(wf_meta.get("labels")), "workflows.argoproj.io/cron-workflow": _name(obj)}
    return [_child(obj, "argoproj.io/v1alpha1", "Workflow", f"{_name(obj)}-1767225600", labels,
                   _map(wf_meta.get("annotations")), copy.deepcopy(spec.get("workflowSpec") or {}))]


_CONTROLLERS: dict[tuple[str, str], Callable[[Obj], list[Obj]]] = {
    **{(g, "Deployment"): derive_deployment for g in ("apps", "extensions")},
    **{(g, "ReplicaSet"): derive_replicaset for g in ("apps", "extensions")},
    ("", "ReplicationController"): derive_replicaset,
    **{(g, "StatefulSet"): derive_statefulset for g in ("apps", "extensions")},
    **{(g, "DaemonSet"): derive_daemonset for g in ("apps", "extensions")},
    ("batch", "Job"): derive_job,
    ("batch", "CronJob"): derive_cronjob,
    **{("kubeflow.org", k): derive_training_job for k in _REPLICA_SPECS},
    ("sagemaker.amazonaws.com", "HyperPodPyTorchJob"): derive_hyperpod,
    ("batch.volcano.sh", "Job"): derive_volcano_job,
    ("ray.io", "RayCluster"): derive_raycluster,
    ("ray.io", "RayJob"): derive_rayjob,
    ("ray.io", "RayService"): derive_rayjob,
    ("jobset.x-k8s.io", "JobSet"): derive_jobset,
    ("leaderworkerset.x-k8s.io", "LeaderWorkerSet"): derive_lws,
    ("serving.kserve.io", "InferenceService"): derive_inferenceservice,
    ("kubeflow.org", "Notebook"): derive_notebook,
    ("apps.nvidia.com", "NIMService"): derive_nimservice,
    ("argoproj.io", "Workflow"): derive_workflow,
    ("trainer.kubeflow.org", "TrainJob"): derive_trainjob,
    ("kubeflow.org", "Experiment"): derive_experiment,
    ("kubeflow.org", "Trial"): derive_trial,
    ("serving.kserve.io", "LLMInferenceService"): derive_llminferenceservice,
    ("kaito.sh", "Workspace"): derive_kaito_workspace,
    ("argoproj.io", "CronWorkflow"): derive_cronworkflow,
}

#: Kinds whose controller this simulator knows (the invariant test reports the others as not derived).
SIMULATED = frozenset(kind for _, kind in _CONTROLLERS)


def simulated(obj: Obj) -> bool:
    return (_group(obj), str(obj.get("kind"))) in _CONTROLLERS


def children(obj: Obj) -> list[Obj]:
    """The objects the controller of ``obj`` creates directly ([] for a Pod or an unknown kind)."""
    derive = _CONTROLLERS.get((_group(obj), str(obj.get("kind"))))
    return derive(obj) if derive is not None else []


def chain(obj: Obj) -> Iterator[Obj]:
    """Every object derived from ``obj``, depth first (not ``obj`` itself)."""
    for child in children(obj):
        yield child
        yield from chain(child)
