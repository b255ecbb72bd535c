"""How fast ``check`` evaluates the policies: the CPU of its per-workload policy stage over one stream.

Usage: .venv/bin/python benchmarks/bench_policies.py [FILE] [--documents 10000] [--repeat 5] [--pieces json|text]

The stream (FILE, else the generated tree of ``--documents`` documents as one stream, laid out as
``bench_model.py --stream`` and ``bench_check.py`` lay it out for stdin) is loaded and every workload
modelled and priced first; then the bundled library judges them as a worker of ``check --format json`` does
(``Engine``'s per-workload path: match, exclude and ``when``, the rules, their findings, the exemption rule,
the quota and budget contributions), timed in CPU seconds (``time.process_time``, the collector tuned as a
worker tunes it). Each round is a process of its own, so its first pass starts with the caches a worker
starts with (none: the kinds of container met, the verdicts per kind); the best first pass of ``--repeat``
rounds is printed, with the best second pass (caches warm) beside it.

With ``--pieces json`` (or ``text``), each unit's findings are then also sorted, rendered into their pieces of
that report and packed, and summarised, as a worker of ``check --format json`` (``text``) does after evaluating
a unit (``engine.batch._work``: ``pack_block`` with the reports' piece renderer, the findings themselves not
kept; ``summarise``): that stage is timed apart, its best first and second passes printed too.
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
    parser.add_argument("--pieces", choices=("json", "text"), help="also each unit's report pieces and summaries")
    parser.add_argument("--round", action="store_true", help=argparse.SUPPRESS)  # one round: print two passes
    args = parser.parse_args(argv)
    if args.round:
        return one_round(args.file, args.pieces)
    with tempfile.TemporaryDirectory() as scratch:
        file = args.file
        if file is None:
            sys.path.insert(0, str(HERE))
            from bench_model import _generated_stream

            file = str(Path(scratch) / "stream.yaml")
            Path(file).write_bytes(_generated_stream(args.documents))
        pieces = ["--pieces", args.pieces] if args.pieces else []
        passes = [subprocess.run([sys.executable, __file__, "--round", file, *pieces], capture_output=True,
                                 text=True, check=True).stdout.split() for _ in range(args.repeat)]
    head = passes[0][:2]
    first = min(float(p[2]) for p in passes)
    second = min(float(p[3]) for p in passes)
    print(f"{head[0]} workloads, {head[1]} findings; policies stage, CPU seconds, best of {args.repeat} "
          f"processes: first pass {first:.3f} s, second pass {second:.3f} s")
    if args.pieces:
        first, second = min(float(p[4]) for p in passes), min(float(p[5]) for p in passes)
        print(f"their {args.pieces} pieces packed and summaries, per unit: first pass {first:.3f} s, "
              f"second pass {second:.3f} s")
    return 0


def one_round(file: str, pieces: str | None = None) -> int:
    from policy_engine.compiler.program import Enforcement
    from policy_engine.engine import load_engine
    from policy_engine.engine.batch import UNIT_BYTES
    from policy_engine.engine.evaluate import Options, Partial, summarise
    from policy_engine.engine.exemptions import ExemptionRule
    from policy_engine.engine.findings import Result
    from policy_engine.engine.packed import pack_block
    from policy_engine.errors import WorkloadError
    from policy_engine.model.documents import Document, load_text
    from policy_engine.model.segments import segments
    from policy_engine.reporters import ReportContext, piece_renderer

    engine = load_engine()
    units = []  # the workloads of each unit of a stdin run
    for piece in segments(io.BytesIO(Path(file).read_bytes()), UNIT_BYTES):
        subjects = []
        for doc in load_text(piece.data.decode(), "stream.yaml"):
            if isinstance(doc, Document):
                try:
                    w = engine.subject(doc)
                except WorkloadError:
                    continue
                if w is not None:
                    subjects.append(w)
        units.append(subjects)
    options = Options(evaluations=False, exemptions=ExemptionRule(datetime.now(UTC).date(), 90, require_expiry=True))
    render = None
    if pieces is not None:  # as check's CLI makes the context of a report to stdout
        ctx = ReportContext(root=Path.cwd(), policies=engine.policies, fail_on=frozenset({Enforcement.DENY}),
                            generated_at=time.time(), team=engine.catalog.assumptions.dimensions().team)
        render = piece_renderer([(pieces, ctx)])
    gc.collect()
    gc.freeze()
    gc.set_threshold(500_000, 50, 1000)  # as engine.batch tunes a worker
    seconds = []
    packing = []
    for _ in range(2):
        findings = 0
        evaluating = packed = 0.0
        for subjects in units:
            partial = Partial(Result())
            started = time.process_time()
            for w in subjects:
                engine._subject(w, partial, options)
            done = time.process_time()
            evaluating += done - started
            findings += len(partial.findings)
            if render is not None and partial.findings:  # as engine.batch._work packs a unit's
                block = pack_block(partial.findings, render, compress=False, findings_too=False)
                block.summaries = summarise(engine.policies, partial.findings)
                packed += time.process_time() - done
        seconds.append(evaluating)
        packing.append(packed)
    print(sum(map(len, units)), findings, *(f"{s:.4f}" for s in seconds), *(f"{s:.4f}" for s in packing))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
