"""Human output for a terminal or a CI log: findings grouped by file, a summary per policy, totals, errors."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from policy_engine.compiler.program import Enforcement, Severity
from policy_engine.engine.findings import Finding, Result, total_saving
from policy_engine.engine.packed import PackedFindings, counts
from policy_engine.reporters.context import ReportContext, error_parts, money, saving_money
from policy_engine.reporters.context import file_runs as context_file_runs
from policy_engine.reporters.pieces import PIECE_CHARS
from policy_engine.wording import count

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_SEVERITY_COLOUR = {Severity.CRITICAL: "\x1b[1;31m", Severity.HIGH: "\x1b[31m",
                    Severity.MEDIUM: "\x1b[33m", Severity.LOW: "\x1b[36m"}
_RED = "\x1b[31m"
_GREEN = "\x1b[32m"


class _Paint:
    def __init__(self, on: bool) -> None:
        self.on = on

    def __call__(self, text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if self.on else text


def render(result: Result, ctx: ReportContext) -> str:
    """The report; no line starts with ``::``, which a CI runner would read as a workflow command."""
    return "".join(stream(result, ctx))


def stream(result: Result, ctx: ReportContext, lines_per_piece: int = 2048,
           piece_chars: int = PIECE_CHARS) -> Iterator[str]:
    """The report a piece at a time (each whole lines): a run with 100,000s of findings is never one string.
    A piece ends after ``lines_per_piece`` lines or ``piece_chars`` characters (a parallel run's workers send
    a file's findings of a unit as one "line" of many)."""
    piece: list[str] = []
    size = 0
    for line in _lines(result, ctx):
        if len(line) >= piece_chars:  # a unit's findings of one file (stdin: all of them), passed on as it is
            if piece:
                yield _defused("\n".join(piece) + "\n")
                piece.clear()
                size = 0
            yield _defused(line)
            yield "\n"
            continue
        piece.append(line)
        size += len(line)
        if len(piece) >= lines_per_piece or size >= piece_chars:
            yield _defused("\n".join(piece) + "\n")
            piece.clear()
            size = 0
    if piece:
        yield _defused("\n".join(piece) + "\n")


def _defused(text: str) -> str:
    """No line starts with ``::``: the regular expression tries every position, a search for ``::`` (found in
    hardly any report) a fraction of that."""
    return _WORKFLOW_COMMAND.sub(_defuse, text) if "::" in text else text


#: A line that starts, after whitespace and colour codes, with ``::`` (GitHub Actions' workflow commands).
_WORKFLOW_COMMAND = re.compile(r"^((?:\s|\x1b\[[0-9;]*m)*)::", re.MULTILINE)


def _defuse(match: re.Match[str]) -> str:
    return match.group(1) + "\\x3a:"


#: What separates two findings' pieces (``piece``): a parallel run's workers join a unit's with it.
PIECE_SEPARATOR = "\n"


def piece(f: Finding, ctx: ReportContext) -> str:
    """A finding's lines (rendered by a parallel run's workers: ``reporters.piece_renderer``). The common one,
    uncoloured and about one workload, put together here: the same text as ``_finding``'s, with the resource's
    part shared by its workload's findings, which come one after another."""
    if ctx.color or f.group or f.related or ctx.cost_diff is not None or not f.policy:
        return "\n".join(_finding(f, ctx, _Paint(ctx.color)))
    global _last_resource
    resource = f.resource
    last = _last_resource
    if last[0] is not resource or last[1] is not ctx:
        last = _last_resource = (resource, ctx, ctx.relative(resource.file), resource.display())
    monthly, saving = f.monthly_cost, f.saving
    cost = "unpriced" if monthly is None else _monthly(monthly)
    if saving:
        cost += f"  saves {money(saving)}/month"
    elif f.facts and f.saving_unknown is not None:
        cost += "  saving unknown (no spot price in the catalog)"
    return (f"  {last[2]}:{f.field_line or resource.line}  {f.policy}  {f.severity._value_}  "
            f"{f.enforcement._value_}{' (error)' if f.error else ''}  {last[3]}: {f.message}  {cost}")


#: The last resource rendered, for a context: (resource, context, its file relative, ``display()``).
_last_resource: tuple[object, object, str, str] = (None, None, "", "")
#: The last monthly cost rendered, as (cost, text): a workload's findings carry its one monthly cost.
_last_monthly: tuple[object, str] = (None, "")


def _monthly(value: float) -> str:
    global _last_monthly
    last = _last_monthly
    if last[0] is value:
        return last[1]
    text = f"{money(value)}/month"
    _last_monthly = (value, text)
    return text


def _lines(result: Result, ctx: ReportContext) -> Iterator[str]:
    paint = _Paint(ctx.color)
    runs: Iterable[tuple[str, list[str | list[str]]]] | None = context_file_runs(  # the few rendered here: lines
        result.findings, "text", ctx, lambda f, c: _finding(f, c, paint))
    if runs is None:
        findings: Iterable[Finding] = result.findings
        if not isinstance(findings, PackedFindings):  # packed ones are in report order already, and stay packed
            findings = sorted(findings, key=lambda f: (f.resource.file, f.line, f.policy))
        runs = ((f.resource.file, [_finding(f, ctx, paint)]) for f in findings)
    current = None
    for file, pieces in runs:  # (the workers' pieces of a file come joined: a piece may hold many findings)
        if file != current:
            if current is not None:
                yield ""
            yield paint(ctx.relative(file), _BOLD)
            current = file
        for lines in pieces:
            if isinstance(lines, list):  # a quota finding naming thousands of workloads: a line at a time
                yield from lines
            else:
                yield lines
    if current is not None:
        yield ""
    out: list[str] = []
    if result.errors:
        out.append(paint(f"Errors ({len(result.errors)})", _BOLD))
        for e in sorted((error_parts(e) for e in result.errors), key=lambda d: d.sort_key()):
            out.append("  " + paint(e.headline(), _RED if e.is_error else _SEVERITY_COLOUR[Severity.MEDIUM]))
            if e.hint:
                out.append(f"    = help: {e.hint}")
        out.append("")
    out.extend(_summary(result, paint))
    if ctx.cost_diff is not None:
        d = ctx.cost_diff
        out.append(f"Cost vs {d.base_ref} ({d.base_sha[:12]}): {money(d.before)} -> {money(d.after)} "
                   f"per month ({money(d.delta, signed=True)})")
        for t in d.teams:
            out.append(f"  team {t.team}: {money(t.before)} -> {money(t.after)} "
                       f"({money(t.delta, signed=True)})")
    out.append(_verdict(result, ctx, paint))
    yield from out


def _finding(f: Finding, ctx: ReportContext, paint: _Paint) -> list[str]:
    where = f"{ctx.relative(f.resource.file)}:{f.line}"
    cost = f"{money(f.monthly_cost)}/month" if f.monthly_cost is not None else "" if f.group else "unpriced"
    if f.saving:
        cost = (cost + "  " if cost else "") + f"saves {money(f.saving)}/month"
    elif _saving_unknown(f):
        cost = (cost + "  " if cost else "") + "saving unknown (no spot price in the catalog)"
    tags = (f.enforcement._value_ + (" (error)" if f.error else "")
            + ("" if ctx.is_new(f) else " (also at base)"))
    policy, severity = f.policy, f.severity._value_
    if paint.on:  # (a large run's report is uncoloured: no call per part)
        policy, severity, cost = paint(policy, _BOLD), paint(severity, _SEVERITY_COLOUR[f.severity]), \
            paint(cost, _DIM) if cost else ""
    head = "  ".join([x for x in (where, policy, severity, tags, f"{f.resource.display()}: {f.message}", cost) if x])
    lines = ["  " + head]
    if f.group:
        lines.append(f"      group {f.group}")
    for r in f.related:
        lines.append(f"      - {r.display()} ({ctx.relative(r.file)}:{r.line})")
    return lines


def _saving_unknown(f: Finding) -> bool:
    """A finding whose saving could not be known (a spot rule without a spot price), not one that is $0."""
    return f.saving_unknown is not None


def _summary(result: Result, paint: _Paint) -> list[str]:
    rows = [s for s in result.summaries if s.findings]
    out: list[str] = []
    if rows:
        width = max(len(s.policy) for s in rows)
        out.append(paint("Policy summary", _BOLD))
        out.append(f"  {'policy':<{width}}  {'severity':<8}  {'action':<6}  {'findings':>8}  "
                   f"{'flagged $/month':>16}  {'saving $/month':>15}")
        for s in sorted(rows, key=lambda s: (-s.severity.rank, -s.findings, s.policy)):
            unpriced = f" (+{s.unpriced_flagged} unpriced)" if s.unpriced_flagged else ""
            saving_text = saving_money(s.known_saving, s.saving_unknown)  # unknown is never shown as $0
            out.append(f"  {s.policy:<{width}}  {s.severity.value:<8}  {s.enforcement.value:<6}  "
                       f"{s.findings:>8}  {money(s.flagged_monthly_cost):>16}  "
                       f"{saving_text:>15}{unpriced}")
        out.append("")
    st = result.stats
    saving, unknown = total_saving(result.summaries)
    out.append(totals_line(result))
    unpriced = f" ({count(st.unpriced_workloads, 'workload')} unpriced)" if st.unpriced_workloads else ""
    why = f" ({count(unknown, 'finding')} with no spot price in the catalog)" if unknown else ""
    out.append(f"Projected spend {money(st.monthly_cost)}/month{unpriced}; estimated saving if fixed "
               f"{saving_money(saving, unknown, '/month')}{why}")
    if st.assumed_workloads:
        out.append(f"  includes {st.assumed_workloads} workload(s) priced under stated assumptions "
                   f"({', '.join(st.assumptions)}; docs/cost-model.md)")
    return out


def totals_line(result: Result) -> str:
    """``4 files, 6 documents, … : 2 findings (1 deny, 1 warn, 0 audit), 0 errors``."""
    st = result.stats
    by_action = counts(result.findings)
    return (f"{count(st.files, 'file')}, {count(st.documents, 'document')}, {count(st.workloads, 'workload')} "
            f"({st.gpu_workloads} with GPUs), {count(st.policies, 'policy')}: {count(len(result.findings), 'finding')} "
            f"({by_action[Enforcement.DENY]} deny, {by_action[Enforcement.WARN]} warn, "
            f"{by_action[Enforcement.AUDIT]} audit), {count(len(result.errors), 'error')}")


def verdict_line(result: Result, ctx: ReportContext) -> str:
    """The last line of the text report: ``FAILED: …``, ``ERROR: …`` or ``PASSED: …`` (no colour)."""
    return _verdict(result, ctx, _Paint(False))


def _verdict(result: Result, ctx: ReportContext, paint: _Paint) -> str:
    failing = ctx.failing_count(result)
    gate = "/".join(sorted(e.value for e in ctx.fail_on))
    if ctx.cost_diff is not None:
        gate = f"new {gate}"
    errors = sum(1 for e in result.errors if error_parts(e).is_error)
    if failing:
        also = f"; {count(errors, 'input or policy error')}" if errors else ""
        return paint(f"FAILED: {count(failing, gate + ' finding')}{also}", _RED + _BOLD)
    if errors:
        return paint(f"ERROR: {count(errors, 'input or policy error')}", _RED + _BOLD)
    return paint(f"PASSED: no {gate} findings", _GREEN + _BOLD)
