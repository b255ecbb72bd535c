"""JUnit XML (GitLab, Jenkins, Azure): one testcase per (policy, resource) evaluated, so passes show too.

A suite per policy; a finding is a ``<failure>``; a load or policy error is an ``<error>`` in a suite of
its own. Quota and budget findings (about a group, not one resource) are testcases named after the group.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from policy_engine.engine.findings import Finding, ResourceRef, Result
from policy_engine.reporters.context import TOOL_NAME, ReportContext, error_parts, money

ERRORS_SUITE = f"{TOOL_NAME}: input and policy errors"


def render(result: Result, ctx: ReportContext) -> str:
    root = ET.Element("testsuites", name=TOOL_NAME)
    findings: dict[tuple[str, ResourceRef | str], list[Finding]] = defaultdict(list)
    for f in result.findings:
        findings[(f.policy, f.group or f.resource)].append(f)
    cases: dict[str, list[tuple[ResourceRef | str, list[Finding]]]] = defaultdict(list)
    seen: set[tuple[str, ResourceRef | str]] = set()
    for policy, ref in result.evaluations:
        if (policy, ref) not in seen:
            seen.add((policy, ref))
            cases[policy].append((ref, findings.get((policy, ref), [])))
    for key, group in findings.items():  # findings whose pair was not recorded (groups, hand-built results)
        if key not in seen:
            seen.add(key)
            cases[key[0]].append((key[1], group))
    order = [p.name for p in ctx.policies.policies] if ctx.policies is not None else []
    order += sorted(set(cases) - set(order))
    total = failed = 0
    for policy in order:
        if policy not in cases:
            continue
        suite = ET.SubElement(root, "testsuite", name=policy)
        n_fail = 0
        for subject, group in cases[policy]:
            _case(suite, policy, subject, group, ctx)
            n_fail += 1 if group else 0
        suite.set("tests", str(len(cases[policy])))
        suite.set("failures", str(n_fail))
        suite.set("errors", "0")
        suite.set("skipped", "0")
        total += len(cases[policy])
        failed += n_fail
    errors = [error_parts(e) for e in result.errors]
    if errors:
        suite = ET.SubElement(root, "testsuite", name=ERRORS_SUITE, tests=str(len(errors)), failures="0",
                              errors=str(len(errors)), skipped="0")
        for d in sorted(errors, key=lambda d: d.sort_key()):
            file = ctx.relative(d.span.file)
            case = ET.SubElement(suite, "testcase", classname="load", name=f"{file}:{d.span.line}", file=file)
            case.set("line", str(d.span.line))
            err = ET.SubElement(case, "error", message=f"[{d.code}] {d.message}", type=d.code)
            err.text = d.headline()
    root.set("tests", str(total + len(errors)))
    root.set("failures", str(failed))
    root.set("errors", str(len(errors)))
    root.set("time", f"{result.stats.seconds:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _case(suite: ET.Element, policy: str, subject: ResourceRef | str, group: list[Finding],
          ctx: ReportContext) -> None:
    if isinstance(subject, ResourceRef):
        file = ctx.relative(subject.file)
        name = f"{subject.display()} ({file}:{subject.line})"
        line = group[0].line if group else subject.line
    else:
        anchor = group[0].resource
        file = ctx.relative(anchor.file)
        name = f"group {subject}"
        line = anchor.line
    case = ET.SubElement(suite, "testcase", classname=policy, name=name, file=file)
    case.set("line", str(line))
    for f in group:
        failure = ET.SubElement(case, "failure", message=f.message,
                                type=f"{f.severity.value}/{f.enforcement.value}")
        lines = [f"{ctx.relative(f.resource.file)}:{f.line}: {f.policy} [{f.severity.value}, "
                 f"{f.enforcement.value}] {f.message}"]
        if f.monthly_cost is not None:
            lines.append(f"projected spend: {money(f.monthly_cost)}/month")
        if f.saving:
            lines.append(f"estimated saving if fixed: {money(f.saving)}/month")
        elif f.saving_unknown is not None:
            lines.append("estimated saving if fixed: unknown (no spot price in the pricing catalog)")
        lines.extend(f"counts towards {f.group}: {r.display()} ({ctx.relative(r.file)}:{r.line})"
                     for r in f.related)
        failure.text = "\n".join(lines)
