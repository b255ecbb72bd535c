"""What the controller watches and how it stops each kind: one row per workload resource.

Every kind the workload model knows (``KNOWN_KINDS``) is listed in ``webhook.manifests.WORKLOAD_RESOURCES``
with its API group and resource; this module adds the version served and the kind's own stop mechanism:

- ``scale``: the scale subresource to 0, the previous replicas kept in an annotation (Deployment,
  StatefulSet, ReplicaSet, ReplicationController, LeaderWorkerSet);
- ``notebook``: Kubeflow's ``kubeflow-resource-stopped`` annotation (the notebook controller scales the
  notebook's StatefulSet to 0 and back when it is removed);
- ``kserve``: ``spec.predictor.minReplicas: 0`` (KServe's scale-to-zero; Knative scales the idle predictor
  away), the previous value kept in an annotation;
- ``suspend``: ``spec.suspend: true`` (Job, JobSet, RayCluster, RayJob, the training-operator jobs,
  TrainJob), the previous value kept in an annotation;
- ``pod``: a bare Pod has no stop but deletion, done only when the policy says ``delete_pods``;
- ``none``: no safe stop (DaemonSet, CronJob, Workflow…): the controller notifies and reports only.
"""

from __future__ import annotations

from dataclasses import dataclass

from policy_engine.model.kinds import KNOWN_KINDS
from policy_engine.webhook.manifests import WORKLOAD_RESOURCES

#: (group, resource) -> the version the controller reads (the one each project documents as stable/served).
VERSIONS: dict[tuple[str, str], str] = {
    ("", "pods"): "v1", ("", "replicationcontrollers"): "v1",
    ("apps", "deployments"): "v1", ("apps", "replicasets"): "v1", ("apps", "statefulsets"): "v1",
    ("apps", "daemonsets"): "v1", ("batch", "jobs"): "v1", ("batch", "cronjobs"): "v1",
    ("batch.volcano.sh", "jobs"): "v1alpha1",
    ("kubeflow.org", "pytorchjobs"): "v1", ("kubeflow.org", "tfjobs"): "v1", ("kubeflow.org", "mpijobs"): "v1",
    ("kubeflow.org", "xgboostjobs"): "v1", ("kubeflow.org", "paddlejobs"): "v1", ("kubeflow.org", "jaxjobs"): "v1",
    ("kubeflow.org", "mxjobs"): "v1", ("kubeflow.org", "notebooks"): "v1", ("kubeflow.org", "experiments"): "v1beta1",
    ("kubeflow.org", "trials"): "v1beta1",
    ("trainer.kubeflow.org", "trainjobs"): "v1alpha1",
    ("sagemaker.amazonaws.com", "hyperpodpytorchjobs"): "v1",
    ("jobset.x-k8s.io", "jobsets"): "v1alpha2",
    ("argoproj.io", "workflows"): "v1alpha1", ("argoproj.io", "cronworkflows"): "v1alpha1",
    ("ray.io", "rayclusters"): "v1", ("ray.io", "rayjobs"): "v1", ("ray.io", "rayservices"): "v1",
    ("serving.kserve.io", "inferenceservices"): "v1beta1", ("serving.kserve.io", "llminferenceservices"): "v1alpha1",
    ("leaderworkerset.x-k8s.io", "leaderworkersets"): "v1",
    ("apps.nvidia.com", "nimservices"): "v1alpha1",
    ("kaito.sh", "workspaces"): "v1beta1",
}

SCALE, NOTEBOOK, KSERVE, SUSPEND, POD, NONE = "scale", "notebook", "kserve", "suspend", "pod", "none"
_STOP: dict[str, str] = {
    "Deployment": SCALE, "StatefulSet": SCALE, "ReplicaSet": SCALE, "ReplicationController": SCALE,
    "LeaderWorkerSet": SCALE, "Notebook": NOTEBOOK, "InferenceService": KSERVE,
    "Job": SUSPEND, "JobSet": SUSPEND, "RayCluster": SUSPEND, "RayJob": SUSPEND, "TrainJob": SUSPEND,
    "PyTorchJob": SUSPEND, "TFJob": SUSPEND, "MPIJob": SUSPEND, "XGBoostJob": SUSPEND, "PaddleJob": SUSPEND,
    "JAXJob": SUSPEND, "MXJob": SUSPEND, "Pod": POD,
}


@dataclass(frozen=True, slots=True)
class Resource:
    kind: str
    group: str
    version: str
    plural: str
    stop: str  # one of SCALE, NOTEBOOK, KSERVE, SUSPEND, POD, NONE

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """``apps/v1/deployments``: how logs, metrics and settings name it."""
        return f"{self.api_version}/{self.plural}"

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else "/api/v1"
        ns = f"/namespaces/{namespace}" if namespace else ""
        tail = "".join(f"/{p}" for p in (name, sub) if p)
        return f"{base}{ns}/{self.plural}{tail}"


def workload_resources() -> tuple[Resource, ...]:
    """Every resource of every kind the model knows (Pods are the cluster cache's, not listed here)."""
    out = []
    for kind in sorted(KNOWN_KINDS):
        for group, plural in WORKLOAD_RESOURCES.get(kind, ()):
            if kind == "Pod":
                continue
            out.append(Resource(kind, group, VERSIONS[(group, plural)], plural, _STOP.get(kind, NONE)))
    return tuple(out)


def stop_of(kind: str) -> str:
    return _STOP.get(kind, NONE)


def by_kind(resources: tuple[Resource, ...]) -> dict[str, Resource]:
    """kind -> its resource (the core group's wins where a kind lives in two, e.g. batch Job over Volcano's)."""
    out: dict[str, Resource] = {}
    for r in resources:
        if r.kind not in out or r.group in ("", "apps", "batch"):
            out[r.kind] = r
    return out


POD_RESOURCE = Resource("Pod", "", "v1", "pods", POD)
