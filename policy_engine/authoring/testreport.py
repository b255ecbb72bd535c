"""Test results as text (one located line per failed expectation, with expected/actual) or JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from policy_engine.authoring.testing import CaseResult, RunResult
from policy_engine.diagnostics import render_all
from policy_engine.wording import count


def _diff(c: CaseResult) -> list[str]:
    lines = [f"    - expected: {c.expected[0] if c.expected else ''}"]
    lines.extend(f"    - expected: {e}" for e in c.expected[1:])
    lines.extend(f"    + actual:   {a}" for a in c.actual)
    return lines


def render_text(result: RunResult, verbose: bool = False) -> str:
    out: list[str] = []
    errors = result.all_errors
    if errors:
        out.append(render_all(errors, result.sources))
        out.append("")
    for suite in result.suites:
        for c in suite.cases:
            if c.error is not None:
                continue
            if not c.passed:
                out.append(f"{c.file}:{c.line}: FAIL {c.case.title()}")
                out.extend(_diff(c))
            elif verbose:
                out.append(f"{c.file}:{c.line}: ok   {c.case.title()} ({', '.join(c.expected)})")
    if errors:
        out.append(f"{count(len(errors), 'error')}: fix the test files or policies above")
    out.append(result.summary())
    return "\n".join(out) + "\n"


def render_junit(result: RunResult) -> str:
    root = ET.Element("testsuites", name="policy-engine test", tests=str(result.passed + result.failed),
                      failures=str(result.failed), errors=str(len(result.all_errors)))
    for e in result.errors:
        suite = ET.SubElement(root, "testsuite", name=e.span.file, tests="0", failures="0", errors="1")
        ET.SubElement(suite, "error", message=e.message).text = e.render(result.sources.get(e.span.file))
    for s in result.suites:
        failures = sum(1 for c in s.cases if not c.passed and c.error is None)
        errors = len(s.errors) + sum(1 for c in s.cases if c.error is not None)
        suite = ET.SubElement(root, "testsuite", name=s.file, tests=str(len(s.cases)), failures=str(failures),
                              errors=str(errors), time=f"{s.seconds:.3f}")
        if s.errors:
            case = ET.SubElement(suite, "testcase", classname=s.file, name="load test file")
            ET.SubElement(case, "error", message=s.errors[0].message).text = render_all(s.errors, result.sources)
        for c in s.cases:
            case = ET.SubElement(suite, "testcase", classname=s.file, name=f"{c.case.title()} (line {c.line})")
            if c.error is not None:
                ET.SubElement(case, "error", message=c.error.message).text = c.error.render(
                    result.sources.get(c.file))
            elif not c.passed:
                ET.SubElement(case, "failure", message=f"expected {'; '.join(c.expected)}").text = \
                    "\n".join(_diff(c))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
