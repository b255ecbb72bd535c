"""Policy regexes run on RE2 (issue #13): no pattern backtracks, and what RE2 cannot do is an E205."""

from __future__ import annotations

import time

from policy_engine.compiler import compile_text
from tests.workloads import workload

POLICY = '''policy "names" {{
  description "d"
  severity low
  enforcement deny
  match {{
    kinds workloads
  }}
  assert name =~ "{pattern}"
}}
'''


def test_a_catastrophic_pattern_matches_in_linear_time() -> None:
    """``^(a+)+$`` against 'aaa…ab' takes exponential time in Python's re (0.8 s a request on main)."""
    compiled = compile_text(POLICY.format(pattern="^(a+)+$"))
    assert compiled.ok, compiled.diagnostics
    policy = compiled.policy_set.policies[0]  # type: ignore[union-attr]
    hostile = workload(name="a" * 5_000 + "b")
    started = time.perf_counter()
    violations = policy.violations(hostile)
    assert violations  # the name does not match: the assertion fails, quickly
    assert time.perf_counter() - started < 1.0  # Python's re would not finish this within the test run


def test_backreferences_and_lookaround_are_e205() -> None:
    for pattern in ("(a)\\\\1", "^(?=x)", "(?<!a)b"):
        compiled = compile_text(POLICY.format(pattern=pattern))
        codes = [d.code for d in compiled.diagnostics]
        assert codes == ["E205"], (pattern, compiled.diagnostics)
        assert "RE2 syntax" in (compiled.diagnostics[0].hint or "")
