from __future__ import annotations

import xml.etree.ElementTree as ET

from policy_engine.engine.findings import Result
from policy_engine.reporters import junit
from policy_engine.reporters.context import ReportContext


def _suites(result: Result, ctx: ReportContext) -> dict[str, ET.Element]:
    root = ET.fromstring(junit.render(result, ctx))
    assert root.tag == "testsuites"
    return {s.get("name", ""): s for s in root.findall("testsuite")}


def test_every_evaluated_pair_is_a_testcase_and_passes_show(result: Result, ctx: ReportContext) -> None:
    suites = _suites(result, ctx)
    spot = suites["prefer-spot"]
    cases = spot.findall("testcase")
    assert len(cases) == 3 == int(spot.get("tests", "0"))
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == 2 == int(spot.get("failures", "0"))
    passing = [c for c in cases if c.find("failure") is None]
    assert passing[0].get("name") == "Deployment vision/serve (k8s/serve.yaml:1)"
    assert passing[0].get("file") == "k8s/serve.yaml"
    assert len(suites["never-fires"].findall("testcase")) == 3


def test_group_findings_and_load_errors(result: Result, ctx: ReportContext) -> None:
    suites = _suites(result, ctx)
    quota = suites["gpu-quota"].findall("testcase")
    assert [c.get("name") for c in quota] == ['group labels["team"]=nlp']
    failure = quota[0].find("failure")
    assert failure is not None and "Deployment vision/serve (k8s/serve.yaml:1)" in (failure.text or "")
    errors = suites[junit.ERRORS_SUITE]
    assert errors.get("errors") == "2"
    err = errors.findall("testcase")[0].find("error")
    assert err is not None and err.get("type") == "E601"
    assert "k8s/broken.yaml:7:3" in (err.text or "")


def test_a_pair_evaluated_twice_is_one_testcase(result: Result, ctx: ReportContext) -> None:
    """Pairs are counted and written once however often they come, so the counts written first hold."""
    from dataclasses import replace

    twice = replace(result, evaluations=[*result.evaluations, *reversed(result.evaluations)])
    assert junit.render(twice, ctx) == junit.render(result, ctx)
    root = ET.fromstring(junit.render(twice, ctx))
    assert int(root.get("tests", "0")) == len(root.findall(".//testcase"))
    assert int(root.get("failures", "0")) == sum(1 for c in root.iter("testcase") if c.find("failure") is not None)


def test_elements_are_escaped_as_elementtree_escapes_them() -> None:
    """The testcases are written string by string: the text is the one ElementTree writes for them."""
    from policy_engine.reporters.junit import _element

    nasty = "a & b <c> \"d\" 'e' \r\n\t ]]> é 😀"
    for text in (nasty, "", "plain"):
        element = ET.Element("failure", message=nasty, type="high/deny")
        element.text = text or None
        assert _element("failure", text, message=nasty, type="high/deny") == ET.tostring(element, encoding="unicode")
