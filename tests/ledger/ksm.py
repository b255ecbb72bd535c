"""kube-state-metrics (and dcgm-exporter) series of a simulated cluster, as OpenMetrics text for promtool.

Samples every ``STEP`` seconds, as a scrape would produce them: a pod's series exist from its start until
it is deleted; ``kube_pod_status_phase`` says Running (1) until it finishes, then Succeeded; node labels
all along; DCGM utilisation while it runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from .cluster import NODES, SimPod
from .servers import prometheus

STEP = 600  # seconds between samples (and the PromQL subquery step the tests use)
UTIL = {0: 15.0, 1: 60.0, 2: 95.0}  # DCGM_FI_DEV_GPU_UTIL by pod index % 3


def _times(start: datetime, end: datetime) -> Iterable[int]:
    t = int(start.timestamp())
    t -= t % STEP
    stop = int(end.timestamp())
    while t <= stop:
        yield t
        t += STEP


def _labels(**kv: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in kv.items()) + "}"


def ksm_labels(labels: dict[str, str]) -> dict[str, str]:
    """Kubernetes labels as kube-state-metrics writes them (``cost-center`` -> ``label_cost_center``); an
    empty value is no label at all in Prometheus, so it is left out."""
    return {"label_" + re.sub(r"[^A-Za-z0-9_]", "_", k): v for k, v in labels.items() if v}


def openmetrics(pods: Sequence[SimPod], first: datetime, now: datetime, path: Path,
                namespaces: Sequence[dict[str, Any]] = ()) -> None:
    families: dict[str, list[str]] = {n: [] for n in (
        "kube_pod_container_resource_requests", "kube_pod_status_phase", "kube_pod_labels", "kube_node_labels",
        "kube_namespace_labels", "DCGM_FI_DEV_GPU_UTIL")}
    for namespace in namespaces:
        meta = namespace["metadata"]
        lbl = _labels(namespace=meta["name"], **ksm_labels(meta.get("labels") or {}))
        families["kube_namespace_labels"] += [f"{lbl} 1 {t}" for t in _times(first, now)]
    for i, p in enumerate(pods):
        ns = p.namespace
        listed_until = p.end if (p.deleted and p.end is not None) else now
        last = [t for t in _times(p.start, listed_until) if t < listed_until.timestamp() or t == now.timestamp()]
        ident = {"namespace": ns, "pod": p.name, "uid": f"uid-{p.name}"}
        req = _labels(**ident, container="main", node=p.node, resource="nvidia_com_gpu", unit="integer")
        running = _labels(**ident, phase="Running")
        succeeded = _labels(**ident, phase="Succeeded")
        pod_labels = _labels(**ident, **ksm_labels(p.labels))
        gpu = _labels(gpu="0", UUID=f"GPU-{i}", modelName="NVIDIA A100-SXM4-40GB", Hostname=p.node,
                      namespace=ns, pod=p.name, container="main")
        for t in last:
            is_running = p.end is None or t < p.end.timestamp()
            families["kube_pod_container_resource_requests"].append(f"{req} {p.gpus} {t}")
            families["kube_pod_status_phase"].append(f"{running} {1 if is_running else 0} {t}")
            families["kube_pod_status_phase"].append(f"{succeeded} {0 if is_running else 1} {t}")
            families["kube_pod_labels"].append(f"{pod_labels} 1 {t}")
            if is_running:
                families["DCGM_FI_DEV_GPU_UTIL"].append(f"{gpu} {UTIL[i % 3]} {t}")
    for node in NODES:
        meta = node["metadata"]
        lbl = _labels(node=meta["name"],
                      label_node_kubernetes_io_instance_type=meta["labels"]["node.kubernetes.io/instance-type"],
                      label_karpenter_sh_capacity_type=meta["labels"]["karpenter.sh/capacity-type"])
        families["kube_node_labels"] += [f"{lbl} 1 {t}" for t in _times(first, now)]
    lines = []
    for name, samples in families.items():
        if not samples:
            continue
        lines.append(f"# TYPE {name} gauge")
        # OpenMetrics wants each series' samples together and in time order
        by_series: dict[str, list[str]] = {}
        for s in samples:
            by_series.setdefault(s.rsplit(" ", 2)[0], []).append(s)
        for series in by_series.values():
            lines += [f"{name}{s}" for s in series]
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n")


@contextmanager
def served(pods: Sequence[SimPod], first: datetime, now: datetime, work: Path,
           namespaces: Sequence[dict[str, Any]] = ()) -> Iterator[str]:
    """A real Prometheus over these pods' (and namespaces') series (backfilled with promtool); yields its URL."""
    openmetrics(pods, first, now, work / "ksm.om", namespaces)
    with prometheus(work / "ksm.om", work) as url:
        yield url
