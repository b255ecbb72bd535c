"""Hand-built results: reporters are tested without the engine, the way a library user would call them."""

from __future__ import annotations

import pytest

from policy_engine.compiler.program import CompiledPolicy, Enforcement, PolicySet, Severity
from policy_engine.diagnostics import Diagnostic, Span
from policy_engine.engine.findings import Finding, PolicySummary, Result, Stats
from policy_engine.model.documents import LoadError
from policy_engine.reporters.context import ReportContext
from policy_engine.reporters.costs import WorkloadCost

from .samples import NODE_JOB, ROOT, SERVE, TRAIN


def _policy(name: str, severity: Severity, enforcement: Enforcement, description: str) -> CompiledPolicy:
    return CompiledPolicy(name=name, description=description, severity=severity, enforcement=enforcement,
                          span=Span("/repo/policies/p.policy", 1), kinds=None, applies=lambda w: True,
                          violations=lambda w: [], help=f"How to fix {name}.", file="policies/p.policy")


@pytest.fixture
def policies() -> PolicySet:
    ps = (
        _policy("require-team-label", Severity.HIGH, Enforcement.DENY, "GPU workloads carry a team label"),
        _policy("prefer-spot", Severity.MEDIUM, Enforcement.WARN, "Training runs on spot capacity"),
        _policy("gpu-quota", Severity.CRITICAL, Enforcement.DENY, "Monthly GPU-hour quota per team"),
        _policy("never-fires", Severity.LOW, Enforcement.AUDIT, "A policy that found nothing"),
    )
    return PolicySet.build(ps, frozenset())


@pytest.fixture
def result() -> Result:
    findings = [
        Finding("require-team-label", "labels", Severity.HIGH, Enforcement.DENY,
                "missing label team", TRAIN, field_line=5, field_path=("metadata", "labels"),
                monthly_cost=12345.678),
        Finding("prefer-spot", "spot", Severity.MEDIUM, Enforcement.WARN, "runs on on-demand | not spot",
                TRAIN, field_line=20, monthly_cost=12345.678, saving=8000.0),
        Finding("gpu-quota", "quota", Severity.CRITICAL, Enforcement.DENY,
                "team=nlp projects 900 GPU-hours per month against a quota of 500", TRAIN, saving=1000.0,
                group='labels["team"]=nlp', related=(TRAIN, SERVE)),
        Finding("prefer-spot", "spot", Severity.MEDIUM, Enforcement.WARN, "runs on on-demand", NODE_JOB,
                monthly_cost=None),
    ]
    summaries = [
        PolicySummary("require-team-label", Severity.HIGH, Enforcement.DENY, findings=1,
                      flagged_monthly_cost=12345.68),
        PolicySummary("prefer-spot", Severity.MEDIUM, Enforcement.WARN, findings=2,
                      flagged_monthly_cost=12345.68, unpriced_flagged=1, saving=8000.0),
        PolicySummary("gpu-quota", Severity.CRITICAL, Enforcement.DENY, findings=1, saving=1000.0),
        PolicySummary("never-fires", Severity.LOW, Enforcement.AUDIT),
    ]
    errors: list[LoadError | Diagnostic] = [
        LoadError(Diagnostic(Span("/repo/k8s/broken.yaml", 7, 3), "E601", "invalid YAML: mapping values")),
        LoadError(Diagnostic(Span("<stdin>", 1), "E604", "document 1 has no 'kind' field")),
    ]
    evaluations = [(p, r) for r in (TRAIN, SERVE, NODE_JOB)
                   for p in ("require-team-label", "prefer-spot", "never-fires")]
    stats = Stats(files=4, documents=5, workloads=3, gpu_workloads=2, policies=4, seconds=0.1,
                  monthly_cost=15000.0, unpriced_workloads=1)
    return Result(findings, summaries, errors, stats, evaluations=evaluations)


@pytest.fixture
def costs() -> list[WorkloadCost]:
    return [WorkloadCost(TRAIN, "nlp", 16, 12345.678), WorkloadCost(SERVE, "vision", 1, 2654.32),
            WorkloadCost(NODE_JOB, "(untagged)", 0, None)]


@pytest.fixture
def ctx(policies: PolicySet, costs: list[WorkloadCost]) -> ReportContext:
    return ReportContext(root=ROOT, cwd=ROOT, policies=policies, tool_version="1.2.3", costs=costs,
                         generated_at=1_700_000_000.0)
