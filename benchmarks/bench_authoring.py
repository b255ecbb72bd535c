"""Authoring tools: how long `test`, `fmt`, `validate` take on the bundled library, and how fast the explain
tracer runs (with its cross-check against the compiled verdict) over the shared corpus.

Run: .venv/bin/python benchmarks/bench_authoring.py
"""

from __future__ import annotations

import time
from pathlib import Path

from policy_engine.authoring.fmt import format_text
from policy_engine.authoring.lint import validate_sources
from policy_engine.authoring.testing import run_tests
from policy_engine.authoring.trace import PolicyTracer
from policy_engine.compiler import compile_policies
from policy_engine.engine import Engine
from policy_engine.model.documents import Document, load_paths
from policy_engine.pricing.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


def main() -> None:
    policies = sorted((ROOT / "policies").glob("*.policy"))
    sources = {str(p): p.read_text() for p in policies}

    started = time.perf_counter()
    result = run_tests([str(ROOT / "policies")])
    print(f"test policies/: {result.passed} passed, {result.failed} failed in {time.perf_counter() - started:.2f} s")

    started = time.perf_counter()
    for file, text in sources.items():
        format_text(text, file)
    elapsed = time.perf_counter() - started
    per_file = elapsed / len(sources) * 1000
    print(f"fmt policies/: {len(sources)} files in {elapsed * 1000:.0f} ms ({per_file:.1f} ms/file)")

    catalog = load_catalog()
    started = time.perf_counter()
    checked = validate_sources(sources, catalog)
    print(f"validate policies/: {checked.errors} errors, {checked.warnings} warnings in "
          f"{(time.perf_counter() - started) * 1000:.0f} ms")

    if not (CORPUS / "INDEX.tsv").is_file():
        print(f"explain tracer: skipped (corpus absent at {CORPUS})")
        return
    compiled = compile_policies([str(ROOT / "policies")], catalog=catalog)
    assert compiled.policy_set is not None
    engine = Engine(compiled.policy_set, catalog)
    tracers = [PolicyTracer(c, compiled.policy_set.get(c.instance.name), catalog)  # type: ignore[arg-type]
               for c in compiled.checked]
    workloads = []
    for doc in load_paths([str(CORPUS)]):
        if isinstance(doc, Document):
            try:
                w = engine.workload(doc)
            except Exception:
                continue
            if w is not None:
                workloads.append(w)
    started = time.perf_counter()
    traces = disagree = 0
    for w in workloads:
        for tracer in tracers:
            traces += 1
            disagree += not tracer.trace(w).agrees
    elapsed = time.perf_counter() - started
    print(f"explain tracer over the corpus: {len(workloads)} workloads x {len(tracers)} policies = {traces} traces "
          f"in {elapsed:.2f} s ({traces / elapsed:,.0f} traces/s), {disagree} disagree with the compiled verdict")


if __name__ == "__main__":
    main()
