"""Violations of spot, allowlist and idle rules carry the pricing engineer's saving estimates."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    violations = {v.rule: v for v in policy.violations(w)}
    savings = {rule: v.saving for rule, v in violations.items()}
    assert set(savings) == {"instance_type", "spot", "idle", "labels"}
    assert savings["labels"] is None
    for rule in ("instance_type", "idle"):
        saving = savings[rule]
        assert saving is not None and 0 < saving <= w.cost.monthly  # type: ignore[operator]
    # the bundled catalog's spot price is AWS's spot feed's (us-east-1): the saving is on-demand − spot
    assert w.cost.spot_monthly is not None and w.cost.on_demand_monthly is not None
    assert savings["spot"] == pytest.approx(w.cost.on_demand_monthly - w.cost.spot_monthly, abs=0.01)


def test_the_spot_saving_comes_from_a_real_spot_price_when_the_catalog_has_one(tmp_path: Path) -> None:
    pricing = tmp_path / "spot.yaml"
    pricing.write_text(
        "instance_types:\n  p4d.24xlarge: {provider: aws, region: us-east-1, gpus: 8, gpu_model: A100, vcpus: 96,"
        " memory_gib: 1152, on_demand: 21.9576, spot: 8.0, spot_source: spot.json, spot_date: '2025-11-28'}\n")
    engine = load_engine(policy_paths=[Path(__file__).parent.parent / "fixtures" / "compiler" / "imports"],
                         pricing=pricing)
    [doc] = list(load_paths([str(MANIFEST)]))
    w = engine.workload(doc)  # type: ignore[arg-type]
    assert w is not None and w.cost is not None and w.cost.monthly is not None
    result = compile_text(POLICY, catalog=engine.catalog)
    assert result.policy_set is not None
    [policy] = result.policy_set.policies
    spot = next(v for v in policy.violations(w) if v.rule == "spot")
    assert spot.saving is not None and spot.saving == pytest.approx(w.cost.monthly * (1 - 8.0 / 21.9576))
    assert "saving" not in spot.facts
