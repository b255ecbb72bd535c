"""Escaping before any format: clean findings pass untouched, any control character anywhere is escaped."""

from __future__ import annotations

from dataclasses import replace

from policy_engine.compiler.program import Enforcement, Severity
from policy_engine.engine.findings import Finding, ResourceRef, Result
from policy_engine.reporters import safe

REF = ResourceRef("Deployment", "web", "default", "k8s/web.yaml", 3, "apps/v1")


def finding(**changes: object) -> Finding:
    fields: dict[str, object] = {"policy": "require-team", "rule": "labels", "severity": Severity.HIGH,
                                 "enforcement": Enforcement.DENY, "message": "missing label team",
                                 "resource": REF, "field_path": ("metadata", "labels"),
                                 "facts": (("saving", 12.5), ("why", "idle"))}
    fields.update(changes)
    return Finding(**fields)  # type: ignore[arg-type]


def test_a_clean_finding_is_the_same_object() -> None:
    f = finding()
    assert safe.result(Result(findings=[f])).findings[0] is f


def test_control_characters_are_escaped_wherever_they_are() -> None:
    hostile = ResourceRef("Deployment", "x\n::warning::forged", "ns\x1b[31m", "k8s/\udcff.yaml", 3, "apps/v1")
    cleaned = safe.result(Result(findings=[
        finding(resource=hostile),
        finding(message="bad\rmessage"),
        finding(field_path=("metadata", "labels", "a\tb")),
        finding(facts=(("why", "bell\x07"),)),
        finding(group="team=\x00nlp"),
        finding(related=(hostile,)),
    ])).findings
    assert cleaned[0].resource == ResourceRef("Deployment", "x\\n::warning::forged", "ns\\x1b[31m",
                                              "k8s/\\xff.yaml", 3, "apps/v1")
    assert cleaned[1].message == "bad\\rmessage"
    assert cleaned[2].field_path == ("metadata", "labels", "a\\tb")
    assert cleaned[3].facts == (("why", "bell\\x07"),)
    assert cleaned[4].group == "team=\\x00nlp"
    assert cleaned[5].related[0].name == "x\\n::warning::forged"


def test_a_large_runs_packed_findings_and_pairs_stay_packed_and_are_escaped_as_read() -> None:
    """Escaping never unpacks a large run into lists (100,000 documents: ~360,000 findings, ~750,000 pairs)."""
    from policy_engine.engine.packed import PackedFindings, PackedList, pack

    hostile = replace(REF, name="x\n::warning::y")
    findings = PackedFindings([pack([finding(), finding(resource=hostile)])])
    pairs: PackedList[tuple[str, ResourceRef]] = PackedList([pack([("require-team", REF), ("p\x1b", hostile)])])
    clean = safe.result(Result(findings=findings, evaluations=pairs))
    assert isinstance(clean.findings, PackedFindings) and isinstance(clean.evaluations, PackedList)
    assert [f.resource.name for f in clean.findings] == ["web", "x\\n::warning::y"]
    assert list(clean.evaluations)[1] == ("p\\x1b", replace(REF, name="x\\n::warning::y"))


def test_a_control_character_inside_a_facts_list_or_after_a_clean_path_is_escaped() -> None:
    """Field paths found clean are remembered, and the strings of a list or tuple in the facts are checked
    where they are: neither lets a control character through."""
    clean_path = ("spec", "containers", 0, "image")
    cleaned = safe.result(Result(findings=[
        finding(field_path=clean_path),
        finding(field_path=(*clean_path, "x\x1b")),
        finding(facts=(("images", ["ok", "bad\x07"]),)),
        finding(facts=(("pair", ("ok", ("deep\n",))),)),
        finding(facts=(("n", 2), ("images", ["ok", None, 1.5]))),
    ])).findings
    assert cleaned[0].field_path is clean_path
    assert cleaned[1].field_path == (*clean_path, "x\\x1b")
    assert cleaned[2].facts == (("images", ["ok", "bad\\x07"]),)
    assert cleaned[3].facts == (("pair", ("ok", ("deep\\n",))),)
    assert cleaned[4].facts == (("n", 2), ("images", ["ok", None, 1.5]))


def test_a_team_share_with_a_control_character_in_its_team_is_escaped() -> None:
    from policy_engine.reporters.context import ReportContext
    from policy_engine.reporters.costs import TeamShare

    clean = TeamShare("nlp", 8.0, 100.0)
    costs = safe.context(ReportContext(costs=[clean, TeamShare("ops\x1b[31m", 1.0, None)]), Result()).costs
    assert costs is not None and costs[0] is clean
    assert costs[1] == TeamShare("ops\\x1b[31m", 1.0, None)
