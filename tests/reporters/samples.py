"""The resources the reporter tests' sample results name, and findings of any content (hypothesis)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import strategies as st

from policy_engine.compiler.program import Enforcement, Severity
from policy_engine.engine.findings import Finding, ResourceRef

ROOT = Path("/repo")
TRAIN = ResourceRef("PyTorchJob", "train-llm", "nlp", "/repo/k8s/train.yaml", 3, "kubeflow.org/v1")
SERVE = ResourceRef("Deployment", "serve", "vision", "/repo/k8s/serve.yaml", 1, "apps/v1")
NODE_JOB = ResourceRef("Job", "burn|in", None, "/repo/k8s/cluster.yaml", 10, "batch/v1")

_text = st.text(st.characters(exclude_categories=()), max_size=12)  # lone surrogates too (undecodable bytes)
_amount = st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**6, 10**6)


_refs = st.builds(ResourceRef, _text, _text, st.none() | _text, _text, st.integers(0, 10**6), _text)


@st.composite
def findings(draw: st.DrawFn) -> Finding:
    ref = draw(_refs)
    facts = draw(st.sampled_from([(), (("saving", "unknown: no spot price"),), (("role", "worker"), ("n", 2))]))
    return Finding(policy=draw(_text), rule=draw(_text), severity=draw(st.sampled_from(list(Severity))),
                   enforcement=draw(st.sampled_from(list(Enforcement))), message=draw(st.text(max_size=40)),
                   resource=ref, field_line=draw(st.none() | st.integers(1, 10**6)),
                   field_path=draw(st.tuples() | st.tuples(_text, st.integers(0, 9)) | st.tuples(_text)),
                   monthly_cost=draw(_amount), saving=draw(_amount), group=draw(st.none() | _text),
                   related=tuple(draw(st.lists(_refs, max_size=3))), facts=facts, error=draw(st.booleans()))
