"""The workload model over ../shared/corpus: 1472 real AI/ML manifests from public repositories.

Every file INDEX.tsv marks ``gpu=yes`` must yield a workload with a GPU-requesting role, unless it is
one of the documented exceptions (a template, a runtime, an unrendered placeholder, a kind we do not
read); GPU counts of hand-checked files are pinned exactly.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from policy_engine.errors import WorkloadError
from policy_engine.model.build import build_workload
from policy_engine.model.config import DEFAULT_CONFIG
from policy_engine.model.documents import Document, load_paths
from policy_engine.model.kinds import extractor_for
from policy_engine.model.quantities import gpu_fraction

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
pytestmark = pytest.mark.skipif(not (CORPUS / "INDEX.tsv").is_file(), reason=f"corpus absent at {CORPUS}")

#: Kinds that carry GPU requests but run nothing themselves, or that the model does not read.
NOT_READ = {
    "ClusterTrainingRuntime": "a runtime template; TrainJobs that reference it are the workloads",
    "LLMInferenceServiceConfig": "a configuration preset, not a workload",
    "InferenceModel": "a Gateway API inference model: routes to a pool, runs no pods",
}


#: Files whose GPU request is itself malformed: the model must report the located error named here.
MALFORMED = {
    # `nvidia.com/gpu:` with no value (an emptied template slot)
    "aws-samples__awsome-distributed-training/"
    "4.validation_and_observability/5.nsight/EKS/fsdp.yaml": "E704",
}


def _gpu_rows() -> list[dict[str, str]]:
    with open(CORPUS / "INDEX.tsv", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle, delimiter="\t") if row["gpu"] == "yes"]


def _outcome(path: str) -> tuple[list[Any], list[str], set[str]]:
    workloads, errors, kinds = [], [], set()
    for item in load_paths([str(CORPUS / path)]):
        assert isinstance(item, Document), f"{path}: {item}"
        kinds.add(item.kind)
        try:
            w = build_workload(item)
        except WorkloadError as exc:
            errors.append(exc.diagnostic.code)
            continue
        if w is not None:
            workloads.append(w)
    return workloads, errors, kinds


def test_every_gpu_file_yields_a_gpu_workload_or_a_documented_reason() -> None:
    unexplained = []
    for row in _gpu_rows():
        workloads, errors, kinds = _outcome(row["path"])
        if any(r.gpus_per_pod > 0 for w in workloads for r in w.roles):
            continue
        if "E709" in errors:
            continue  # envsubst templates ($NUM_NODES): reported as located errors with a hint
        if kinds & set(NOT_READ) or row["gpu_resources"] == "example.com/gpu":
            continue
        if MALFORMED.get(row["path"]) in errors:
            continue
        unexplained.append((row["path"], sorted(kinds), errors))
    assert unexplained == []


def _gpu_resource_names(node: Any, found: set[str]) -> set[str]:
    """Every accelerator resource named in any resources.requests/limits mapping of a raw object."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("requests", "limits", "resourcesPerNode") and isinstance(value, dict):
                found.update(
                    k for k, v in value.items() if gpu_fraction(str(k), DEFAULT_CONFIG) and v not in (0, "0")
                )
            _gpu_resource_names(value, found)
    elif isinstance(node, list):
        for item in node:
            _gpu_resource_names(item, found)
    return found


def test_no_gpu_request_in_a_read_workload_is_missed() -> None:
    """Independently of the kind readers: each GPU resource a workload's object names shows up in a role."""
    missed = []
    for row in _gpu_rows():
        for item in load_paths([str(CORPUS / row["path"])]):
            if not isinstance(item, Document) or extractor_for(item)[1]:
                continue
            try:
                w = build_workload(item)
            except WorkloadError:
                continue
            if w is None:
                continue
            seen = {name for r in w.roles for name in r.gpu_resources}
            named = _gpu_resource_names(item.obj.get("spec"), set())
            if named - seen:
                missed.append((row["path"], w.kind, sorted(named - seen)))
    assert missed == []


# Hand-checked: file -> total GPUs (Σ replicas x GPUs per pod) over its workloads.
EXACT = {
    "kubernetes-sigs__kueue/site/static/examples/serving-workloads/sample-hami.yaml": 2,
    "aws-samples__awsome-distributed-training/micro-benchmarks/nccl-tests/"
    "kubernetes/nccl-tests-gb200.yaml": 72,
    "ray-project__kuberay/ray-operator/config/samples/ray-job.batch-inference.yaml": 4,
    "GoogleCloudPlatform__kubernetes-engine-samples/ai-ml/llm-serving-gemma/vllm/vllm-2-2b.yaml": 1,
    "kserve__kserve/docs/samples/v1beta1/tensorflow/gpu.yaml": 1,
    "GoogleCloudPlatform__kubernetes-engine-samples/ai-ml/"
    "llm-training-jax-tpu-gemma3/training_multihost_jobset.yaml": 8,
    "GoogleCloudPlatform__kubernetes-engine-samples/ai-ml/llm-serving-tpus-jetstream/pathways/"
    "jetstream-pathways-llama-3-1-405b-4x4.yaml": 16,
    "kubeflow__mpi-operator/examples/v2beta1/tensorflow-benchmarks/tensorflow-benchmarks.yaml": 2,
    "awslabs__ai-on-eks/blueprints/inference/gpu/"
    "nvidia-nim-operator-llama3-8b/nim-service-llama3-8b-instruct.yaml": 2,
    "kubeflow__training-operator/examples/paddlepaddle/simple-gpu.yaml": 4,
    "NVIDIA__KAI-Scheduler/docs/quickstart/pods/gpu-pod.yaml": 1,
    "ray-project__kuberay/ray-operator/config/samples/ray-job.tpu-v6e-16-multihost.yaml": 16,
    "GoogleCloudPlatform__kubernetes-engine-samples/ai-ml/gke-ray/rayserve/"
    "llm/model-composition/ray-service.yaml": 4,
    "kubeflow__training-operator/examples/tensorflow/distribution_strategy/multi_worker_tfjob.yaml": 2,
    "kserve__kserve/docs/samples/llmisvc/dp-ep/deepseek-r1-gpu-rdma-roce/"
    "llm-inference-service-dp-ep-deepseek-r1-gpu-naive.yaml": 16,
    "kaito-project__kaito/examples/custom-model-integration/custom-model-deployment.yaml": 1,
}


@pytest.mark.parametrize("path", sorted(EXACT))
def test_hand_checked_gpu_totals(path: str) -> None:
    workloads, errors, _ = _outcome(path)
    assert errors == []
    assert sum(w.gpus for w in workloads) == pytest.approx(EXACT[path])
