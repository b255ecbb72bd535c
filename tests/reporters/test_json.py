from __future__ import annotations

import json
from dataclasses import replace

from policy_engine.engine.findings import Result
from policy_engine.reporters import json_report
from policy_engine.reporters.context import ReportContext


def test_findings_have_the_documented_fields(result: Result, ctx: ReportContext) -> None:
    doc = json.loads(json_report.render(result, ctx))
    assert doc["schema_version"] == json_report.SCHEMA_VERSION
    f = doc["findings"][0]
    assert {"policy", "severity", "enforcement", "message", "resource", "monthly_cost", "saving", "line",
            "fingerprint", "new", "fails"} <= set(f)
    assert f["resource"] == {"kind": "PyTorchJob", "api_version": "kubeflow.org/v1", "name": "train-llm",
                             "namespace": "nlp", "file": "k8s/train.yaml", "line": 3}
    assert f["line"] == 5
    assert f["monthly_cost"] == 12345.68


def test_verdict_errors_summary_and_teams(result: Result, ctx: ReportContext) -> None:
    doc = json.loads(json_report.render(result, ctx))
    assert doc["verdict"] == {"passed": False, "failing_findings": 2, "fail_on": ["deny"]}
    assert [(e["file"], e["line"], e["code"]) for e in doc["errors"]] == [
        ("k8s/broken.yaml", 7, "E601"), ("<stdin>", 1, "E604")]
    assert {s["policy"] for s in doc["summary"]} == {"require-team-label", "prefer-spot", "gpu-quota",
                                                     "never-fires"}
    assert doc["teams"][0] == {"team": "nlp", "workloads": 1, "gpus": 16, "monthly_cost": 12345.68,
                               "unpriced_workloads": 0}
    assert doc["stats"]["documents"] == 5
    assert doc["cost_diff"] is None


def test_a_quota_finding_with_thousands_of_related_workloads_streams_to_the_same_text() -> None:
    from policy_engine.compiler.program import Enforcement, Severity
    from policy_engine.engine.findings import Finding, ResourceRef
    from policy_engine.reporters import ReportContext
    from policy_engine.reporters.json_report import _finding, _finding_json, encode

    related = tuple(ResourceRef("Job", f"train-{i}", "nlp", f"k8s/job-{i}.yaml", i + 1, "batch/v1")
                    for i in range(3000))
    f = Finding(policy="team-gpu-quota", rule="quota", severity=Severity.HIGH, enforcement=Enforcement.DENY,
                message="team nlp over its GPU quota", resource=related[0], monthly_cost=12.5, group="team=nlp",
                related=related, facts=(("limit", 8.0),))
    ctx = ReportContext()
    assert _finding_json(f, ctx) == encode(_finding(f, ctx))
    few = replace(f, related=related[:3])
    assert _finding_json(few, ctx) == encode(_finding(few, ctx))
