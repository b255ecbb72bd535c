"""The engine end to end: documents → workloads → priced → compiled policies → findings and summaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_engine.compiler.program import (
    CompiledPolicy,
    Enforcement,
    FailureMode,
    PolicySet,
    Severity,
    Violation,
)
from policy_engine.diagnostics import Span
from policy_engine.engine import Engine, Usage, load_engine
from policy_engine.errors import DiagnosticError
from policy_engine.model.documents import Document, load_paths
from policy_engine.model.workload import Workload

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "engine"
POLICIES = FIXTURES / "policies"


def _engine(*names: str) -> Engine:
    return load_engine([str(POLICIES / n) for n in names])


def _hours(engine: Engine) -> float:
    return float(engine.catalog.hours_per_month)


def test_per_workload_findings_carry_location_cost_and_field_line() -> None:
    engine = _engine("labels.policy", "spot.policy")
    result = engine.evaluate(load_paths([str(FIXTURES / "gpu.yaml")]))
    by = {(f.policy, f.resource.name): f for f in result.findings}
    assert set(by) == {("labels", "untagged"), ("spot", "serve")}

    untagged = by[("labels", "untagged")]
    assert untagged.resource.file.endswith("gpu.yaml")
    assert untagged.resource.line == 52  # the document's first line
    assert untagged.enforcement is Enforcement.DENY and untagged.severity is Severity.HIGH
    assert "team" in untagged.message

    spot = by[("spot", "serve")]
    g5 = engine.catalog.instance_types["g5.xlarge"]
    assert spot.monthly_cost == pytest.approx(2 * g5.on_demand * _hours(engine))
    # the bundled catalog's g5.xlarge spot price (AWS's spot feed, us-east-1) gives the saving
    assert g5.spot is not None
    assert spot.saving == pytest.approx(2 * (g5.on_demand - g5.spot) * _hours(engine), abs=0.01)
    assert spot.enforcement is Enforcement.WARN
    assert any(f.enforcement is Enforcement.DENY for f in result.findings)


def test_summary_sums_flagged_spend_once_per_workload_and_the_savings() -> None:
    engine = _engine("spot.policy")
    result = engine.evaluate(load_paths([str(FIXTURES / "gpu.yaml")]))
    (summary,) = result.summaries
    (finding,) = result.findings
    assert summary.findings == 1
    assert summary.flagged_monthly_cost == pytest.approx(finding.monthly_cost or 0)
    assert summary.saving == pytest.approx(finding.saving or 0)
    assert result.stats.workloads == 3 and result.stats.gpu_workloads == 2 and result.stats.documents == 3


def test_quota_override_raises_one_groups_limit_and_the_default_applies_to_the_others() -> None:
    engine = _engine("quota.policy")
    result = engine.evaluate(load_paths([str(FIXTURES / "gpu.yaml")]))
    # nlp: 2 GPUs all month > the default 1000; research: 1 GPU all month < its 5000 override
    assert 2 * _hours(engine) > 1000 and _hours(engine) < 5000
    assert [f.group for f in result.findings] == ['labels["team"]=nlp']
    assert result.findings[0].resource.name == "serve"
    assert result.findings[0].line == 2


def test_quota_exceeded_when_the_set_grows(tmp_path: Path) -> None:
    engine = _engine("quota.policy")
    text = (FIXTURES / "gpu.yaml").read_text()
    # the nlp deployment twice (another file): 4 GPUs × hours_per_month for team nlp
    (tmp_path / "a.yaml").write_text(text)
    (tmp_path / "b.yaml").write_text(text.replace("name: serve", "name: serve-canary"))
    result = engine.evaluate(load_paths([str(tmp_path)]))
    (finding,) = result.findings
    used = 4 * _hours(engine)
    assert finding.group == 'labels["team"]=nlp'
    assert f"{used:,.0f} GPU-hours" in finding.message and "1,000 GPU-hours" in finding.message
    assert f"over by {used - 1000:,.0f}" in finding.message
    assert {r.name for r in finding.related} == {"serve", "serve-canary"}
    assert finding.enforcement is Enforcement.DENY
    # the overage is priced at the group's own $/GPU-hour
    g5 = engine.catalog.instance_types["g5.xlarge"]
    assert finding.saving == pytest.approx((used - 1000) * g5.on_demand)


def test_budget_alerts_warn_below_the_limit_and_enforce_above_it() -> None:
    # g5.xlarge at $1/h: team nlp's two serving replicas cost 2 x $1 x 730 h = $1,460 a month, 73% of the
    # $2,000 budget: past the 50% alert, below the limit
    engine = load_engine([str(POLICIES / "budget.policy")], pricing=FIXTURES / "one-dollar-g5.yaml")
    assert 2 * 1.0 * _hours(engine) == 1460.0
    result = engine.evaluate(load_paths([str(FIXTURES / "gpu.yaml")]))
    nlp = [f for f in result.findings if f.group == 'labels["team"]=nlp']
    assert len(nlp) == 1 and nlp[0].enforcement is Enforcement.WARN
    assert "alert at" in nlp[0].message
    over = load_engine([str(POLICIES / "budget.policy")], pricing=FIXTURES / "one-dollar-g5.yaml")
    doubled = [d for d in load_paths([str(FIXTURES / "gpu.yaml")]) if isinstance(d, Document)]
    for doc in doubled:
        if doc.kind == "Deployment" and doc.obj.get("metadata", {}).get("labels", {}).get("team") == "nlp":
            doc.obj["spec"]["replicas"] = 4  # $2,920: over the limit
    (denied,) = [f for f in over.evaluate(doubled).findings if f.group == 'labels["team"]=nlp']
    assert denied.enforcement is Enforcement.DENY


class _Live:
    def __init__(self, usage: Usage | None) -> None:
        self.value = usage
        self.asked: list[str] = []

    def usage(self, rule: object, key: str) -> Usage | None:
        self.asked.append(key)
        return self.value


def test_admission_compares_used_plus_running_plus_new_with_the_quota() -> None:
    engine = _engine("quota.policy")
    docs = [d for d in load_paths([str(FIXTURES / "gpu.yaml")]) if getattr(d, "kind", "") == "Deployment"][:1]
    live = _Live(Usage(used=300.0, running=200.0))
    result = engine.evaluate(docs, usage=live)
    assert live.asked == ["nlp"]
    (finding,) = result.findings
    assert "300 GPU-hours used" in finding.message and "200 GPU-hours committed" in finding.message
    assert f"{300 + 200 + 2 * _hours(engine):,.0f} GPU-hours per month" in finding.message
    # research's override is far larger: the same usage does not take it over
    deployments = [d for d in load_paths([str(FIXTURES / "gpu.yaml")]) if getattr(d, "kind", "") == "Deployment"]
    research = deployments[1:]
    assert engine.evaluate(research, usage=_Live(Usage(used=300.0, running=200.0))).findings == []


def test_unknown_live_usage_follows_the_failure_mode() -> None:
    engine = _engine("quota.policy")  # on_error closed
    docs = [d for d in load_paths([str(FIXTURES / "gpu.yaml")]) if getattr(d, "kind", "") == "Deployment"][:1]
    (finding,) = engine.evaluate(docs, usage=_Live(None)).findings
    assert finding.error and finding.enforcement is Enforcement.DENY
    assert "not synced" in finding.message and "closed" in finding.message


def test_a_malformed_workload_is_a_located_error_and_the_rest_is_still_checked() -> None:
    engine = _engine("labels.policy")
    result = engine.evaluate(load_paths([str(FIXTURES / "malformed.yaml")]))
    (error,) = result.errors
    assert error.span.line == 8 and "replicas" in error.message  # type: ignore[union-attr]
    assert result.stats.documents == 2 and result.stats.workloads == 1
    assert ("labels", "fine") in {(p, r.name) for p, r in result.evaluations}


def test_a_policy_that_raises_becomes_an_error_finding_following_its_failure_mode() -> None:
    def boom(_w: Workload) -> list[Violation]:
        raise ZeroDivisionError("division by zero")

    def policy(name: str, mode: FailureMode) -> CompiledPolicy:
        return CompiledPolicy(name=name, description="", severity=Severity.LOW, enforcement=Enforcement.AUDIT,
                              span=Span("x.policy", 1), kinds=None, applies=lambda w: True, violations=boom,
                              failure_mode=mode)

    base = _engine("labels.policy")
    policies = PolicySet.build((policy("open", FailureMode.OPEN), policy("closed", FailureMode.CLOSED)),
                               frozenset())
    engine = Engine(policies, base.catalog)
    result = engine.evaluate(load_paths([str(FIXTURES / "gpu.yaml")]))
    modes = {(f.policy, f.enforcement) for f in result.findings}
    assert modes == {("open", Enforcement.WARN), ("closed", Enforcement.DENY)}
    assert all(f.error and "ZeroDivisionError" in f.message for f in result.findings)


def test_partial_results_merged_equal_one_run(tmp_path: Path) -> None:
    engine = _engine("labels.policy", "spot.policy", "quota.policy")
    text = (FIXTURES / "gpu.yaml").read_text()
    for i in range(3):
        (tmp_path / f"f{i}.yaml").write_text(text.replace("name: serve", f"name: serve-{i}"))
    files = sorted(str(p) for p in tmp_path.iterdir())
    whole = engine.evaluate(load_paths(files))
    parts = [engine.evaluate_partial(load_paths([f])) for f in files]
    merged = engine.finish(parts)
    assert [f.to_dict() for f in merged.findings] == [f.to_dict() for f in whole.findings]
    assert any(f.group for f in merged.findings)  # the quota was decided over all three files


def test_bad_policy_files_raise_located_diagnostics(tmp_path: Path) -> None:
    bad = tmp_path / "bad.policy"
    bad.write_text('policy "x" {\n  match { kinds workloads }\n  assert gpuz > 1\n}\n')
    with pytest.raises(DiagnosticError) as info:
        load_engine([str(bad)])
    (err,) = info.value.errors
    assert (err.span.file, err.span.line) == (str(bad), 3)
    assert "gpuz" in str(info.value)


def test_an_unread_kind_asking_for_gpus_is_a_built_in_finding_naming_the_kind_and_the_field() -> None:
    """The issue's reproduction: a GPUTrainer with 16 GPUs 'PASSED'."""
    engine = _engine("labels.policy")
    manifest = FIXTURES / "unread" / "gputrainer.yaml"
    result = engine.evaluate(load_paths([str(manifest)]))
    found = {(f.resource.kind, f.policy, f.enforcement, f.field_path[-1]) for f in result.findings}
    assert found == {("GPUTrainer", "unread-gpu-kind", Enforcement.WARN, "nvidia.com/gpu"),
                     ("DraJob", "unread-gpu-kind", Enforcement.WARN, "deviceClassName")}
    trainer = next(f for f in result.findings if f.resource.kind == "GPUTrainer")
    assert trainer.field_line == 14 and "spec.worker.resources.limits" in trainer.message
    engine.unread_gpu = Enforcement.DENY  # configurable to deny
    assert any(f.enforcement is Enforcement.DENY for f in engine.evaluate(load_paths([str(manifest)])).findings)
