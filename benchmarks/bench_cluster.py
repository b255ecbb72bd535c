"""Cluster-state cache figures against the local fake API server (tests/cluster/fake_apiserver.py).

Prints: the time to list and index N GPU pods (the webhook is not ready before that), the watch event
rate the cache keeps up with, and the latency of ``usage(rule, key)`` just after a change (one pass
grouping every pod) and when the grouping is reused. Real HTTP on 127.0.0.1, the real kubernetes client.

    .venv/bin/python benchmarks/bench_cluster.py [--pods 5000] [--events 2000]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from kubernetes import client

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from cluster.fake_apiserver import fixture, running  # noqa: E402

from policy_engine.cluster import ClusterState, Timing  # noqa: E402
from policy_engine.engine import load_engine  # noqa: E402

POLICIES = REPO / "tests" / "fixtures" / "cluster" / "policies"


def _wait(condition: Any, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.005)


def _pods(n: int, teams: int, prefix: str = "llm-serve") -> list[dict[str, Any]]:
    template = next(p for p in fixture("pods.json")["items"] if p["metadata"]["name"].startswith(prefix))
    nodes = [n["metadata"]["name"] for n in fixture("nodes.json")["items"]]
    out = []
    for i in range(n):
        pod = copy.deepcopy(template)
        pod["metadata"].update(name=f"{prefix}-{i}", uid=f"{prefix}-0000-4000-8000-{i:012d}",
                               labels={"team": f"team-{i % teams}", "app": "serve"})
        pod["spec"]["nodeName"] = nodes[i % 2]
        out.append(pod)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--teams", type=int, default=50)
    parser.add_argument("--cpu-pods", type=int, default=20000, help="pods without GPUs, listed and skipped")
    args = parser.parse_args()

    engine = load_engine([POLICIES])
    quota = next(p for p in engine.policies.policies if p.name == "gpu-hours-per-month").aggregates[0]
    budget = next(p for p in engine.policies.policies if p.name == "spend-per-month").aggregates[0]
    pods = _pods(args.pods, args.teams)
    with running() as server:
        server.load("namespaces", fixture("namespaces.json")["items"])
        server.load("nodes", fixture("nodes.json")["items"])
        server.load("pods", pods + _pods(args.cpu_pods, args.teams, "web"))
        state = ClusterState.from_configuration(client.Configuration(host=server.url),
                                                timing=Timing(page_size=500))
        started = time.perf_counter()
        state.start()
        _wait(lambda: state.synced)
        sync = time.perf_counter() - started
        total = args.pods + args.cpu_pods
        print(f"initial sync: {total} pods ({args.pods} with GPUs) in {sync:.2f} s ({total / sync:,.0f} pods/s, "
              f"{len(server.list_requests('pods'))} pages of 500)")

        _wait(lambda: server.open_watches("pods") >= 1)
        started = time.perf_counter()
        last = 0
        for i in range(args.events):
            pod = pods[i % len(pods)]
            pod["metadata"]["labels"]["rev"] = str(i)
            last = server.apply("pods", "MODIFIED", {"kind": "Pod", "apiVersion": "v1", **pod})
        _wait(lambda: state.reflectors["pods"].stats.resource_version == str(last))
        elapsed = time.perf_counter() - started
        print(f"watch: {args.events} MODIFIED events applied in {elapsed:.2f} s ({args.events / elapsed:,.0f}/s)")

        for rule, name in ((quota, "quota gpu_hours"), (budget, "budget cost")):
            cold, warm = [], []
            for i in range(20):
                state.store.generation += 1  # as after a pod event: groups rebuilt, unchanged pods keep keys
                t = time.perf_counter()
                state.usage(rule, f"team-{i % args.teams}")
                cold.append(time.perf_counter() - t)
                for _ in range(50):
                    t = time.perf_counter()
                    state.usage(rule, f"team-{i % args.teams}")
                    warm.append(time.perf_counter() - t)
            warm.sort()
            p99 = warm[int(len(warm) * 0.99)]
            print(f"usage() {name}: after a change median {statistics.median(cold) * 1e3:.2f} ms; "
                  f"cached median {statistics.median(warm) * 1e6:.0f} µs, p99 {p99 * 1e6:.0f} µs "
                  f"({args.pods} pods, {args.teams} teams)")
        state.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
