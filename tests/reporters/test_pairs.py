"""JUnit and PolicyReport read the pairs and the findings together, a resource at a time (``reporters.pairs``):
the same bytes as keeping a mask per resource, whatever the order they come in, and memory that does not
grow with the resources of a run."""

from __future__ import annotations

import io
import random
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from policy_engine.compiler.program import Enforcement, Severity
from policy_engine.engine import Options, load_engine
from policy_engine.engine.batch import evaluate_paths
from policy_engine.engine.findings import Finding, ResourceRef, Result, Stats
from policy_engine.reporters import ReportContext, junit, policyreport
from policy_engine.reporters import spool as spool_module
from policy_engine.reporters.pairs import OutOfOrder

from .samples import ROOT

REPO = Path(__file__).resolve().parents[2]
POLICIES = tuple(f"policy-{n}" for n in range(5))
MODULES = {"junit": junit, "policyreport": policyreport}


def _ctx() -> ReportContext:
    return ReportContext(root=ROOT, cwd=ROOT, tool_version="1.2.3", generated_at=1_700_000_000.0, costs=[])


def _outputs(fmt: str, result: Result, ctx: ReportContext,
             monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, bool]:
    """The report as written, the report with a mask per resource, and whether the first read pairs and
    findings together (no fall-back)."""
    module = MODULES[fmt]
    fell_back: list[bool] = []
    keep = junit._by_resource if fmt == "junit" else policyreport._Filed.by_resource

    def counted(*args: Any) -> Any:
        fell_back.append(True)
        return keep(*args)

    with monkeypatch.context() as m:
        m.setattr(junit if fmt == "junit" else policyreport._Filed,
                  "_by_resource" if fmt == "junit" else "by_resource", counted)
        written = "".join(module.stream(result, ctx))

    def out_of_order(*args: Any) -> Iterator[Any]:
        raise OutOfOrder("forced")
        yield

    with monkeypatch.context() as m:
        m.setattr(module, "joined", out_of_order)
        masked = "".join(module.stream(result, ctx))
    return written, masked, not fell_back


def _random_result(rng: random.Random, *, in_order: bool) -> Result:
    """Resources in files, pairs in report order (or not), findings sorted as ``check`` sorts them (or not;
    a field line past the next resource's), with group findings, findings on unevaluated resources or
    policies, and pairs evaluated twice."""
    refs: list[ResourceRef] = []
    for f in range(rng.randint(1, 4)):
        line = 1
        for _ in range(rng.randint(1, 6)):
            refs.append(ResourceRef("Deployment", f"app-{len(refs)}", rng.choice(["a", "b", None]),
                                    f"/repo/k8s/f{f}.yaml", line, "apps/v1"))
            line += rng.randint(2, 30)
    evaluated = [r for r in refs if rng.random() < 0.8]
    pairs = [(p, r) for r in evaluated for p in POLICIES if rng.random() < 0.7]
    pairs += [pairs[i] for i in range(len(pairs)) if rng.random() < 0.1]  # evaluated twice
    if in_order:
        pairs.sort(key=lambda pr: (pr[1].file, pr[1].line))
    else:
        rng.shuffle(pairs)
    findings = []
    for r in refs:
        for p in POLICIES:
            if rng.random() < 0.4:
                findings.append(Finding(p, "labels", Severity.HIGH, Enforcement.DENY, f"{p} on {r.name} <&>", r,
                                        field_line=r.line + rng.choice([0, 1] if in_order else [0, 1, 40]),
                                        monthly_cost=10.0))
    if refs and rng.random() < 0.5:
        findings.append(Finding(POLICIES[0], "quota", Severity.HIGH, Enforcement.WARN, "over quota", refs[0],
                                group="team=nlp", related=tuple(refs[:2])))
    findings.sort(key=lambda f: (f.resource.file, f.line, f.policy, f.resource.name))
    if not in_order and rng.random() < 0.5:
        rng.shuffle(findings)
    return Result(findings=findings, evaluations=pairs, stats=Stats(policies=len(POLICIES)))


@pytest.mark.parametrize("fmt", sorted(MODULES))
def test_the_same_bytes_as_a_mask_per_resource_in_any_order(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(12)
    joined = 0
    for n in range(150):
        result = _random_result(rng, in_order=n % 3 != 0)
        written, masked, read_together = _outputs(fmt, result, _ctx(), monkeypatch)
        assert written == masked, n
        joined += read_together
    assert joined >= 90  # the in-order ones are read together (a shuffled one may happen to be in order)


@pytest.mark.parametrize("fmt", sorted(MODULES))
def test_a_check_run_is_read_together_and_says_the_same(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real run (stdin cut into units, quotas decided over all): in resource order, so nothing is kept
    per resource; a TrainJob judged after the others (its runtime read elsewhere) falls back, the same bytes."""
    engine = load_engine([str(REPO / "tests" / "fixtures" / "engine" / "policies")])
    files = [*sorted((REPO / "examples" / "manifests").glob("*.yaml")),
             *sorted((REPO / "tests" / "fixtures" / "check" / "quota").glob("*.yaml"))]
    stream = b"".join(b"---\n" + p.read_bytes() + b"\n" for p in files)
    ordered = evaluate_paths(engine, ["-"], jobs=1, stdin=io.BytesIO(stream * 3)).result
    assert len(ordered.evaluations) > 50 and len(ordered.findings) > 20
    written, masked, read_together = _outputs(fmt, ordered, _ctx(), monkeypatch)
    assert written == masked and read_together
    trainer = REPO / "tests" / "fixtures" / "model" / "trainer" / "trainjobs.yaml"
    settled = evaluate_paths(engine, [str(trainer)], jobs=1, options=Options()).result
    written, masked, _ = _outputs(fmt, settled, _ctx(), monkeypatch)
    assert written == masked


def _many(resources: int) -> Result:
    def refs() -> Iterator[ResourceRef]:
        for i in range(resources):
            yield ResourceRef("Deployment", f"serve-{i:06d}", f"team-{i % 7}", f"/repo/k8s/app-{i // 10:05d}.yaml",
                              (i % 10) * 40 + 1, "apps/v1")

    class Again(list[Any]):  # read twice, made each time: what the reporter keeps is all the tracer sees
        def __init__(self, make: Any) -> None:
            super().__init__()
            self.make = make

        def __iter__(self) -> Iterator[Any]:
            return iter(self.make())

        def __len__(self) -> int:
            return resources

    findings = Again(lambda: (Finding("policy-0", "labels", Severity.LOW, Enforcement.DENY, "no team", r,
                                      field_line=r.line + 2) for r in refs()))
    pairs = Again(lambda: ((p, r) for r in refs() for p in POLICIES))
    return Result(findings=findings, evaluations=pairs, stats=Stats(policies=len(POLICIES)))


@pytest.mark.parametrize("fmt", sorted(MODULES))
def test_memory_does_not_grow_with_the_resources(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool_module, "BUDGET", 1 << 16)
    peaks = []
    for resources in (1_000, 4_000):
        result = _many(resources)
        tracemalloc.start()
        try:
            for _ in MODULES[fmt].stream(result, _ctx()):
                pass
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        peaks.append(peak)
    assert peaks[1] < peaks[0] * 1.3 + 64 * 1024, peaks  # with a mask per resource: about 4x
