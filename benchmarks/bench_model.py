"""How fast the workload model reads manifests: documents/s and workloads/s over a corpus, and the CPU of
``check``'s two per-document stages over one stream.

Usage: .venv/bin/python benchmarks/bench_model.py [PATH ...]   (default: ../shared/corpus)
       .venv/bin/python benchmarks/bench_model.py --stream [FILE] [--documents 10000] [--repeat 5]

Without ``--stream``, loading (YAML) and modelling are timed apart; modelling runs over the already-loaded
documents. With ``--stream`` (FILE, else the generated tree of ``--documents`` documents as one stream,
each file after a ``---`` line, as ``bench_check.py`` lays it out for stdin) the stream is cut into
``check``'s units and, per unit as a worker does, timed in CPU seconds (``time.process_time``, the
collector off, best of ``--repeat``): *load* (``load_text``: libyaml's composition, the objects built, the
depth pre-check) and *model* (``priced_workload`` under the bundled catalog, and the walk for GPUs in kinds
the model does not read), beside a plain ``yaml.load_all`` with CSafeLoader of the same bytes.
"""

from __future__ import annotations

import argparse
import gc
import io
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from policy_engine.errors import WorkloadError
from policy_engine.model.build import build_workload
from policy_engine.model.documents import Document, load_paths, load_text

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="manifest files or directories (default: ../shared/corpus)")
    parser.add_argument("--stream", action="store_true", help="time check's load and model stages over a stream")
    parser.add_argument("--documents", type=int, default=10_000, help="size of the generated stream")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the least CPU is kept")
    args = parser.parse_args(argv)
    if args.stream:
        return stream_stages(args.paths[0] if args.paths else None, args.documents, args.repeat)
    return corpus(args.paths or [str(HERE.parents[1] / "shared" / "corpus")])


def corpus(paths: list[str]) -> int:
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


def stream_stages(file: str | None, documents: int, repeat: int) -> int:
    from policy_engine.engine import load_engine
    from policy_engine.engine.batch import UNIT_BYTES
    from policy_engine.model.segments import segments
    from policy_engine.model.unread import gpu_requests, unread
    from policy_engine.pricing.cost import model_config, priced_workload

    data = Path(file).read_bytes() if file else _generated_stream(documents)
    pieces = [s.data.decode() for s in segments(io.BytesIO(data), UNIT_BYTES)]
    engine = load_engine()
    catalog, config = engine.catalog, model_config(engine.catalog)
    loaded = [[d for d in load_text(p, "stream.yaml") if isinstance(d, Document)] for p in pieces]

    def load() -> None:
        for piece in pieces:
            for _ in load_text(piece, "stream.yaml"):
                pass

    def model() -> None:
        for docs in loaded:
            for doc in docs:
                try:
                    if priced_workload(doc, catalog, config) is None and unread(doc):
                        gpu_requests(doc.obj, config)
                except WorkloadError:
                    pass

    def plain() -> None:
        for _ in yaml.load_all(data, Loader=yaml.CSafeLoader):
            pass

    count = sum(map(len, loaded))
    print(f"{len(data) / 2**20:.1f} MiB, {count:,} documents in {len(pieces)} units of {UNIT_BYTES // 1024} KiB; "
          f"CPU seconds, best of {repeat}:")
    for name, stage in (("plain yaml.load_all (CSafeLoader)", plain), ("load (load_text)", load),
                        ("model (priced_workload + unread-GPU walk)", model)):
        cpu = _least_cpu(stage, repeat)
        print(f"  {name:<42} {cpu:.3f} s = {cpu / max(count, 1) * 1e6:.1f} us/document")
    return 0


def _generated_stream(documents: int) -> bytes:
    sys.path.insert(0, str(HERE))
    from generate_manifests import generate

    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "tree"
        generate(tree, documents)
        files = sorted(p for p in tree.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
        return b"".join(b"---\n" + p.read_bytes() for p in files)


def _least_cpu(stage: Callable[[], None], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            started = time.process_time()
            stage()
            best = min(best, time.process_time() - started)
        finally:
            gc.enable()
    return best


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
