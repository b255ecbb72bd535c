"""Property: any text, random or a mutated real policy, compiles or yields located diagnostics.

Never another exception, never a hang; a policy that compiles evaluates without raising.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy_engine.compiler import compile_text
from policy_engine.compiler.cel import compile_cel
from policy_engine.model.workload import CapacityType
from tests.workloads import role, workload

compile_cel("true")  # cel-python raises the recursion limit once, before hypothesis watches it

FIXTURES = Path(__file__).parent.parent / "fixtures"
SEEDS = [p.read_text() for p in sorted((FIXTURES / "compiler" / "errors").glob("*.policy"))] + [
    (FIXTURES / "syntax" / "every_construct.policy").read_text()]
TOKENS = [
    "policy", '"p"', "{", "}", "[", "]", "(", ")", ",", "=", "==", "<=", ">", "!", "require", "labels", "label",
    "allow", "deny", "instance_types", "gpu_models", "spot", "pinned", "idle_timeout", "deadline", "assert",
    "forbid", "idle", "gpu_utilisation", "for", "quota", "budget", "per", "by", "alert", "at", "overrides",
    "month", "when", "if", "message", "match", "exclude", "kinds", "namespaces", "workloads", "Job", "severity",
    "high", "param", "import", "with", "as", "gpus", "name", "object", ".", "spec", "cel", '"a == 1"', "and",
    "or", "not", "in", "matches", "=~", "true", "false", "null", "8", "30m", "80%", "$1,500", "7x", "#c\n",
    '"{name}"', '"[a-"', "-", "*", "/", "+", "\n",
]
W = [
    workload(role(gpus=2, gpu_model="NVIDIA-A10G", instance_type="g5.xlarge", capacity=CapacityType.SPOT),
             labels={"team": "ml"}, obj={"spec": {"replicas": 2}}, idle_timeout=600, monthly=900.0),
    workload(role("a", gpus=1), role("b"), namespace=None),
]


def _assert_located(text: str) -> None:
    result = compile_text(text, "fuzz.policy")
    lines = max(text.count("\n") + 1, 1)
    for d in result.diagnostics:
        assert d.span.file == "fuzz.policy"
        assert 1 <= d.span.line <= lines and d.span.column >= 1, d
        assert d.code[0] in "EW" and d.code[1:].isdigit()
        d.render(text)
    if result.policy_set is not None:
        for policy in result.policy_set.policies:
            for w in W:
                policy.applies(w)
                policy.violations(w)
                for rule in policy.aggregates:
                    rule.key(w)
    else:
        assert any(d.is_error for d in result.diagnostics)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join))
def test_random_token_streams(text: str) -> None:
    _assert_located(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 4),
                                                   st.text(max_size=4)), max_size=4))
def test_mutated_policies(seed: str, edits: list[tuple[int, int, str]]) -> None:
    text = seed
    for pos, cut, insert in edits:
        at = pos % (len(text) + 1)
        text = text[:at] + insert + text[at + cut:]
    _assert_located(text)


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text(text: str) -> None:
    _assert_located(text)
