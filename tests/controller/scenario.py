"""A small live cluster for the controller's tests, and the DCGM telemetry its GPUs produced.

Cluster (served by the fake API server, tests/cluster/fake_apiserver.py), at ``T0`` = 2026-11-23 12:00 UTC:

- Notebook ml-vision/alice-nb (StatefulSet → pod alice-nb-0, 1 GPU): idle for 4 h (0–3 %);
- Notebook ml-vision/bob-nb (pod bob-nb-0, 1 GPU) started 1 h ago: idle, but too young to judge;
- PyTorchJob ml-vision/resnet-train (pods resnet-train-worker-0, 4 GPUs): busy (80–95 %), its series carry
  the ``exported_namespace``/``exported_pod`` labels (Prometheus not honouring the exporter's labels);
- InferenceService ml-nlp/sentiment (Deployment → ReplicaSet → pod, 1 GPU): busy until 1 h ago, idle since
  (both DCGM_FI_DEV_GPU_UTIL and DCGM_FI_PROF_GR_ENGINE_ACTIVE);
- Deployment ml-nlp/llm-api (2 replicas → ReplicaSet → 2 pods, 1 GPU each): idle for 4 h;
- bare Pod ml-nlp/debug-gpu (1 GPU): no series at all;
- Deployment ml-nlp/web (no GPU, no team label on the object but the namespace has one).
"""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "controller"
NODE = "ip-10-0-12-34.ec2.internal"  # p4d.24xlarge, A100, on demand (tests/fixtures/cluster/nodes.json)


def ts(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _owner(kind: str, name: str, api_version: str) -> list[dict[str, Any]]:
    return [{"apiVersion": api_version, "kind": kind, "name": name, "uid": f"uid-{kind}-{name}", "controller": True}]


def _container(gpus: int) -> dict[str, Any]:
    res: dict[str, Any] = {"requests": {"cpu": "4", "memory": "16Gi"}}
    if gpus:
        res["limits"] = {"nvidia.com/gpu": str(gpus)}
        res["requests"]["nvidia.com/gpu"] = str(gpus)
    return {"name": "main", "image": "ghcr.io/acme/app:1.0", "resources": res}


def template(gpus: int, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"labels": labels or {}},
            "spec": {"containers": [_container(gpus)], "nodeSelector": {"node.kubernetes.io/instance-type":
                                                                         "p4d.24xlarge"}}}


def pod(ns: str, name: str, gpus: int, started: datetime, owner: list[dict[str, Any]] | None = None,
        labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "uid": f"uid-pod-{name}", "labels": labels or {}}
    if owner:
        meta["ownerReferences"] = owner
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [_container(gpus)], "nodeName": NODE},
            "status": {"phase": "Running", "startTime": ts(started)}}


