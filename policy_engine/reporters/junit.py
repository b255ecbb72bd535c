"""JUnit XML (GitLab, Jenkins, Azure): one testcase per (policy, resource) evaluated, so passes show too.

A suite per policy; a finding is a ``<failure>``; a load or policy error is an ``<error>`` in a suite of
its own. Quota and budget findings (about a group, not one resource) are testcases named after the group.

Written a piece at a time, never held whole (``stream``): the pairs and the findings are read together a
resource at a time (``pairs.joined``), each testcase, with its ``<failure>``s, filed under its policy
(``spool``: on disk past a budget) in the order the pairs were evaluated and counted; then the suites are
written out, each one's counts first. Memory does not grow with the resources, findings or pairs of a
run. Where they do not come in resource order (``pairs.OutOfOrder``), a mask is kept per resource (a few
hundred bytes each) and each finding's ``<failure>`` filed under its resource, read back by the testcase.
The text is the one ``ElementTree`` writes for the whole tree, indented (its escaping, done here string by
string).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from typing import Any

from policy_engine.engine.findings import Finding, ResourceRef, Result
from policy_engine.reporters.context import TOOL_NAME, ReportContext, error_parts, money
from policy_engine.reporters.pairs import OutOfOrder, joined
from policy_engine.reporters.pieces import batched
from policy_engine.reporters.spool import Spool

ERRORS_SUITE = f"{TOOL_NAME}: input and policy errors"
_CASE = "\n    "  # a testcase's indentation
_FAILURE = "\n      "  # a failure's

Subject = ResourceRef | str  # a resource, or a group ('team=nlp') for quota and budget findings
Failed = ResourceRef | tuple[str, Subject]  # failures filed under a resource, or under an unevaluated pair


def render(result: Result, ctx: ReportContext) -> str:
    return "".join(stream(result, ctx))


def stream(result: Result, ctx: ReportContext) -> Iterator[str]:
    with ExitStack() as spools:
        failures = spools.enter_context(Spool[Failed]())
        cases = spools.enter_context(Spool[str]())
        try:
            suites = _joined(result, ctx, failures, cases)
        except OutOfOrder:  # not in resource order: a mask kept per resource instead, from the start
            failures.close()
            cases.close()
            failures = spools.enter_context(Spool[Failed]())
            cases = spools.enter_context(Spool[str]())
            suites = _by_resource(result, ctx, failures, cases)
        yield from batched(_out(result, ctx, suites, failures, cases))


class _Suites:
    """What the suites hold before they are written: counts, and the testcases of unevaluated pairs."""

    def __init__(self) -> None:
        self.tests: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.unrecorded: dict[str, dict[Subject, tuple[ResourceRef, int]]] = {}  # policy -> subject -> first's

    def unevaluated(self, f: Finding, text: str, failures: Spool[Failed]) -> None:
        """A finding whose pair was not evaluated (groups, hand-built results): a testcase of its own, after
        the evaluated ones, its failures filed under (policy, subject)."""
        subject = f.group or f.resource
        own = self.unrecorded.setdefault(f.policy, {})
        if subject not in own:
            own[subject] = (f.resource, f.line)
            self.tests[f.policy] += 1
            self.failed[f.policy] += 1
        failures.add((f.policy, subject), text)


def _joined(result: Result, ctx: ReportContext, failures: Spool[Failed], cases: Spool[str]) -> _Suites:
    """Pairs and findings read together a resource at a time (``pairs.joined``): nothing kept per resource."""
    suites = _Suites()
    found: dict[str, list[str]] = {}  # the current resource's failures by policy, each its first line first
    for f, ref, policies in joined(result.evaluations, result.findings):
        if f is None:
            assert ref is not None
            for policy in policies:
                mine = found.get(policy, [])
                suites.tests[policy] += 1
                suites.failed[policy] += bool(mine)
                cases.add(policy, _case(policy, ref, mine, ctx))
            found = {}
        elif f.group is None and f.policy in policies:
            found.setdefault(f.policy, [str(f.line)]).append(_failure(f, ctx))
        else:
            suites.unevaluated(f, f"0:{f.line}:{_failure(f, ctx)}", failures)
    return suites


def _by_resource(result: Result, ctx: ReportContext, failures: Spool[Failed], cases: Spool[str]) -> _Suites:
    """Pairs and findings in any order: a mask per resource of its policies not written yet."""
    suites = _Suites()
    bits: dict[str, int] = {}  # a policy's bit in the masks below

    def bit(policy: str) -> int:
        return bits.setdefault(policy, 1 << len(bits))

    # 1. the pairs evaluated: per resource, a mask of its policies not written yet; each suite's testcases
    pending: dict[ResourceRef, list[Any]] = {}  # resource -> [mask, the resource]: one copy of each kept
    for policy, ref in result.evaluations:
        b = bit(policy)
        entry = pending.get(ref)
        if entry is None:
            pending[ref] = [b, ref]
            suites.tests[policy] += 1
        elif not entry[0] & b:
            entry[0] |= b
            suites.tests[policy] += 1
    # 2. each finding's <failure>, filed under its resource (or, when its pair was not evaluated: groups,
    # hand-built results, under the pair, as a testcase of its own after the evaluated ones)
    for f in result.findings:
        b = bit(f.policy)
        text = f"{b}:{f.line}:{_failure(f, ctx)}"
        entry = pending.get(f.resource) if f.group is None else None
        if entry is not None and entry[0] & b:
            failures.add(entry[1], text)
        else:
            suites.unevaluated(f, text, failures)
    # 3. the evaluated testcases, filed under their policy in the order they were evaluated
    held: tuple[ResourceRef | None, dict[int, list[str]]] = (None, {})  # one resource's failures, by policy
    for policy, ref in result.evaluations:
        b = bit(policy)
        entry = pending[ref]
        if not entry[0] & b:
            continue  # written already
        entry[0] &= ~b
        found: list[str] = []
        if ref in failures:
            if held[0] != ref:
                held = (ref, _by_policy(failures.read(ref)))
            found = held[1].get(b, [])
            suites.failed[policy] += bool(found)
        cases.add(policy, _case(policy, ref, found, ctx))
    pending.clear()
    return suites


def _out(result: Result, ctx: ReportContext, suites: _Suites, failures: Spool[Failed],
         cases: Spool[str]) -> Iterator[str]:
    """The counts first, then each suite."""
    tests, failed, unrecorded = suites.tests, suites.failed, suites.unrecorded
    errors = sorted((error_parts(e) for e in result.errors), key=lambda d: d.sort_key())
    order = [p.name for p in ctx.policies.policies] if ctx.policies is not None else []
    order += sorted(set(tests) - set(order))
    names = [p for p in order if tests[p]]
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'
    root = _open("testsuites", name=TOOL_NAME, tests=str(sum(tests.values()) + len(errors)),
                 failures=str(sum(failed.values())), errors=str(len(errors)), time=f"{result.stats.seconds:.3f}")
    if not names and not errors:
        yield root[:-1] + " />\n"
        return
    yield root
    for policy in names:
        yield "\n  " + _open("testsuite", name=policy, tests=str(tests[policy]), failures=str(failed[policy]),
                             errors="0", skipped="0")
        yield from (_CASE + case for case in cases.read(policy))
        for subject, (anchor, line) in unrecorded.get(policy, {}).items():
            texts = [text.split(":", 2)[2] for text in failures.read((policy, subject))]
            yield _CASE + _case(policy, subject, texts, ctx, anchor, line)
        yield "\n  </testsuite>"
    if errors:
        yield "\n  " + _open("testsuite", name=ERRORS_SUITE, tests=str(len(errors)), failures="0",
                             errors=str(len(errors)), skipped="0")
        for d in errors:
            file = ctx.relative(d.span.file)
            yield (_CASE + _open("testcase", classname="load", name=f"{file}:{d.span.line}", file=file,
                                 line=str(d.span.line))
                   + _FAILURE + _element("error", d.headline(), message=f"[{d.code}] {d.message}", type=d.code)
                   + "\n    </testcase>")
        yield "\n  </testsuite>"
    yield "\n</testsuites>\n"


def _by_policy(texts: Iterable[str]) -> dict[int, list[str]]:
    """A resource's filed failures (``bit:line:xml``), by policy, each with its first failure's line first."""
    out: dict[int, list[str]] = {}
    for text in texts:
        b, line, xml = text.split(":", 2)
        out.setdefault(int(b), [line]).append(xml)
    return out


def _open(tag: str, **attrs: str) -> str:
    """An element's start tag, its attributes escaped as ``ElementTree`` escapes them (but 3x faster than
    serialising an element each: a large run has hundreds of thousands)."""
    return f"<{tag}" + "".join(f' {k}="{_escape(v, _ATTRIBUTE)}"' for k, v in attrs.items()) + ">"


def _element(tag: str, text: str, **attrs: str) -> str:
    """An element with text and no children, as ``ElementTree`` writes it (``<tag … />`` when empty)."""
    start = _open(tag, **attrs)
    return f"{start[:-1]} />" if not text else f"{start}{_escape(text, _TEXT)}</{tag}>"


#: What ElementTree escapes, in its order: in text, and in an attribute value.
_TEXT = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))
_ATTRIBUTE = (*_TEXT, ('"', "&quot;"), ("\r", "&#13;"), ("\n", "&#10;"), ("\t", "&#09;"))


def _escape(value: str, table: tuple[tuple[str, str], ...]) -> str:
    for char, entity in table:
        if char in value:
            value = value.replace(char, entity)
    return value


def _case(policy: str, subject: Subject, found: list[str], ctx: ReportContext,
          anchor: ResourceRef | None = None, first_line: int | None = None) -> str:
    """A testcase; ``found``: its failures written (from ``_by_policy``, its first line first), or for a
    testcase whose pair was not evaluated, the failures and its first finding's resource and line."""
    if first_line is None and found:
        first_line, found = int(found[0]), found[1:]
    if isinstance(subject, ResourceRef):
        file = ctx.relative(subject.file)
        name = f"{subject.display()} ({file}:{subject.line})"
        line = first_line if first_line is not None else subject.line
    else:
        assert anchor is not None and first_line is not None
        file = ctx.relative(anchor.file)
        name = f"group {subject}"
        line = anchor.line
    if not found:
        return _element("testcase", "", classname=policy, name=name, file=file, line=str(line))
    return (_open("testcase", classname=policy, name=name, file=file, line=str(line))
            + "".join(_FAILURE + x for x in found) + "\n    </testcase>")


def _failure(f: Finding, ctx: ReportContext) -> str:
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
    return _element("failure", "\n".join(lines), message=f.message, type=f"{f.severity.value}/{f.enforcement.value}")
