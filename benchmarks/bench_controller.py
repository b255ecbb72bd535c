"""One controller audit cycle over a large cluster: 10,000 workloads and 50,000 pods (5,000 with GPUs).

The inventory and the cluster-state cache are filled the way their reflectors fill them (a full list
handed to ``replace``), without HTTP, so the figures are the controller's own work: building and pricing
every workload, evaluating the bundled policies, grouping GPU pods by workload, judging the idle rule
against one cycle's telemetry (5,000 GPU series × a 1 h window at 60 s, the shape Prometheus returns),
and building the PolicyReports. Prints CPU seconds per phase and the peak resident memory.

    python benchmarks/bench_controller.py [--workloads 10000] [--pods 50000] [--gpu-pods 5000] [--prometheus]

With ``--prometheus`` it also backfills those GPU series (1 h at 30 s) into a real Prometheus (Debian's
``prometheus``/``promtool``) and times the cycle's two range queries and their parsing: the telemetry
side costs O(GPU series), whatever the number of workloads.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kubernetes import client  # noqa: E402

from policy_engine.cluster import ClusterState, Timing  # noqa: E402
from policy_engine.controller import audit as audit_mod  # noqa: E402
from policy_engine.controller import reports  # noqa: E402
from policy_engine.controller.inventory import Inventory  # noqa: E402
from policy_engine.controller.kinds import workload_resources  # noqa: E402
from policy_engine.controller.telemetry import UTIL, Telemetry  # noqa: E402
from policy_engine.engine import load_engine  # noqa: E402

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NODE = "ip-10-0-12-34.ec2.internal"
TEAMS = ("vision", "nlp", "speech", "recsys", "search", "ads", "infra", "research")


def _container(gpus: int, i: int) -> dict[str, Any]:
    res: dict[str, Any] = {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"memory": "8Gi"}}
    if gpus:
        res["requests"]["nvidia.com/gpu"] = str(gpus)
        res["limits"]["nvidia.com/gpu"] = str(gpus)
    return {"name": "main", "image": f"registry.example.com/app:{i % 50}", "resources": res,
            "env": [{"name": "MODE", "value": "serve"}], "ports": [{"containerPort": 8080}]}


def _template(gpus: int, i: int, team: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": f"app-{i}", "team": team}},
            "spec": {"containers": [_container(gpus, i)],
                     "nodeSelector": {"node.kubernetes.io/instance-type": "p4d.24xlarge" if gpus else "m5.xlarge"}}}


def _meta(name: str, ns: str, kind: str, owner: tuple[str, str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "uid": f"{kind}-{ns}-{name}", "resourceVersion": "1",
                            "labels": {"app": name}}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": owner[0], "kind": owner[1], "name": owner[2], "controller": True,
                                    "uid": f"{owner[1]}-{ns}-{owner[2]}"}]
    return meta


def cluster(workloads: int, pods: int, gpu_pods: int) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """(resource key -> objects, pods): the mix of the module docstring, scaled to the counts asked."""
    objects: dict[str, list[dict[str, Any]]] = {r.key: [] for r in workload_resources()}
    all_pods: list[dict[str, Any]] = []
    started = (NOW - timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def pod(ns: str, name: str, gpus: int, owner: tuple[str, str, str] | None, i: int) -> None:
        all_pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": _meta(name, ns, "Pod", owner),
                         "spec": {"containers": [_container(gpus, i)], "nodeName": NODE},
                         "status": {"phase": "Running", "startTime": started}})

    gpu_workloads = gpu_pods // 2  # every GPU workload runs 2 GPU pods
    cpu_workloads = workloads - gpu_workloads
    cpu_pods_each = max((pods - gpu_pods) // max(cpu_workloads, 1), 1)
    for i in range(workloads):
        ns, team = f"team-{i % 200}", TEAMS[i % len(TEAMS)]
        gpu = i < gpu_workloads
        kind = ("Deployment", "PyTorchJob", "StatefulSet")[i % 3] if gpu else ("Deployment", "StatefulSet", "Job",
                                                                                 "CronJob")[i % 4]
        name = f"w{i}"
        if kind == "Deployment":
            objects["apps/v1/deployments"].append({"apiVersion": "apps/v1", "kind": kind,
                                                   "metadata": _meta(name, ns, kind),
                                                   "spec": {"replicas": 2 if gpu else cpu_pods_each,
                                                            "template": _template(1 if gpu else 0, i, team)}})
            objects["apps/v1/replicasets"].append({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                   "metadata": _meta(f"{name}-5d4f8", ns, "ReplicaSet",
                                                                     ("apps/v1", kind, name)),
                                                   "spec": {"replicas": 2, "template": _template(1 if gpu else 0, i,
                                                                                                   team)}})
            owner = ("apps/v1", "ReplicaSet", f"{name}-5d4f8")
        elif kind == "StatefulSet":
            objects["apps/v1/statefulsets"].append({"apiVersion": "apps/v1", "kind": kind,
                                                    "metadata": _meta(name, ns, kind),
                                                    "spec": {"replicas": 2, "template": _template(1 if gpu else 0, i,
                                                                                                    team)}})
            owner = ("apps/v1", kind, name)
        elif kind == "PyTorchJob":
            objects["kubeflow.org/v1/pytorchjobs"].append({
                "apiVersion": "kubeflow.org/v1", "kind": kind, "metadata": _meta(name, ns, kind),
                "spec": {"pytorchReplicaSpecs": {"Worker": {"replicas": 2, "template": _template(1, i, team)}}}})
            owner = ("kubeflow.org/v1", kind, name)
        elif kind == "Job":
            objects["batch/v1/jobs"].append({"apiVersion": "batch/v1", "kind": kind, "metadata": _meta(name, ns, kind),
                                             "spec": {"parallelism": cpu_pods_each, "activeDeadlineSeconds": 7200,
                                                      "template": _template(0, i, team)}})
            owner = ("batch/v1", kind, name)
        else:
            objects["batch/v1/cronjobs"].append({"apiVersion": "batch/v1", "kind": kind,
                                                 "metadata": _meta(name, ns, kind),
                                                 "spec": {"schedule": "0 3 * * *", "jobTemplate": {
                                                     "spec": {"template": _template(0, i, team)}}}})
            continue
        for p in range(2 if gpu else cpu_pods_each):
            pod(ns, f"{name}-{p}", 1 if gpu else 0, owner, i)
    while len(all_pods) < pods:  # top up with CPU pods of the Deployments
        i = len(all_pods)
        owner = ("apps/v1", "ReplicaSet", f"w{(i % cpu_workloads) + gpu_workloads}-5d4f8")
        pod(f"team-{i % 200}", f"extra-{i}", 0, owner, i)
    return objects, all_pods


def telemetry(pods: list[dict[str, Any]], window: float) -> Telemetry:
    """What the range query returns for every GPU pod: one series; half the GPU workloads idle."""
    end = NOW.timestamp()
    tel = Telemetry(start=end - window, end=end, step=60.0)
    steps = [end - window + k * 60.0 for k in range(int(window // 60) + 1)]
    for i, p in enumerate(pods):
        gpu = "nvidia.com/gpu" in p["spec"]["containers"][0]["resources"]["requests"]
        if not gpu:
            continue
        workload = int(p["metadata"]["name"][1:].split("-")[0])
        level = 0.02 if workload % 2 else 0.7  # every other GPU workload idle
        tel.pods[(p["metadata"]["namespace"], p["metadata"]["name"])] = {
            f"GPU-{i}": {UTIL: [(t, level) for t in steps]}}
        tel.series += 1
    return tel


def bench_prometheus(series: int) -> None:
    sys.path.insert(0, str(REPO))
    from policy_engine.controller.settings import PrometheusSettings
    from policy_engine.controller.telemetry import GpuTelemetry
    from tests.prometheus_server import prometheus_over

    end = int(NOW.timestamp())
    lines = ["# TYPE DCGM_FI_DEV_GPU_UTIL gauge"]
    for i in range(series):
        labels = f'namespace="team-{i % 200}",pod="w{i // 2}-{i % 2}",gpu="{i % 8}",UUID="GPU-{i}"'
        level = 2 if (i // 2) % 2 else 70
        lines.extend(f"DCGM_FI_DEV_GPU_UTIL{{{labels}}} {level} {t}" for t in range(end - 3600, end + 1, 30))
    lines.append("# EOF")
    t0 = time.perf_counter()
    with prometheus_over("\n".join(lines) + "\n") as server:
        ready = time.perf_counter() - t0
        client = GpuTelemetry(PrometheusSettings(url=server.url, step_seconds=60, timeout_seconds=120))
        best = None
        for _ in range(3):
            c0, w0 = time.process_time(), time.perf_counter()
            tel = client.fetch(3600.0, float(end))
            took = (time.perf_counter() - w0, time.process_time() - c0)
            best = took if best is None or took[0] < best[0] else best
        client.close()
    assert best is not None and tel.error is None, tel.error
    print(f"prometheus: {series:,} GPU series × 1 h backfilled and served in {ready:.1f} s; the cycle's 2 range "
          f"queries (step 60 s): {best[0]:.2f} s wall, {best[1]:.2f} s controller CPU, {tel.series:,} series "
          f"for {len(tel.pods):,} pods (best of 3)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=10_000)
    parser.add_argument("--pods", type=int, default=50_000)
    parser.add_argument("--gpu-pods", type=int, default=5_000)
    parser.add_argument("--prometheus", action="store_true", help="also time the queries on a real Prometheus")
    args = parser.parse_args()
    if args.prometheus:
        bench_prometheus(args.gpu_pods)

    engine = load_engine(None)
    objects, pods = cluster(args.workloads, args.pods, args.gpu_pods)
    namespaces = [{"metadata": {"name": f"team-{i}", "labels": {"cost-center": f"cc-{i % 17}"}}} for i in range(200)]
    nodes = [{"metadata": {"name": NODE, "labels": {"node.kubernetes.io/instance-type": "p4d.24xlarge",
                                                    "karpenter.sh/capacity-type": "on-demand"}}}]
    api = client.ApiClient(client.Configuration(host="http://127.0.0.1:9"))  # never called: no reflector starts

    def state(pod_observer: Any) -> ClusterState:
        return ClusterState(api, catalog=engine.catalog, clock=lambda: NOW, pod_observer=pod_observer)

    inventory = Inventory(api, state, workload_resources(), Timing())
    tel = telemetry(pods, 3600.0)

    t0 = time.process_time()
    store = inventory.state.store
    store.replace("namespaces", namespaces, NOW)
    store.replace("nodes", nodes, NOW)
    store.replace("pods", pods, NOW)
    inventory.replace_pods(pods)
    for r in workload_resources():
        inventory._replace(r, objects.get(r.key, []))
    for reflector in inventory.state.reflectors.values():
        reflector.stats.synced = True  # as after the first lists: quotas read live usage
    fill = time.process_time() - t0
    gpu_records = len(store.pods)
    del pods, objects
    gc.collect()

    figures = []
    for label in ("first cycle (builds every workload)", "next cycle (unchanged cluster)"):
        t0, w0 = time.process_time(), time.perf_counter()
        result = audit_mod.run(engine, inventory, now=NOW, inherit_keys=("team", "cost-center"),
                               exempt_namespaces=("kube-system",), telemetry=lambda window: tel)
        built = sum(1 for _ in reports.build(result, "policy-engine-audit"))  # as the writer: one at a time
        cpu, wall = time.process_time() - t0, time.perf_counter() - w0
        figures.append((label, cpu, wall, result, built))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"cluster: {args.workloads:,} top-level workloads ({len(inventory.top_level()):,} audited incl. bare pods), "
          f"{args.pods:,} pods ({gpu_records:,} GPU pods cached), {len(engine.policies.policies)} bundled policies")
    print(f"cache fill (the reflectors' replace, no HTTP): {fill:.2f} s CPU")
    for label, cpu, wall, result, built in figures:
        idle = sum(1 for c in result.idle if c.judgement.idle)
        print(f"{label}: {cpu:.2f} s CPU, {wall:.2f} s wall — {result.result.stats.workloads:,} workloads, "
              f"{len(result.result.findings):,} findings, {len(result.idle):,} idle judgements ({idle:,} idle), "
              f"{built} reports")
    print(f"peak RSS: {rss:.0f} MiB")
    worst = max(cpu for _, cpu, _, _, _ in figures)
    ok = worst <= 10.0 and rss <= 400
    print(f"target (≤ 10 s CPU per cycle, ≤ 400 MiB): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
