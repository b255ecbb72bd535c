"""How fast the workload model reads real manifests: documents/s and workloads/s over a corpus.

Usage: .venv/bin/python benchmarks/bench_model.py [PATH ...]   (default: ../shared/corpus)
Loading (YAML) and modelling are timed apart; modelling runs over the already-loaded documents.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from policy_engine.errors import WorkloadError
from policy_engine.model.build import build_workload
from policy_engine.model.documents import Document, load_paths


def main(argv: list[str]) -> int:
    paths = argv or [str(Path(__file__).resolve().parents[2] / "shared" / "corpus")]
    started = time.perf_counter()
    docs = [d for d in load_paths(paths) if isinstance(d, Document)]
    loaded = time.perf_counter() - started
    best = float("inf")
    workloads = errors = gpu_workloads = 0
    for _ in range(3):
        workloads = errors = gpu_workloads = 0
        started = time.perf_counter()
        for doc in docs:
            try:
                w = build_workload(doc)
            except WorkloadError:
                errors += 1
                continue
            if w is not None:
                workloads += 1
                gpu_workloads += w.gpus > 0
        best = min(best, time.perf_counter() - started)
    print(f"documents: {len(docs)} loaded in {loaded:.2f} s")
    print(f"model: {workloads} workloads ({gpu_workloads} with GPUs), {errors} located errors")
    print(f"model time (best of 3): {best * 1000:.1f} ms = {len(docs) / best:,.0f} documents/s, "
          f"{best / max(len(docs), 1) * 1e6:.0f} us/document")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
