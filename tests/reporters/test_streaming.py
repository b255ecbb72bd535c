"""Every machine format is written a piece at a time: a large run's report is never held whole.

The findings and pairs here are made as they are read (a generator behind a ``Sequence``), as a large
run's packed findings are unpacked as they are read, so whatever memory the tracer sees is the reporter's
own. (``reporters.streamer`` would first escape them into a list: it keeps only packed ones packed.)
"""

from __future__ import annotations

import importlib
import io
import json
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any, overload

import pytest
import yaml

from policy_engine.compiler.program import Enforcement, Severity
from policy_engine.engine.findings import Finding, ResourceRef, Result, Stats
from policy_engine.reporters import FORMATS, ReportContext
from policy_engine.reporters import spool as spool_module

from .samples import ROOT

RESOURCES = 1000
FLAGGING = tuple(f"rule-{n}" for n in range(6))  # each flags every resource
POLICIES = (*FLAGGING, "never-fires")


def _ref(i: int) -> ResourceRef:
    return ResourceRef("Deployment", f"serve-{i}", f"team-{i % 7}", f"/repo/k8s/app-{i // 10:05d}.yaml",
                       (i % 10) * 40 + 1, "apps/v1")


class Made(Sequence[Any]):
    """``n`` items made by ``make`` each time they are read, never kept; ``read`` counts those made."""

    def __init__(self, n: int, make: Any) -> None:
        self.n, self.make, self.read = n, make, 0

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[Any]:
        for item in self.make():
            self.read += 1
            yield item

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        raise AssertionError("a reporter indexed the findings: it would unpack a large run's all")


def _findings() -> Iterator[Finding]:
    for i in range(RESOURCES):
        ref = _ref(i)
        for n, policy in enumerate(FLAGGING):
            yield Finding(policy, "labels", Severity.HIGH if n % 2 else Severity.LOW, Enforcement.DENY,
                          f"serve-{i} has no team label <b> ({n})", ref, field_line=ref.line + 3 + n,
                          monthly_cost=1234.5, saving=400.0 if n == 1 else None)


def _pairs() -> Iterator[tuple[str, ResourceRef]]:
    for i in range(RESOURCES):
        ref = _ref(i)
        yield from ((p, ref) for p in POLICIES)


def _large() -> Result:
    return Result(findings=Made(len(FLAGGING) * RESOURCES, _findings),
                  evaluations=Made(len(POLICIES) * RESOURCES, _pairs),
                  stats=Stats(documents=RESOURCES, workloads=RESOURCES, policies=len(POLICIES)))


@pytest.fixture
def small_spool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool_module, "BUDGET", 1 << 16)


def _ctx() -> ReportContext:
    return ReportContext(root=ROOT, cwd=ROOT, tool_version="1.2.3", generated_at=1_700_000_000.0, costs=[])


def streamer(fmt: str) -> Any:
    return importlib.import_module(FORMATS[fmt]).stream


@pytest.mark.parametrize(("fmt", "passes_before"), [("sarif", 1), ("codequality", 0)])
def test_results_are_written_as_the_findings_are_read(fmt: str, passes_before: int) -> None:
    """SARIF reads the findings once for the rules its header lists (policies not in the set), then writes
    each result as it reads it again; Code Quality writes as it reads."""
    findings = Made(len(FLAGGING) * RESOURCES, _findings)
    pieces = streamer(fmt)(Result(findings=findings), _ctx())
    head = "".join(islice(pieces, 3))
    assert "serve-0" in head  # the first results are out...
    assert findings.read < (passes_before + 0.25) * len(findings)  # ...long before the last finding is read
    assert f"serve-{RESOURCES - 1}" in "".join(pieces)


@pytest.mark.parametrize("fmt", ["sarif", "junit", "policyreport", "codequality"])
def test_memory_stays_well_below_the_report_size(fmt: str, small_spool: None) -> None:
    """A report of several MB is written holding a small part of it: the rest is out, or spooled to disk.
    (JUnit and PolicyReport read the pairs and findings together, keeping nothing per resource:
    tests/reporters/test_pairs.py.)"""
    result = _large()
    tracemalloc.start()
    try:
        size = 0
        largest = 0
        for piece in streamer(fmt)(result, _ctx()):
            size += len(piece)
            largest = max(largest, len(piece))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size > 2_000_000
    assert largest < 256 * 1024  # never the report as one string
    assert peak < size / 2, f"{fmt}: peak {peak:,} bytes for a report of {size:,} characters"


def test_junit_and_policyreport_from_a_large_run_say_every_pair_once(small_spool: None) -> None:
    """The counts written first agree with the testcases and results written after them."""
    result = _large()
    root = ET.fromstring("".join(streamer("junit")(result, _ctx())))
    assert root.get("tests") == str(len(POLICIES) * RESOURCES)
    assert root.get("failures") == str(len(FLAGGING) * RESOURCES)
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    for name in POLICIES:
        cases = suites[name].findall("testcase")
        assert len(cases) == RESOURCES == int(suites[name].get("tests", "0"))
        failed = sum(1 for c in cases if c.find("failure") is not None)
        assert failed == (0 if name == "never-fires" else RESOURCES) == int(suites[name].get("failures", "0"))
        assert cases[0].get("name") == "Deployment team-0/serve-0 (k8s/app-00000.yaml:1)"  # the order evaluated
    reports = list(yaml.safe_load_all("".join(streamer("policyreport")(result, _ctx()))))
    assert [r["metadata"]["namespace"] for r in reports] == [f"team-{n}" for n in range(7)]
    for r in reports:
        assert r["summary"]["fail"] + r["summary"]["pass"] == len(r["results"])
    assert sum(r["summary"]["pass"] for r in reports) == RESOURCES
    assert sum(r["summary"]["fail"] for r in reports) == len(FLAGGING) * RESOURCES


def test_sarif_from_a_large_run_is_one_valid_document() -> None:
    doc = json.loads("".join(streamer("sarif")(_large(), _ctx())))
    results = doc["runs"][0]["results"]
    assert len(results) == len(FLAGGING) * RESOURCES
    assert results[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 4


class _Recorder(io.StringIO):
    """A text file that keeps what each ``write`` was given."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


def test_write_hands_a_large_piece_to_the_file_in_slices() -> None:
    """A megabyte piece (a parallel run's unit of JSON findings) reaches the file whole, in order, in slices of
    at most ``WRITE_CHARS`` (never copied whole into bytes of its own); small pieces go as they are."""
    from policy_engine.reporters import WRITE_CHARS, write

    big = "".join(f'{{"n": {i}, "message": "é {i}"}}, ' for i in range(40_000))  # not all ASCII
    pieces = ["{\n", big, "small", big[:WRITE_CHARS], "\n}\n"]
    out = _Recorder()
    write(out, iter(pieces))
    assert out.getvalue() == "".join(pieces)
    assert max(map(len, out.writes)) == WRITE_CHARS
    assert len(out.writes) == 4 + -(-len(big) // WRITE_CHARS)
