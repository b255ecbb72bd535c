"""A saving that cannot be known (a spot rule on a type with no spot price) is null / "unknown" in every
format, never a made-up $0 — from the engine through each reporter, with one known saving beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy_engine.engine import load_engine
from policy_engine.engine.findings import Result
from policy_engine.model.documents import load_paths
from policy_engine.reporters import json_report, junit, markdown, policyreport, sarif, text
from policy_engine.reporters.context import ReportContext

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ROUND = FIXTURES / "pricing" / "catalogs" / "round.yaml"  # box8 $16/h with spot $4/h; box1 $3/h, no spot
JOBS = FIXTURES / "pricing" / "spot" / "known-and-unknown.yaml"
SPOT = FIXTURES / "engine" / "policies" / "spot.policy"
KNOWN = (16.0 - 4.0) * 730  # box8 moved to spot


def _run(documents: Path) -> tuple[Result, ReportContext]:
    engine = load_engine([SPOT], ROUND)
    result = engine.evaluate(load_paths([str(documents)]))
    return result, ReportContext(root=FIXTURES, cwd=FIXTURES, policies=engine.policies, tool_version="t")


@pytest.fixture(scope="module")
def both() -> tuple[Result, ReportContext]:
    return _run(JOBS)


@pytest.fixture(scope="module")
def only_unknown(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, ReportContext]:
    small = JOBS.read_text(encoding="utf-8").split("---\n")[1]
    path = tmp_path_factory.mktemp("unknown") / "small.yaml"
    path.write_text(small, encoding="utf-8")
    return _run(path)


def test_json_summary_is_null_when_nothing_is_known_and_counts_the_unknown(
    only_unknown: tuple[Result, ReportContext], both: tuple[Result, ReportContext],
) -> None:
    (summary,) = json.loads(json_report.render(*only_unknown))["summary"]
    assert summary["saving"] is None and summary["saving_unknown"] == 1
    (finding,) = json.loads(json_report.render(*only_unknown))["findings"]
    assert finding["saving"] is None and finding["saving_unknown"].startswith("unknown: no spot price")
    (summary,) = json.loads(json_report.render(*both))["summary"]
    assert summary["saving"] == pytest.approx(KNOWN) and summary["saving_unknown"] == 1


def test_sarif_properties_say_null_and_why(only_unknown: tuple[Result, ReportContext]) -> None:
    (res,) = json.loads(sarif.render(*only_unknown))["runs"][0]["results"]
    assert "monthlySaving" in res["properties"] and res["properties"]["monthlySaving"] is None
    assert res["properties"]["savingUnknown"].startswith("unknown: no spot price")
    assert "Estimated saving if fixed: unknown" in res["message"]["text"]


def test_text_totals_and_summary_say_unknown(
    only_unknown: tuple[Result, ReportContext], both: tuple[Result, ReportContext],
) -> None:
    out = text.render(*only_unknown)
    assert "estimated saving if fixed unknown (1 finding with no spot price in the catalog)" in out
    assert "$0.00" not in out.split("Policy summary")[1]
    row = next(line for line in out.splitlines() if line.startswith("  spot "))
    assert row.split()[-1] == "unknown"
    out = text.render(*both)
    assert "estimated saving if fixed $8,760.00/month + unknown (1 finding with no spot price" in out


def test_markdown_junit_and_policyreport_say_unknown(
    only_unknown: tuple[Result, ReportContext], both: tuple[Result, ReportContext],
) -> None:
    md = markdown.render(*only_unknown)
    assert "### Biggest savings (total unknown if every finding is fixed)" in md
    assert "- **unknown** for 1 finding: no spot price in the pricing catalog" in md
    assert "(total $8,760.00/month + unknown if every finding is fixed)" in markdown.render(*both)
    assert "estimated saving if fixed: unknown (no spot price" in junit.render(*only_unknown)
    (report,) = policyreport.reports(*only_unknown)
    assert report["results"][0]["properties"]["monthlySaving"] == "unknown"