def cluster() -> dict[str, list[dict[str, Any]]]:
    """resource -> objects, as ``FakeApiServer.load`` takes them."""
    old = T0 - timedelta(hours=6)
    nodes = json.loads((FIXTURES.parent / "cluster" / "nodes.json").read_text())["items"]
    namespaces = [{"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": n, "uid": f"uid-ns-{n}", "labels": labels}}
                  for n, labels in (("ml-vision", {"team": "vision"}), ("ml-nlp", {"team": "nlp"}),
                                    ("kube-system", {}), ("policy-engine", {}))]
    nb_api, apps = "kubeflow.org/v1", "apps/v1"
    out: dict[str, list[dict[str, Any]]] = {
        "namespaces": namespaces,
        "nodes": nodes,
        "kubeflow.org/v1/notebooks": [
            {"apiVersion": nb_api, "kind": "Notebook", "metadata": {"name": n, "namespace": "ml-vision",
                                                                    "uid": f"uid-Notebook-{n}"},
             "spec": {"template": template(1)}} for n in ("alice-nb", "bob-nb")],
        "apps/v1/statefulsets": [
            {"apiVersion": apps, "kind": "StatefulSet",
             "metadata": {"name": n, "namespace": "ml-vision", "ownerReferences": _owner("Notebook", n, nb_api)},
             "spec": {"replicas": 1, "template": template(1, {"notebook-name": n})}} for n in ("alice-nb", "bob-nb")],
        "kubeflow.org/v1/pytorchjobs": [
            {"apiVersion": nb_api, "kind": "PyTorchJob", "metadata": {"name": "resnet-train", "namespace": "ml-vision"},
             "spec": {"pytorchReplicaSpecs": {"Worker": {"replicas": 1, "template": template(4)}}}}],
        "serving.kserve.io/v1beta1/inferenceservices": [
            {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
             "metadata": {"name": "sentiment", "namespace": "ml-nlp"},
             "spec": {"predictor": {"minReplicas": 1, "model": {"modelFormat": {"name": "pytorch"},
                                                                "resources": _container(1)["resources"]}}}}],
        "apps/v1/deployments": [
            {"apiVersion": apps, "kind": "Deployment",
             "metadata": {"name": "sentiment-predictor", "namespace": "ml-nlp",
                          "ownerReferences": _owner("InferenceService", "sentiment", "serving.kserve.io/v1beta1")},
             "spec": {"replicas": 1, "template": template(1)}},
            {"apiVersion": apps, "kind": "Deployment", "metadata": {"name": "llm-api", "namespace": "ml-nlp"},
             "spec": {"replicas": 2, "template": template(1)}},
            {"apiVersion": apps, "kind": "Deployment", "metadata": {"name": "web", "namespace": "ml-nlp"},
             "spec": {"replicas": 1, "template": template(0)}},
        ],
        "apps/v1/replicasets": [
            {"apiVersion": apps, "kind": "ReplicaSet",
             "metadata": {"name": f"{d}-5d4f8", "namespace": "ml-nlp",
                          "ownerReferences": _owner("Deployment", d, apps)},
             "spec": {"replicas": r, "template": template(1)}}
            for d, r in (("sentiment-predictor", 1), ("llm-api", 2))],
        "pods": [
            pod("ml-vision", "alice-nb-0", 1, old, _owner("StatefulSet", "alice-nb", apps),
                {"notebook-name": "alice-nb"}),
            pod("ml-vision", "bob-nb-0", 1, T0 - timedelta(hours=1), _owner("StatefulSet", "bob-nb", apps),
                {"notebook-name": "bob-nb"}),
            pod("ml-vision", "resnet-train-worker-0", 4, old, _owner("PyTorchJob", "resnet-train", nb_api)),
            pod("ml-nlp", "sentiment-predictor-5d4f8-abcde", 1, old,
                _owner("ReplicaSet", "sentiment-predictor-5d4f8", apps),
                {"serving.kserve.io/inferenceservice": "sentiment"}),
            pod("ml-nlp", "llm-api-5d4f8-aaaaa", 1, old, _owner("ReplicaSet", "llm-api-5d4f8", apps)),
            pod("ml-nlp", "llm-api-5d4f8-bbbbb", 1, old, _owner("ReplicaSet", "llm-api-5d4f8", apps)),
            pod("ml-nlp", "debug-gpu", 1, old),
            pod("ml-nlp", "web-5d4f8-ccccc", 0, old, _owner("ReplicaSet", "web-5d4f8", apps)),
        ],
    }
    return copy.deepcopy(out)


# -- telemetry ----------------------------------------------------------------------------------------------

def openmetrics(step: int = 30) -> str:
    """Four hours of DCGM series for the scenario, in the OpenMetrics text format promtool backfills."""
    rng = random.Random(7)
    start, end = T0 - timedelta(hours=4), T0 + timedelta(minutes=5)
    recent = (T0 - timedelta(hours=1)).timestamp()
    direct = 'namespace="{ns}",pod="{pod}"'
    exported = 'namespace="gpu-operator",pod="dcgm-exporter-x7k2p",exported_namespace="{ns}",exported_pod="{pod}"'
    util: list[tuple[str, Any]] = [
        (direct.format(ns="ml-vision", pod="alice-nb-0") + ',gpu="0",UUID="GPU-a0"', lambda t: rng.uniform(0, 3)),
        (direct.format(ns="ml-vision", pod="bob-nb-0") + ',gpu="1",UUID="GPU-b1"',
         lambda t: rng.uniform(0, 2) if t >= recent else None),
        *[(exported.format(ns="ml-vision", pod="resnet-train-worker-0") + f',gpu="{g}",UUID="GPU-r{g}"',
           lambda t: rng.uniform(80, 95)) for g in range(4)],
        (direct.format(ns="ml-nlp", pod="sentiment-predictor-5d4f8-abcde") + ',gpu="0",UUID="GPU-s0"',
         lambda t: rng.uniform(60, 90) if t < recent else rng.uniform(0, 2)),
        (exported.format(ns="ml-nlp", pod="llm-api-5d4f8-aaaaa") + ',gpu="2",UUID="GPU-l2"',
         lambda t: rng.uniform(0, 4)),
        (direct.format(ns="ml-nlp", pod="llm-api-5d4f8-bbbbb") + ',gpu="3",UUID="GPU-l3"',
         lambda t: rng.uniform(0, 4)),
    ]
    engine = [(direct.format(ns="ml-nlp", pod="sentiment-predictor-5d4f8-abcde") + ',gpu="0",UUID="GPU-s0"',
               lambda t: rng.uniform(0.5, 0.9) if t < recent else rng.uniform(0, 0.02))]
    lines = []
    for metric, family in (("DCGM_FI_DEV_GPU_UTIL", util), ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", engine)):
        lines.append(f"# TYPE {metric} gauge")
        for labels, fn in family:
            t = int(start.timestamp())
            while t <= int(end.timestamp()):
                v = fn(t)
                if v is not None:
                    lines.append(f"{metric}{{{labels}}} {v:.3f} {t}")
                t += step
    lines.append("# EOF")
    return "\n".join(lines) + "\n"
