"""How fast pricing is: catalog load, price() per workload, and the savings functions per call.

Usage: .venv/bin/python benchmarks/bench_pricing.py [PATH ...]   (default: ../shared/corpus)
Workloads are built once from the manifests; then price() and the savings run over all of them, best of 5
rounds. Also times three hand-built shapes (a single-GPU pod, a 2-role job, a CPU-only pod) in a tight loop.
"""

from __future__ import annotations

import functools
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

from policy_engine.errors import WorkloadError
from policy_engine.model.build import build_workload
from policy_engine.model.documents import Document, load_paths
from policy_engine.model.workload import CapacityType, Role, RunKind, RunTime, Workload
from policy_engine.pricing.catalog import default_catalog, load_catalog
from policy_engine.pricing.cost import price
from policy_engine.pricing.savings import allowlist_saving, idle_saving, spot_saving


def _workloads(paths: list[str]) -> list[Workload]:
    out = []
    for doc in load_paths(paths):
        if isinstance(doc, Document):
            try:
                w = build_workload(doc)
            except WorkloadError:
                continue
            if w is not None:
                out.append(w)
    return out


def _each(fn: Callable[[Workload], object], workloads: list[Workload]) -> None:
    for w in workloads:
        fn(w)


def _shape(*roles: Role) -> Workload:
    doc = Document({"kind": "Deployment"}, "bench.yaml", 1)
    return Workload("Deployment", "apps/v1", "b", "ns", doc, list(roles), {}, {}, {}, {},
                    RunTime(RunKind.CONTINUOUS, 730.0, 1.0, "all month"))


def main(argv: list[str]) -> int:
    started = time.perf_counter()
    catalog = load_catalog()
    print(f"bundled catalog load + validation: {(time.perf_counter() - started) * 1000:.1f} ms "
          f"({len(catalog.instance_types)} instance types)")
    default_catalog.cache_clear()
    paths = argv or [str(Path(__file__).resolve().parents[2] / "shared" / "corpus")]
    workloads = _workloads(paths) if Path(paths[0]).exists() else []
    if workloads:
        best = min(timeit.repeat(lambda: [price(w, catalog) for w in workloads], number=1, repeat=5))
        print(f"price(): {len(workloads)} corpus workloads in {best * 1000:.1f} ms = "
              f"{best / len(workloads) * 1e6:.2f} µs/workload")
        for w in workloads:
            w.cost = price(w, catalog)
        savings: list[tuple[str, Callable[[Workload], float | None]]] = [
            ("spot_saving", spot_saving),
            ("idle_saving", lambda w: idle_saving(w, catalog)),
            ("allowlist_saving", lambda w: allowlist_saving(w, catalog, ["g5.*", "g6.*"])),
        ]
        for name, fn in savings:
            best = min(timeit.repeat(functools.partial(_each, fn, workloads), number=1, repeat=5))
            print(f"{name}(): {best / len(workloads) * 1e6:.2f} µs/workload")
    else:
        print(f"no corpus at {paths[0]}: corpus figures skipped")
    shapes = {
        "1-GPU pod on g5.xlarge": _shape(Role("p", 1, gpus_per_pod=1, instance_type="g5.xlarge",
                                                capacity_type=CapacityType.SPOT)),
        "PyTorchJob master+3 workers": _shape(Role("m", 1, gpus_per_pod=1, instance_type="p4d.24xlarge"),
                                              Role("w", 3, gpus_per_pod=8, instance_type="p4d.24xlarge")),
        "CPU-only pod": _shape(Role("p", 3, cpu_request=2, memory_request_gib=4)),
    }
    for label, w in shapes.items():
        n = 20000
        best = min(timeit.repeat(functools.partial(price, w, catalog), number=n, repeat=5)) / n
        print(f"price() {label}: {best * 1e6:.2f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
