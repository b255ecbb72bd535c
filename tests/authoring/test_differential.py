"""Differential test: ``explain``'s authoring interpreter and the compiled closures decide alike.

Two implementations of the language's semantics exist on purpose: closures for speed, a tracing
interpreter that says why. On the same inputs they must agree on every verdict and every message: the
bundled policies (with the examples) over their own test samples and the workload model's fixtures, and
hypothesis-generated expressions over built workloads. Everything here is in the repository (the broader
run over ../shared/corpus is ``test_explain.py``'s and skips without it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy_engine.authoring.testfile import load_suite
from policy_engine.authoring.trace import PolicyTracer
from policy_engine.compiler import compile_policies, compile_text
from policy_engine.diagnostics import render_all
from policy_engine.engine import Engine
from policy_engine.errors import WorkloadError
from policy_engine.model.documents import Document, load_paths
from policy_engine.model.workload import CapacityType, Workload
from policy_engine.pricing.catalog import Catalog, load_catalog
from tests.workloads import UNBOUNDED, bounded, role, workload

ROOT = Path(__file__).resolve().parents[2]
POLICY_DIRS = [str(ROOT / "policies"), str(ROOT / "examples" / "policies")]
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def library(catalog: Catalog) -> tuple[Engine, list[PolicyTracer]]:
    compiled = compile_policies(POLICY_DIRS, catalog=catalog)
    assert compiled.policy_set is not None, render_all(compiled.diagnostics, compiled.sources)
    tracers = []
    for checked in compiled.checked:
        full = compiled.policy_set.get(checked.instance.name)
        assert full is not None
        tracers.append(PolicyTracer(checked, full, catalog))
    return Engine(compiled.policy_set, catalog), tracers


def _sample_documents() -> list[Document]:
    """Every manifest the bundled policies' tests use, and every workload-model fixture."""
    docs: list[Document] = []
    for test_file in sorted((ROOT / "policies" / "tests").rglob("*.test.yaml")):
        suite, problems = load_suite(test_file.read_text(encoding="utf-8"), str(test_file))
        assert suite is not None, problems
        docs.extend(d for d in suite.inline if isinstance(d, Document))
        for path, _ in suite.resource_files:
            docs.extend(d for d in load_paths([path]) if isinstance(d, Document))
    for folder in ("model", "engine", "documents", "check"):
        docs.extend(d for d in load_paths([str(FIXTURES / folder)]) if isinstance(d, Document))
    return docs


def _workloads(engine: Engine, docs: list[Document]) -> list[Workload]:
    out = []
    for doc in docs:
        try:
            w = engine.workload(doc)
        except WorkloadError:
            continue
        if w is not None:
            out.append(w)
    return out


def test_the_bundled_policies_agree_on_their_samples_and_the_model_fixtures(
        library: tuple[Engine, list[PolicyTracer]]) -> None:
    engine, tracers = library
    workloads = _workloads(engine, _sample_documents())
    assert len(workloads) > 100
    verdicts: dict[str, int] = {}
    for w in workloads:
        for tracer in tracers:
            trace = tracer.trace(w)
            assert trace.agrees, (tracer.full.name, w.ref(), trace.verdict, trace.compiled, trace.violations)
            verdicts[trace.verdict] = verdicts.get(trace.verdict, 0) + 1
    assert verdicts.get("pass", 0) > 50 and verdicts.get("fail", 0) > 50 and verdicts.get("skip", 0) > 50


# --- generated expressions --------------------------------------------------------------------------

_ATOMS = [
    "gpus == 4", "gpus >= 2", "gpus > 8", "replicas <= 2", "gpus * 2 - 1 == 7", "gpus / 4 == 1",
    'labels["team"] == "ml"', 'labels["team"] in ["ml", "nlp"]', 'labels["team"] not in ["web"]',
    '"team" in labels', 'name =~ "^tr"', 'name matches "ain$"', 'kind in ["Job", "Deployment"]',
    'namespace == "ml"', "monthly_cost > $1,000", "monthly_cost < $100", "idle_timeout < 1h",
    "idle_timeout == null", 'capacity_type == "spot"', 'gpu_model == "NVIDIA-A100"',
    "object.spec.parallelism == 4", "object.spec.missing > 0", "has(object.spec.parallelism)",
    'startswith(name, "tr")', 'lower(kind) == "job"', "len(object.spec.template.spec.containers) == 1",
    'object.metadata.labels["app"] == "llm"', "true", "false",
]

_expressions = st.recursive(
    st.sampled_from(_ATOMS),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda ab: f"({ab[0]}) and ({ab[1]})"),
        st.tuples(inner, inner).map(lambda ab: f"({ab[0]}) or ({ab[1]})"),
        inner.map(lambda a: f"not ({a})"),
    ),
    max_leaves=6,
)

_OBJ = {"kind": "Job", "metadata": {"name": "train", "labels": {"app": "llm"}},
        "spec": {"parallelism": 4, "template": {"spec": {"containers": [{"image": "vllm:0.6"}]}}}}
_SUBJECTS = [
    workload(role(gpus=2, replicas=2, gpu_model="NVIDIA-A100", capacity=CapacityType.SPOT), kind="Job",
             name="train", namespace="ml", labels={"team": "ml"}, obj=_OBJ, run_time=bounded(3), monthly=2500.0),
    workload(role(gpus=1), name="web-chat", labels={"team": "web"}, idle_timeout=600, monthly=50.0),
    workload(role(), kind="Deployment", name="tr-api", namespace=None, run_time=UNBOUNDED),
    workload(role(gpus=8, replicas=4, instance_type="p4d.24xlarge", capacity=CapacityType.ON_DEMAND),
             kind="Job", name="pretrain", namespace="ml", labels={"team": "nlp"}, monthly=90_000.0),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(condition=_expressions, rule=st.sampled_from(["assert", "forbid"]))
def test_generated_expressions_agree(catalog: Catalog, condition: str, rule: str) -> None:
    text = f'policy "generated" {{\n  {rule} {condition}\n    message "{{name}}"\n}}\n'
    compiled = compile_text(text, "generated.policy", catalog=catalog)
    if compiled.policy_set is None:  # a constant condition, an always-false rule: the compiler says so
        assert compiled.errors, text
        return
    [checked] = compiled.checked
    [full] = compiled.policy_set.policies
    tracer = PolicyTracer(checked, full, catalog)
    for w in _SUBJECTS:
        trace = tracer.trace(w)
        assert trace.agrees, (condition, w.name, trace.verdict, trace.compiled)
