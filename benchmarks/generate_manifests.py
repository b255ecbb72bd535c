"""Write a realistic AI/ML manifest tree for benchmarks: training jobs, inference, Ray, cron, plumbing.

Deterministic for a seed. Files hold one to four documents (as Helm and Kustomize output does); about a
third of the documents are GPU workloads spread over teams, instance types and capacity types, some with
missing labels or on-demand capacity so that policies have findings to report.

    python benchmarks/generate_manifests.py OUT_DIR --documents 10000
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any

import yaml

TEAMS = ["nlp", "vision", "speech", "recsys", "research", "platform"]
GPU_NODES = [("p4d.24xlarge", "nvidia-a100", 8), ("p5.48xlarge", "nvidia-h100", 8),
             ("g5.xlarge", "nvidia-a10g", 1), ("g5.12xlarge", "nvidia-a10g", 4),
             ("g6.xlarge", "nvidia-l4", 1), ("a2-highgpu-1g", "nvidia-a100", 1)]
IMAGES = ["pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime", "vllm/vllm-openai:v0.5.0",
          "nvcr.io/nvidia/tritonserver:24.05-py3", "rayproject/ray-ml:2.9.0-gpu"]


def _labels(rng: random.Random, name: str) -> dict[str, str]:
    labels = {"app.kubernetes.io/name": name}
    if rng.random() < 0.85:
        labels["team"] = rng.choice(TEAMS)
    if rng.random() < 0.6:
        labels["cost-center"] = f"cc-{rng.randint(100, 120)}"
    return labels


def _pod(rng: random.Random, name: str, labels: dict[str, str], gpus: int, node: tuple[str, str, int] | None,
         restart: str | None = None) -> dict[str, Any]:
    resources: dict[str, Any] = {"requests": {"cpu": str(rng.choice([1, 2, 4, 8])),
                                              "memory": f"{rng.choice([4, 8, 16, 32])}Gi"}}
    if gpus:
        resources["limits"] = {"nvidia.com/gpu": gpus}
    container = {"name": "main", "image": rng.choice(IMAGES), "args": ["--model", f"s3://models/{name}"],
                 "resources": resources}
    spec: dict[str, Any] = {"containers": [container]}
    if node is not None:
        selector = {"node.kubernetes.io/instance-type": node[0]}
        if rng.random() < 0.5:
            selector["karpenter.sh/capacity-type"] = rng.choice(["spot", "on-demand"])
        spec["nodeSelector"] = selector
        spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    if restart:
        spec["restartPolicy"] = restart
    return {"metadata": {"labels": dict(labels)}, "spec": spec}


def _object(api_version: str, kind: str, name: str, ns: str, labels: dict[str, str],
            spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": spec}


def _gpu(rng: random.Random) -> tuple[int, tuple[str, str, int] | None]:
    node = rng.choice(GPU_NODES)
    return rng.choice([g for g in (1, 2, 4, 8) if g <= node[2]] or [1]), node


def deployment(rng: random.Random, i: int, ns: str) -> dict[str, Any]:
    name = f"serve-{i}"
    labels = _labels(rng, name)
    gpus, node = _gpu(rng) if rng.random() < 0.6 else (0, None)
    spec = {"replicas": rng.randint(1, 6), "selector": {"matchLabels": {"app": name}},
            "template": _pod(rng, name, labels, gpus, node)}
    return _object("apps/v1", "Deployment", name, ns, labels, spec)


def job(rng: random.Random, i: int, ns: str) -> dict[str, Any]:
    name = f"finetune-{i}"
    labels = _labels(rng, name)
    gpus, node = _gpu(rng)
    spec: dict[str, Any] = {"backoffLimit": 2, "template": _pod(rng, name, labels, gpus, node, "Never")}
    if rng.random() < 0.7:
        spec["activeDeadlineSeconds"] = rng.choice([3600, 4 * 3600, 24 * 3600])
    return _object("batch/v1", "Job", name, ns, labels, spec)


def pytorchjob(rng: random.Random, i: int, ns: str) -> dict[str, Any]:
    name = f"pretrain-{i}"
    labels = _labels(rng, name)
    gpus, node = _gpu(rng)
    master = _pod(rng, name, labels, gpus, node)
    replicas = {"Master": {"replicas": 1, "restartPolicy": "OnFailure", "template": master},
                "Worker": {"replicas": rng.randint(1, 15), "restartPolicy": "OnFailure",
                           "template": _pod(rng, name, labels, gpus, node)}}
    spec: dict[str, Any] = {"pytorchReplicaSpecs": replicas}
    if rng.random() < 0.6:
        spec["runPolicy"] = {"activeDeadlineSeconds": rng.choice([6 * 3600, 48 * 3600])}
    return _object("kubeflow.org/v1", "PyTorchJob", name, ns, labels, spec)


def raycluster(rng: random.Random, i: int, ns: str) -> dict[str, Any]:
    name = f"ray-{i}"
    labels = _labels(rng, name)
    gpus, node = _gpu(rng)
    head = {"rayStartParams": {"dashboard-host": "0.0.0.0"}, "template": _pod(rng, name, labels, 0, None)}
    worker = {"groupName": "gpu", "replicas": rng.randint(1, 4), "minReplicas": 0, "maxReplicas": 8,
              "rayStartParams": {}, "template": _pod(rng, name, labels, gpus, node)}
    return _object("ray.io/v1", "RayCluster", name, ns, labels, {"headGroupSpec": head, "workerGroupSpecs": [worker]})


def cronjob(rng: random.Random, i: int, ns: str) -> dict[str, Any]:
    name = f"eval-{i}"
    labels = _labels(rng, name)
    gpus, node = _gpu(rng)
    pod = _pod(rng, name, labels, gpus, node, "OnFailure")
    spec = {"schedule": rng.choice(["0 2 * * *", "0 */6 * * *", "30 1 * * 0"]),
            "jobTemplate": {"spec": {"activeDeadlineSeconds": 7200, "template": pod}}}
    return _object("batch/v1", "CronJob", name, ns, labels, spec)


def service(rng: random.Random, i: int, ns: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"serve-{i}", "namespace": ns},
            "spec": {"selector": {"app": f"serve-{i}"}, "ports": [{"port": 80, "targetPort": 8000}]}}


def configmap(rng: random.Random, i: int, ns: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"config-{i}", "namespace": ns},
            "data": {"MODEL_NAME": f"model-{i}", "MAX_BATCH": str(rng.randint(1, 64))}}


KINDS = [(deployment, 22), (job, 14), (pytorchjob, 10), (raycluster, 6), (cronjob, 6), (service, 22),
         (configmap, 20)]


def generate(out: Path, documents: int, seed: int = 7) -> int:
    """Write ``documents`` documents under ``out``; returns the number of files written."""
    rng = random.Random(seed)
    makers = [m for m, w in KINDS for _ in range(w)]
    written = files = 0
    while written < documents:
        count = min(rng.randint(1, 4), documents - written)
        ns = f"{rng.choice(TEAMS)}-{rng.choice(['dev', 'prod'])}"
        docs = [rng.choice(makers)(rng, written + k, ns) for k in range(count)]
        folder = out / ns / f"app-{files // 50:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"manifest-{files:05d}.yaml").write_text(
            yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
        written += count
        files += 1
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    files = generate(args.out, args.documents, args.seed)
    print(f"wrote {args.documents} documents in {files} files under {args.out}")


if __name__ == "__main__":
    main()
