"""How fast ``check`` evaluates the policies: the CPU of its per-workload policy stage over one stream.

Usage: .venv/bin/python benchmarks/bench_policies.py [FILE] [--documents 10000] [--repeat 5]

The stream (FILE, else the generated tree of ``--documents`` documents as one stream, laid out as
``bench_model.py --stream`` and ``bench_check.py`` lay it out for stdin) is loaded and every workload
modelled and priced first; then the bundled library judges them as a worker of ``check --format json`` does
(``Engine``'s per-workload path: match, exclude and ``when``, the rules, their findings, the exemption rule,
the quota and budget contributions), timed in CPU seconds (``time.process_time``, the collector tuned as a
worker tunes it). Each round is a process of its own, so its first pass starts with the caches a worker
starts with (none: the kinds of container met, the verdicts per kind); the best first pass of ``--repeat``
rounds is printed, with the best second pass (caches warm) beside it.
"""

from __future__ import annotations

import argparse
import gc
import io
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", nargs="?", help="a stream of manifests (default: the generated one)")
    parser.add_argument("--documents", type=int, default=10_000, help="size of the generated stream")
    parser.add_argument("--repeat", type=int, default=5, help="rounds, each in a process of its own")
    parser.add_argument("--round", action="store_true", help=argparse.SUPPRESS)  # one round: print two passes
    args = parser.parse_args(argv)
    if args.round:
        return one_round(args.file)
    with tempfile.TemporaryDirectory() as scratch:
        file = args.file
        if file is None:
            sys.path.insert(0, str(HERE))
            from bench_model import _generated_stream

            file = str(Path(scratch) / "stream.yaml")
            Path(file).write_bytes(_generated_stream(args.documents))
        passes = [subprocess.run([sys.executable, __file__, "--round", file], capture_output=True, text=True,
                                 check=True).stdout.split() for _ in range(args.repeat)]
    head = passes[0][:2]
    first = min(float(p[2]) for p in passes)
    second = min(float(p[3]) for p in passes)
    print(f"{head[0]} workloads, {head[1]} findings; policies stage, CPU seconds, best of {args.repeat} "
          f"processes: first pass {first:.3f} s, second pass {second:.3f} s")
    return 0


def one_round(file: str) -> int:
    from policy_engine.engine import load_engine
    from policy_engine.engine.batch import UNIT_BYTES
    from policy_engine.engine.evaluate import Options, Partial
    from policy_engine.engine.exemptions import ExemptionRule
    from policy_engine.engine.findings import Result
    from policy_engine.errors import WorkloadError
    from policy_engine.model.documents import Document, load_text
    from policy_engine.model.segments import segments

    engine = load_engine()
    subjects = []
    for piece in segments(io.BytesIO(Path(file).read_bytes()), UNIT_BYTES):
        for doc in load_text(piece.data.decode(), "stream.yaml"):
            if isinstance(doc, Document):
                try:
                    w = engine.subject(doc)
                except WorkloadError:
                    continue
                if w is not None:
                    subjects.append(w)
    options = Options(evaluations=False, exemptions=ExemptionRule(datetime.now(UTC).date(), 90, require_expiry=True))
    gc.collect()
    gc.freeze()
    gc.set_threshold(500_000, 50, 1000)  # as engine.batch tunes a worker
    seconds = []
    for _ in range(2):
        partial = Partial(Result())
        started = time.process_time()
        for w in subjects:
            engine._subject(w, partial, options)
        seconds.append(time.process_time() - started)
    print(len(subjects), len(partial.findings), *(f"{s:.4f}" for s in seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
