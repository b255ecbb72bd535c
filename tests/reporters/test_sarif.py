from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.engine.findings import Finding, ResourceRef, Result
from policy_engine.reporters import sarif
from policy_engine.reporters.context import ReportContext

from .samples import _refs, findings

SCHEMA = Path(__file__).resolve().parents[3] / "shared" / "schemas" / "sarif-schema-2.1.0.json"


def _doc(result: Result, ctx: ReportContext) -> dict[str, Any]:
    doc = json.loads(sarif.render(result, ctx))
    assert isinstance(doc, dict)
    return doc


def test_valid_against_the_official_schema(result: Result, ctx: ReportContext) -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is a test extra")
    if not SCHEMA.exists():
        pytest.skip(f"SARIF schema not found at {SCHEMA} (../shared is absent in a user's clone)")
    jsonschema.validate(_doc(result, ctx), json.loads(SCHEMA.read_text()))


def test_rules_come_from_every_policy_with_github_fields(result: Result, ctx: ReportContext) -> None:
    driver = _doc(result, ctx)["runs"][0]["tool"]["driver"]
    assert driver["version"] == "1.2.3"
    rules = {r["id"]: r for r in driver["rules"]}
    assert set(rules) == {"require-team-label", "prefer-spot", "gpu-quota", "never-fires"}
    quota = rules["gpu-quota"]
    assert quota["defaultConfiguration"]["level"] == "error"
    assert float(quota["properties"]["security-severity"]) >= 9.0
    assert rules["prefer-spot"]["defaultConfiguration"]["level"] == "warning"
    assert rules["never-fires"]["defaultConfiguration"]["level"] == "note"
    assert quota["shortDescription"]["text"] == "Monthly GPU-hour quota per team"
    assert "How to fix gpu-quota." in quota["help"]["markdown"]


def test_results_point_at_repo_relative_lines(result: Result, ctx: ReportContext) -> None:
    run = _doc(result, ctx)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    first = run["results"][0]
    assert rules[first["ruleIndex"]]["id"] == first["ruleId"] == "require-team-label"
    loc = first["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "k8s/train.yaml", "uriBaseId": "%SRCROOT%"}
    assert loc["region"]["startLine"] == 5  # the labels field, not the document start
    assert first["properties"]["monthlyCost"] == 12345.68
    quota = next(r for r in run["results"] if r["ruleId"] == "gpu-quota")
    related = [x["physicalLocation"]["artifactLocation"]["uri"] for x in quota["relatedLocations"]]
    assert related == ["k8s/train.yaml", "k8s/serve.yaml"]
    assert quota["properties"]["group"] == 'labels["team"]=nlp'


def test_fingerprints_survive_a_line_shift(result: Result, ctx: ReportContext) -> None:
    shifted = Result([replace(f, field_line=(f.field_line or 0) + 40) for f in result.findings])
    before = [r["partialFingerprints"] for r in _doc(result, ctx)["runs"][0]["results"]]
    after = [r["partialFingerprints"] for r in _doc(shifted, ctx)["runs"][0]["results"]]
    assert before == after
    assert len({json.dumps(p) for p in before}) == len(before)


def test_load_errors_are_located_notifications(result: Result, ctx: ReportContext) -> None:
    inv = _doc(result, ctx)["runs"][0]["invocations"][0]
    assert inv["executionSuccessful"] is False
    notes = inv["toolExecutionNotifications"]
    assert notes[0]["locations"][0]["physicalLocation"]["region"] == {"startLine": 7, "startColumn": 3}
    assert notes[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "%3Cstdin%3E"


def test_a_quota_finding_naming_thousands_of_workloads_streams_to_the_same_valid_text(
        result: Result, ctx: ReportContext) -> None:
    """Its related locations are encoded one at a time (not built as thousands of dicts first): same text."""
    from policy_engine.engine.findings import ResourceRef
    from policy_engine.reporters.sarif import _encode, _result, _result_json

    quota = next(f for f in result.findings if f.group)
    related = tuple(ResourceRef("Job", f"train-{i}", "nlp", f"/repo/k8s/job-{i}.yaml", i + 1, "batch/v1")
                    for i in range(3000))
    big = replace(quota, related=related)
    assert _result_json(big, 2, ctx) == _encode(_result(big, 2, ctx))
    doc = _doc(replace(result, findings=[*result.findings, big]), ctx)
    (streamed,) = [r for r in doc["runs"][0]["results"] if len(r.get("relatedLocations", ())) == 3000]
    assert streamed["relatedLocations"][2999]["physicalLocation"]["artifactLocation"]["uri"] == "k8s/job-2999.yaml"
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is a test extra")
    if SCHEMA.exists():
        jsonschema.validate(doc, json.loads(SCHEMA.read_text()))


@settings(max_examples=300, deadline=None)
@given(findings(), st.lists(_refs, min_size=64, max_size=70))
def test_a_quota_findings_related_locations_are_the_encoders_text(f: Finding, related: list[ResourceRef]) -> None:
    """A group finding naming 64 workloads or more has its related locations put together from encoded parts:
    byte for byte what encoding their dicts gives, whatever the names (any script, quotes, control characters)."""
    ctx = ReportContext(root=Path("/repo"), cwd=Path("/repo"))
    many = replace(f, related=tuple(related))
    try:
        expected = sarif._encode(sarif._result(many, 3, ctx))
    except UnicodeEncodeError:  # a lone surrogate in what the fingerprint hashes (``safe`` escapes it first)
        return
    assert sarif._result_json(many, 3, ctx) == expected
    assert sarif.piece(many, ctx) == sarif._encode(sarif._result(many, sarif._OUTSIDE, ctx))  # outside any set
