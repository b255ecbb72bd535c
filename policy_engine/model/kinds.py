"""Which kinds are workloads and which extractor reads each: ``KNOWN_KINDS`` and ``extractor_for``.

Kinds are matched on API group and kind, so that Volcano's ``batch.volcano.sh`` Job is not read as a
``batch`` Job. A kind the registry does not know is read generically when a conventional path holds a
pod template (recorded as generic), and is otherwise not a workload — never guessed.
"""

from __future__ import annotations

from policy_engine.model import kinds_core, kinds_serving, kinds_training
from policy_engine.model.documents import Document
from policy_engine.model.shape import Extractor

_CORE_GROUPS = ("", "apps", "extensions")
_REGISTRY: dict[tuple[str, str], Extractor] = {
    ("", "Pod"): kinds_core.pod,
    **{
        (g, k): kinds_core.replicated
        for g in _CORE_GROUPS
        for k in ("Deployment", "ReplicaSet", "StatefulSet")
    },
    ("", "ReplicationController"): kinds_core.replicated,
    **{(g, "DaemonSet"): kinds_core.daemon_set for g in _CORE_GROUPS},
    ("batch", "Job"): kinds_core.job,
    ("batch", "CronJob"): kinds_core.cron_job,
    **{("kubeflow.org", k): kinds_training.training_operator_job for k in kinds_training.REPLICA_SPECS},
    ("trainer.kubeflow.org", "TrainJob"): kinds_training.train_job,
    ("sagemaker.amazonaws.com", "HyperPodPyTorchJob"): kinds_training.hyperpod_pytorch_job,
    ("jobset.x-k8s.io", "JobSet"): kinds_training.job_set,
    ("kubeflow.org", "Experiment"): kinds_training.katib_experiment,
    ("kubeflow.org", "Trial"): kinds_training.katib_trial,
    ("batch.volcano.sh", "Job"): kinds_training.volcano_job,
    ("argoproj.io", "Workflow"): kinds_training.argo_workflow,
    ("argoproj.io", "CronWorkflow"): kinds_training.argo_cron_workflow,
    **{("ray.io", k): kinds_serving.ray for k in ("RayCluster", "RayJob", "RayService")},
    ("serving.kserve.io", "InferenceService"): kinds_serving.inference_service,
    ("serving.kserve.io", "LLMInferenceService"): kinds_serving.llm_inference_service,
    ("leaderworkerset.x-k8s.io", "LeaderWorkerSet"): kinds_serving.leader_worker_set,
    ("kubeflow.org", "Notebook"): kinds_serving.notebook,
    ("apps.nvidia.com", "NIMService"): kinds_serving.nim_service,
    ("kaito.sh", "Workspace"): kinds_serving.kaito_workspace,
}

#: Kinds that hold pod specs or containers but run nothing themselves (templates, runtimes, configs).
NOT_WORKLOADS = frozenset(
    {
        "PodTemplate",
        "ServingRuntime",
        "ClusterServingRuntime",
        "TrainingRuntime",
        "ClusterTrainingRuntime",
        "WorkflowTemplate",
        "ClusterWorkflowTemplate",
        "LLMInferenceServiceConfig",
        "HorizontalPodAutoscaler",
        "CustomResourceDefinition",
        "InferenceModel",
        "InferencePool",
    }
)

#: Every kind name the model reads specifically (``match workloads`` in the policy language checks it).
KNOWN_KINDS: frozenset[str] = frozenset(kind for _, kind in _REGISTRY)


def api_group(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def extractor_for(doc: Document) -> tuple[Extractor | None, bool]:
    """The extractor for a document and whether it is the generic one; (None, False) for non-workloads."""
    kind = doc.kind
    if kind in NOT_WORKLOADS:
        return None, False
    found = _REGISTRY.get((api_group(doc.api_version), kind))
    if found is not None:
        return found, False
    return kinds_core.generic, True


def is_known(group: str, kind: str) -> bool:
    """Whether the model reads ``kind`` of API ``group`` specifically (not generically)."""
    return (group, kind) in _REGISTRY
