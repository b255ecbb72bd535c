from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.compiler.program import Enforcement, Severity
from policy_engine.engine.findings import Finding, Result
from policy_engine.reporters import json_report
from policy_engine.reporters.context import ReportContext

from .samples import findings


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
    from policy_engine.compiler.program import Enforcement
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


@settings(max_examples=300, deadline=None)
@given(findings(), st.booleans())
def test_a_findings_piece_is_the_encoders_text_of_its_dict(f: Finding, warn_fails: bool) -> None:
    """The piece is put together from encoded parts for speed: byte for byte what encoding its dict gives,
    whatever the strings (any script, control characters, quotes) and numbers (NaN, infinities, ints)."""
    ctx = ReportContext(root=Path("/repo"), cwd=Path("/repo"),
                        fail_on=frozenset({Enforcement.DENY, Enforcement.WARN} if warn_fails else {Enforcement.DENY}))
    try:
        expected = json_report.encode(json_report._finding(f, ctx))
    except UnicodeEncodeError:  # a lone surrogate in what the fingerprint hashes (``safe`` escapes it first)
        with pytest.raises(UnicodeEncodeError):
            json_report.piece(f, ctx)
        return
    assert json_report.piece(f, ctx) == expected
    assert json_report.piece(f, ctx) == json_report.piece(f, ctx)  # the resource's text, kept from the last, too


@settings(max_examples=150, deadline=None)
@given(st.lists(findings(), min_size=1, max_size=6), st.lists(st.integers(0, 5), min_size=6, max_size=6))
def test_pieces_of_findings_sharing_resources_and_rules_in_turn(drawn: list[Finding], picks: list[int]) -> None:
    """What a piece keeps from the findings before it (its (policy, rule)'s head, its resource's text and the
    parts of the fingerprint they make, the monthly cost) never leaks into the next: findings sharing their
    resource, their policy and rule, or their monthly cost, one after another or apart, in two contexts."""
    base = replace(drawn[0], resource=replace(drawn[0].resource, file="/repo/k8s/a.yaml"))
    seq = [replace(drawn[i % len(drawn)], resource=base.resource if i % 2 else drawn[i % len(drawn)].resource,
                   policy=base.policy if i % 3 == 0 else drawn[i % len(drawn)].policy,
                   monthly_cost=base.monthly_cost if i % 4 else drawn[i % len(drawn)].monthly_cost)
           for i in picks]
    contexts = [ReportContext(root=Path("/repo"), cwd=Path("/repo")), ReportContext(root=Path("/"), cwd=Path("/"))]
    for n, f in enumerate(seq):
        ctx = contexts[n % 3 == 2]
        try:
            expected = json_report.encode(json_report._finding(f, ctx))
        except UnicodeEncodeError:
            continue
        assert json_report.piece(f, ctx) == expected
