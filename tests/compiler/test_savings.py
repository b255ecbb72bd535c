"""Violations of spot, allowlist and idle rules carry the pricing engineer's saving estimates."""

from __future__ import annotations

from pathlib import Path

from policy_engine.compiler import compile_text
from policy_engine.engine import load_engine
from policy_engine.model.documents import load_paths

MANIFEST = Path(__file__).parent.parent / "fixtures" / "compiler" / "manifests" / "gpu-deployment.yaml"
POLICY = """policy "p" {
  allow instance_types ["g5.*"]
  require spot
  require idle_timeout
  require labels ["cost-center"]
}"""


def test_savings_are_attached_to_the_rules_that_have_one() -> None:
    engine = load_engine(policy_paths=[Path(__file__).parent.parent / "fixtures" / "compiler" / "imports"])
    [doc] = list(load_paths([str(MANIFEST)]))
    w = engine.workload(doc)  # type: ignore[arg-type]
    assert w is not None and w.cost is not None and w.cost.priced
    result = compile_text(POLICY, catalog=engine.catalog)
    assert result.policy_set is not None
    [policy] = result.policy_set.policies
    savings = {v.rule: v.saving for v in policy.check(w)}
    assert set(savings) == {"instance_type", "spot", "idle", "labels"}
    assert savings["labels"] is None
    for rule in ("instance_type", "spot", "idle"):
        saving = savings[rule]
        assert saving is not None and 0 < saving <= w.cost.monthly  # type: ignore[operator]
