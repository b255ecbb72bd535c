"""How long a huge but valid AdmissionReview takes to decide (issue #13: 20,000 containers, linear cost).

Builds a Pod AdmissionReview with N containers (default 2,000 and 20,000; each container with CPU/memory
requests and limits, an image from an allowed registry, two env vars and a port, like a real generated
pod), then times, as CPU time (``time.process_time``, best of ``--repeat``; the machine is shared):

- ``model``: the workload model alone (``Engine.subject`` on the loaded document), the part issue #13
  asks to be linear and "well under 100 ms" for 20,000 containers;
- ``decide``: the whole pure admission decision (``webhook.review.decide``) with the bundled policies,
  i.e. reading the object, the model, pricing, every policy and the response (no HTTP, no JSON parsing
  of the body: see ``bench_hostile.py`` for the server under load).

The garbage collector runs as in ``serve`` (the loaded engine frozen, default thresholds): its passes
over the object's own values are part of what a review costs.

    .venv/bin/python benchmarks/bench_huge_object.py
    .venv/bin/python benchmarks/bench_huge_object.py --containers 20000 --repeat 7 --profile
    .venv/bin/python benchmarks/bench_huge_object.py --distinct   # no two containers alike
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policy_engine.engine import load_engine
from policy_engine.model.documents import Document, load_objects
from policy_engine.webhook.admission import AdmissionReview
from policy_engine.webhook.config import WebhookConfig
from policy_engine.webhook.exemptions import RequestExemptions
from policy_engine.webhook.reload import settle_heap
from policy_engine.webhook.review import LoadedEngine, ReviewState, decide


def huge_pod(containers: int, distinct: bool = False) -> dict[str, Any]:
    """``distinct``: every container requests a different amount of CPU (no two alike: no shared class)."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"huge-{containers}", "namespace": "ml",
                     "labels": {"team": "research", "cost-center": "cc-1", "app": "huge"}},
        "spec": {"containers": [
            {"name": f"c{i}", "image": f"ghcr.io/acme/worker-{i % 50}:1.{i % 7}",
             "resources": {"requests": {"cpu": f"{100 + i}m" if distinct else "100m", "memory": "128Mi"},
                           "limits": {"cpu": "200m", "memory": "256Mi"}},
             "env": [{"name": "INDEX", "value": str(i)}, {"name": "MODE", "value": "batch"}],
             "ports": [{"containerPort": 8000 + i % 1000}]}
            for i in range(containers)]},
    }


def review(obj: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "00000000-0000-4000-8000-000000000001", "operation": "CREATE",
                        "kind": {"group": "", "version": "v1", "kind": "Pod"}, "namespace": "ml",
                        "name": obj["metadata"]["name"], "userInfo": {"username": "alice"}, "object": obj}}


def best_cpu(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        fn()
        best = min(best, time.process_time() - started)
    return best


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one decision per size")
    parser.add_argument("--distinct", action="store_true",
                        help="no two containers alike (each its own class for per-container rules)")
    args = parser.parse_args(argv)

    engine = load_engine()
    settle_heap()  # as ``serve`` does after each (re)load: the engine is out of the collector's sight
    config = WebhookConfig()
    state = ReviewState(LoadedEngine.of(engine), config, RequestExemptions.from_config(config), date(2026, 6, 1))
    print(f"{'containers':>10}  {'model ms':>9}  {'us/ctr':>6}  {'decide ms':>9}  {'us/ctr':>6}  result")
    for n in args.containers:
        obj = huge_pod(n, args.distinct)
        doc = next(d for d in load_objects([obj], file="<admission>") if isinstance(d, Document))
        request = AdmissionReview.model_validate(review(obj)).request
        assert request is not None
        model = best_cpu(lambda doc=doc: engine.subject(doc), args.repeat)
        decision = decide(request, state)
        if decision.result == "error":
            print(f"decision failed: {decision.error}", file=sys.stderr)
            return 1
        whole = best_cpu(lambda request=request: decide(request, state), args.repeat)
        print(f"{n:>10,}  {model * 1e3:>9.1f}  {model / n * 1e6:>6.1f}  {whole * 1e3:>9.1f}  "
              f"{whole / n * 1e6:>6.1f}  {decision.result}, {len(decision.findings)} findings")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(decide, request, state)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
