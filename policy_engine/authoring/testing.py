"""``policy-engine test``: run policy test files through the engine, the same path as ``check``.

Each test file's resources are evaluated together by one ``Engine`` (so quota and budget cases see the
whole set), then every case compares what the author expected with what the engine decided:

- ``pass``: the policy applied to the resource and found nothing;
- ``fail``: it found something (optionally: a message containing a text, an enforcement, a rule);
- ``skip``: it did not apply (not matched, excluded, or its ``when`` was false).

A case that cannot be run (an unknown policy, a resource that is not in the file, a bad test file) is
an error, never a silent pass.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from policy_engine.authoring.testfile import Case, Suite, load_suite
from policy_engine.diagnostics import Diagnostic, Span
from policy_engine.discovery import find_test_files, read_text
from policy_engine.engine import Engine, Finding, Options, ResourceRef, Result, load_engine
from policy_engine.errors import DiagnosticError
from policy_engine.model.documents import Document, LoadError, load_paths
from policy_engine.model.workload import Workload
from policy_engine.wording import count


@dataclass(slots=True)
class CaseResult:
    case: Case
    file: str
    passed: bool
    expected: list[str] = field(default_factory=list)  # what the case wanted, one fact a line
    actual: list[str] = field(default_factory=list)  # what the engine decided
    error: Diagnostic | None = None  # the case could not be run

    @property
    def line(self) -> int:
        return self.case.span.line


@dataclass(slots=True)
class SuiteResult:
    file: str
    cases: list[CaseResult] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(slots=True)
class RunResult:
    suites: list[SuiteResult] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)  # paths that do not exist
    sources: dict[str, str] = field(default_factory=dict)  # for rendering diagnostics with carets

    @property
    def passed(self) -> int:
        return sum(1 for s in self.suites for c in s.cases if c.passed and c.error is None)

    @property
    def failed(self) -> int:
        return sum(1 for s in self.suites for c in s.cases if not c.passed and c.error is None)

    @property
    def all_errors(self) -> list[Diagnostic]:
        out = list(self.errors)
        for s in self.suites:
            out.extend(s.errors)
            out.extend(c.error for c in s.cases if c.error is not None)
        return out

    def summary(self) -> str:
        return f"{self.passed} passed, {self.failed} failed"


class _Engines:
    """Engines cached by (policy paths, pricing): test files of one library compile it once."""

    def __init__(self, pricing: str | None) -> None:
        self.pricing = pricing
        self.cache: dict[tuple[tuple[str, ...], str | None], Engine | DiagnosticError] = {}

    def get(self, suite: Suite) -> Engine | DiagnosticError:
        pricing = suite.pricing or self.pricing
        key = (tuple(suite.policies), pricing)
        if key not in self.cache:
            try:
                self.cache[key] = load_engine(policy_paths=list(suite.policies), pricing=pricing)
            except DiagnosticError as exc:
                self.cache[key] = exc
        return self.cache[key]


def run_tests(paths: Sequence[str], pricing: str | None = None) -> RunResult:
    files, missing = find_test_files(paths)
    result = RunResult(errors=list(missing))
    if not files and not missing:
        result.errors.append(Diagnostic(Span(", ".join(paths) or ".", 1, 1), "E902",
                                        "no policy test files (*.test.yaml) found"))
    engines = _Engines(pricing)
    for file in files:
        result.suites.append(_run_file(file, engines, result.sources))
    return result


def _run_file(file: str, engines: _Engines, sources: dict[str, str]) -> SuiteResult:
    started = time.perf_counter()
    out = SuiteResult(file)
    text, err = read_text(file)
    if err is not None or text is None:
        out.errors.append(err or Diagnostic(Span(file, 1, 1), "E401", "cannot read"))
        return out
    sources[file] = text
    suite, problems = load_suite(text, file)
    if suite is None:
        out.errors.extend(problems)
        return out
    engine = engines.get(suite)
    if isinstance(engine, DiagnosticError):
        out.errors.append(Diagnostic(Span(file, suite.policies_line, 1), "E902",
                                     "policies: the policies under test do not compile (errors below)"))
        out.errors.extend(engine.diagnostics)
        sources.update(engine.sources)
        return out
    documents: list[Document | LoadError] = list(suite.inline)
    for path, line in suite.resource_files:
        loaded = list(load_paths([path]))
        if not loaded:
            out.errors.append(Diagnostic(Span(file, line, 1), "E902", f"resources: {path} holds no manifests"))
        documents.extend(loaded)
    evaluated = engine.evaluate(documents, options=Options(workloads=True))
    for e in evaluated.errors:
        out.errors.append(e.diagnostic if isinstance(e, LoadError) else e)
    if out.errors:
        return out
    for case in suite.cases:
        out.cases.append(_run_case(case, file, engine, evaluated))
    out.seconds = time.perf_counter() - started
    return out


def _find_workload(case: Case, file: str, workloads: Sequence[Workload]) -> Workload | Diagnostic:
    ref = case.resource
    assert ref is not None
    span = case.fields.get("resource", case.span)
    found = [w for w in workloads if w.kind == ref.kind and w.name == ref.name
             and (ref.namespace is None or (w.namespace or "") == ref.namespace)]
    if len(found) == 1:
        return found[0]
    if not found:
        known = ", ".join(sorted({f"{w.kind}/{w.namespace + '/' if w.namespace else ''}{w.name}"
                                  for w in workloads})) or "none"
        return Diagnostic(span, "E902", f"resource: no workload {ref.text} in this file's "
                          "resources", hint=f"workloads: {known}")
    return Diagnostic(span, "E902", f"resource: {ref.text} names {len(found)} workloads",
                      hint="write Kind/namespace/name")


def _describe_findings(findings: Sequence[Finding]) -> list[str]:
    return [f"  finding [{f.enforcement.value}] ({f.rule}): {f.message}" for f in findings]


def _run_case(case: Case, file: str, engine: Engine, evaluated: Result) -> CaseResult:
    result = CaseResult(case, file, passed=True)
    if engine.policies.get(case.policy) is None:
        names = ", ".join(p.name for p in engine.policies.policies)
        result.passed = False
        result.error = Diagnostic(case.fields.get("policy", case.span), "E902",
                                  f"policy: no policy named {case.policy!r} in the policies under test",
                                  hint=f"policies: {names}")
        return result
    findings: list[Finding]
    workload: Workload | None = None
    if case.group is not None:
        group = case.group
        findings = [f for f in evaluated.findings if f.policy == case.policy and f.group is not None
                    and (f.group == group or f.group.endswith("=" + group))]
        actual = "fail" if findings else "pass"
    else:
        found = _find_workload(case, file, [*evaluated.workloads, *evaluated.objects])
        if isinstance(found, Diagnostic):
            result.passed = False
            result.error = found
            return result
        workload = found
        ref = ResourceRef.of(workload)
        findings = [f for f in evaluated.findings if f.policy == case.policy and f.group is None
                    and f.resource == ref]
        applied = (case.policy, ref) in evaluated.evaluations
        actual = "skip" if not applied else "fail" if findings else "pass"
    if case.expect is not None:
        _compare_outcome(case, actual, findings, result)
    if case.monthly_cost is not None and workload is not None:
        _compare_cost(case, workload, result)
    return result


def _compare_outcome(case: Case, actual: str, findings: list[Finding], result: CaseResult) -> None:
    wanted = [case.expect or ""]
    matching = findings
    if case.message is not None:
        wanted.append(f"message contains {case.message!r}")
        matching = [f for f in matching if case.message in f.message]
    if case.enforcement is not None:
        wanted.append(f"enforcement {case.enforcement}")
        matching = [f for f in matching if f.enforcement.value == case.enforcement]
    if case.rule is not None:
        wanted.append(f"rule {case.rule}")
        matching = [f for f in matching if f.rule == case.rule]
    ok = actual == case.expect and (case.expect != "fail" or bool(matching))
    result.expected.append(", ".join(wanted))
    explained = {"skip": "skip (the policy does not apply)", "pass": "pass (no findings)",
                 "fail": f"fail ({count(len(findings), 'finding')})"}[actual]
    result.actual.append(explained)
    result.actual.extend(_describe_findings(findings))
    result.passed = result.passed and ok


def _compare_cost(case: Case, w: Workload, result: CaseResult) -> None:
    expected = case.monthly_cost
    assert expected is not None
    result.expected.append(f"monthly_cost ${expected:,.2f} ± {case.tolerance.describe()}")
    cost = w.cost
    if cost is None or not cost.priced or cost.monthly is None:
        reason = cost.unpriced_reason if cost is not None else "no cost model"
        result.actual.append(f"monthly_cost unpriced ({reason})")
        result.passed = False
        return
    result.actual.append(f"monthly_cost ${cost.monthly:,.2f}")
    if not case.tolerance.allows(expected, cost.monthly):
        result.passed = False
        result.actual.extend(f"  {line}" for line in cost.breakdown)
