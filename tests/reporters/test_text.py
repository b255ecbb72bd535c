from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.engine.findings import Finding, Result
from policy_engine.reporters import text
from policy_engine.reporters.context import ReportContext

from .samples import findings


def test_findings_grouped_by_file_with_location_and_cost(result: Result, ctx: ReportContext) -> None:
    out = text.render(result, ctx)
    assert "\x1b[" not in out
    lines = out.splitlines()
    assert lines[0] == "k8s/cluster.yaml"
    train = [line for line in lines if line.startswith("  k8s/train.yaml:")]
    assert len(train) == 3
    labels = next(line for line in train if "require-team-label" in line)
    assert labels.startswith("  k8s/train.yaml:5  require-team-label  high  deny  PyTorchJob nlp/train-llm")
    assert "$12,345.68/month" in labels
    assert any("saves $8,000.00/month" in line for line in train)
    assert "      - Deployment vision/serve (k8s/serve.yaml:1)" in lines


def test_summary_errors_totals_and_verdict(result: Result, ctx: ReportContext) -> None:
    out = text.render(result, ctx)
    assert "k8s/broken.yaml:7:3: error[E601]: invalid YAML: mapping values" in out
    assert "4 findings (2 deny, 2 warn, 0 audit), 2 errors" in out
    assert "estimated saving if fixed $9,000.00/month" in out
    assert out.rstrip().endswith("FAILED: 2 deny findings; 2 input or policy errors")
    summary = out[out.index("Policy summary"):]
    assert summary.index("gpu-quota") < summary.index("require-team-label") < summary.index("prefer-spot")


def test_colour_only_when_asked(result: Result, ctx: ReportContext) -> None:
    assert "\x1b[" in text.render(result, replace(ctx, color=True))


def test_a_saving_that_cannot_be_known_is_said_not_shown_as_zero(result: Result, ctx: ReportContext) -> None:
    unknown = replace(result.findings[1], saving=None, facts=(("saving", "unknown: no spot price in the pricing "
                                                                         "catalog"),))
    summaries = [replace(s, saving_unknown=1) if s.policy == "prefer-spot" else s for s in result.summaries]
    out = text.render(replace(result, findings=[result.findings[0], unknown, *result.findings[2:]],
                              summaries=summaries), ctx)
    line = next(line for line in out.splitlines() if "prefer-spot" in line and "k8s/train.yaml" in line)
    assert "saving unknown (no spot price in the catalog)" in line and "saves" not in line
    summary = next(line for line in out.splitlines() if line.startswith("  prefer-spot"))
    assert "$8,000.00 + unknown" in summary


@settings(max_examples=300, deadline=None)
@given(findings(), st.booleans(), st.booleans())
def test_a_findings_piece_is_its_lines_as_the_report_writes_them(f: Finding, colour: bool, same_cost: bool) -> None:
    """The common piece is put together apart from ``_finding`` for speed: byte for byte its lines, whatever
    the finding (group, related workloads, no policy name, saving unknown or not, colour); and again with the
    resource's and the cost's text kept from the finding before (a workload's findings come together)."""
    ctx = ReportContext(root=Path("/repo"), cwd=Path("/repo"), color=colour)
    expected = "\n".join(text._finding(f, ctx, text._Paint(colour)))
    assert text.piece(f, ctx) == expected
    again = replace(f, message=f.message + "!", monthly_cost=f.monthly_cost if same_cost else 12.5)
    assert text.piece(again, ctx) == "\n".join(text._finding(again, ctx, text._Paint(colour)))


def test_no_line_starts_a_workflow_command_though_a_file_is_named_so() -> None:
    """A file named ``::error::x.yaml`` heads its findings: defused (a runner would read it as a command)."""
    from policy_engine.compiler.program import Enforcement, Severity
    from policy_engine.engine.findings import ResourceRef

    ref = ResourceRef("Job", "j", None, "/repo/::error::x.yaml", 1, "batch/v1")
    f = Finding("p", "r", Severity.LOW, Enforcement.WARN, "m", ref)
    out = text.render(Result(findings=[f]), ReportContext(root=Path("/repo"), cwd=Path("/repo")))
    assert "\\x3a:error::x.yaml" in out
    assert not [line for line in out.splitlines() if line.lstrip(" \x1b[0123456789;m").startswith("::")]


def test_a_piece_ends_past_its_size_though_its_lines_are_few(monkeypatch: pytest.MonkeyPatch) -> None:
    """A parallel run's workers send a file's findings of a unit as one "line" of many: the report is still
    written a few of them at a time, never gathered whole (100,000 documents on stdin are one file)."""
    lines = ["<stdin>", "x" * 5000, "y" * 5000, "z" * 5000, "", "totals"]
    monkeypatch.setattr(text, "_lines", lambda result, ctx: iter(lines))
    pieces = list(text.stream(Result(), ReportContext(), piece_chars=4096))
    assert "".join(pieces) == "\n".join(lines) + "\n"
    assert len(pieces) >= 3 and max(map(len, pieces)) < 2 * 5000


def test_a_line_larger_than_a_piece_goes_as_it_is_and_is_still_defused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit's findings of one file larger than a piece are written as they came (not copied into a larger
    string), after the lines before them; a workflow command inside them is still defused."""
    big = "  a.yaml:1  p\n::error::inside\n" + "x" * 9000
    lines = ["<stdin>", "small", big, "::warning::after", "totals"]
    monkeypatch.setattr(text, "_lines", lambda result, ctx: iter(lines))
    pieces = list(text.stream(Result(), ReportContext(), piece_chars=4096))
    whole = "\n".join(lines) + "\n"
    assert "".join(pieces) == text._defused(whole)
    assert "\\x3a:error::inside" in "".join(pieces) and "\\x3a:warning::after" in "".join(pieces)
    assert text._defused(big) in pieces  # passed on alone
