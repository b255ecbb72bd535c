from __future__ import annotations

import json
from dataclasses import replace

from policy_engine.engine.findings import Result
from policy_engine.reporters import codequality, render
from policy_engine.reporters.context import ReportContext

GITLAB_SEVERITIES = {"info", "minor", "major", "critical", "blocker"}


def test_every_finding_and_error_is_an_issue_with_the_keys_gitlab_reads(result: Result, ctx: ReportContext) -> None:
    issues = json.loads(render("codequality", result, ctx))
    assert len(issues) == len(result.findings) + len(result.errors)
    for issue in issues:
        assert {"description", "check_name", "fingerprint", "severity", "location"} <= set(issue)
        assert issue["severity"] in GITLAB_SEVERITIES
        assert isinstance(issue["location"]["lines"]["begin"], int)
        assert not issue["location"]["path"].startswith("/")  # relative to the repository root
    first = issues[0]
    assert first["check_name"] == "require-team-label"
    assert first["location"] == {"path": "k8s/train.yaml", "lines": {"begin": 5}}
    assert first["severity"] == "major"
    assert "PyTorchJob nlp/train-llm: missing label team ($12,345.68/month)" in first["description"]
    errors = [i for i in issues if i["check_name"] == "E601"]
    assert errors[0]["severity"] == "blocker" and errors[0]["location"]["path"] == "k8s/broken.yaml"
    assert len({i["fingerprint"] for i in issues}) == len(issues)


def test_fingerprints_survive_a_line_move(result: Result, ctx: ReportContext) -> None:
    before = codequality.report(result, ctx)[0]["fingerprint"]
    moved = replace(result.findings[0], field_line=42)
    after = codequality.report(Result([moved]), ctx)[0]
    assert after["fingerprint"] == before and after["location"]["lines"]["begin"] == 42


def test_streamed_text_is_json_dumps_indented(result: Result, ctx: ReportContext) -> None:
    """Written an issue at a time, with the C encoder: the text ``json.dumps(…, indent=1)`` gives."""
    hostile = replace(result.findings[0], message='quote " backslash \\ tab \t <b> é 😀 \u2028')
    res = replace(result, findings=[hostile, *result.findings[1:]])
    assert codequality.render(res, ctx) == json.dumps(codequality.report(res, ctx), ensure_ascii=False, indent=1) + "\n"
    assert codequality.render(Result(), ctx) == "[]\n"
