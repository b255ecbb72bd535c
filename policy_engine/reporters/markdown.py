"""The pull-request comment: verdict, findings with links, cost by team, biggest savings, cost vs base.

GitHub caps a comment at 65,536 characters, so long tables are cut with a line saying how many rows
were left out (the SARIF upload and the JSON report carry all of them). So the comment is small whatever
the run: the rows shown are picked as the findings are read (a large run's stay packed), never sorted all.
"""

from __future__ import annotations

import heapq
import re

from policy_engine.engine.findings import Finding, Result, total_saving
from policy_engine.reporters.context import ReportContext, error_parts, is_failure, money, saving_money
from policy_engine.reporters.costs import Change, by_team
from policy_engine.wording import count

MAX_ROWS = 50
MAX_SAVINGS = 5
MARKER = "<!-- policy-engine-check -->"  # lets a CI step find and update its previous comment


def render(result: Result, ctx: ReportContext) -> str:
    out = [MARKER, _verdict(result, ctx), ""]
    st = result.stats
    if ctx.stopped is not None:
        out.append(f"**Nothing was checked: {_cell(ctx.stopped)}.** The errors below say why.")
    else:
        out.append(f"{count(st.files, 'file')} · {count(st.documents, 'document')} · "
                   f"{count(st.workloads, 'workload')} ({st.gpu_workloads} with GPUs) · "
                   f"{count(st.policies, 'policy')} · projected **{money(st.monthly_cost)}/month**"
                   + (f" ({st.unpriced_workloads} unpriced)" if st.unpriced_workloads else ""))
    out.append("")
    if ctx.cost_diff is not None:
        out.extend(_cost_diff(ctx))
    if result.findings:
        out.extend(_findings(result, ctx))
    out.extend(_teams(result, ctx))
    out.extend(_savings(result, ctx))
    if result.errors:
        out.append(f"### ⚠️ Errors ({len(result.errors)})")
        out.append("")
        for d in sorted((error_parts(e) for e in result.errors), key=lambda d: d.sort_key()):
            out.append(f"- {_link(ctx, d.span.file, d.span.line)} `{d.code}` {_cell(d.message)}")
        out.append("")
    out.append(f"<sub>policy-engine {ctx.tool_version}</sub>")
    return "\n".join(out) + "\n"


def _verdict(result: Result, ctx: ReportContext) -> str:
    failing = ctx.failing_count(result)
    errors = sum(1 for e in result.errors if is_failure(e))
    gate = "/".join(sorted(e.value for e in ctx.fail_on))
    new = " new" if ctx.cost_diff is not None else ""
    if failing:
        plural = "s" if failing != 1 else ""
        head = f"## ❌ policy-engine: {failing}{new} blocking finding{plural} ({gate})"
    elif errors:
        head = f"## ❌ policy-engine: {errors} input or policy error{'s' if errors != 1 else ''}"
    else:
        head = f"## ✅ policy-engine: no{new} {gate} findings"
    others = len(result.findings) - failing
    if others:
        head += f" · {others} other finding{'s' if others != 1 else ''}"
    return head


def _cell(text: str) -> str:
    """Text from a manifest or file name, inert in a PR comment: no HTML, no table break, no @mention."""
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("`", "\\`").replace("[", "\\[").replace("]", "\\]")
    return _MENTION.sub("@\u200b", text)  # a zero-width space after @: GitHub notifies nobody


_MENTION = re.compile(r"@(?=[A-Za-z0-9])")


def _code(text: str) -> str:
    """``text`` as inline code: backticks inside cannot close it, and code spans render no HTML or mention."""
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def _link(ctx: ReportContext, file: str, line: int) -> str:
    rel = ctx.relative(file)
    if ctx.link_base:
        return f"[{_cell(rel)}:{line}]({ctx.link_base.rstrip('/')}/{ctx.uri(file)}#L{line})"
    return _code(f"{rel.replace('`', chr(0x2035))}:{line}")


def _findings(result: Result, ctx: ReportContext) -> list[str]:
    total = len(result.findings)
    shown = heapq.nsmallest(MAX_ROWS, result.findings,  # as sorted(…)[:MAX_ROWS], ties in the findings' order
                            key=lambda f: (not ctx.fails(f), -f.severity.rank, f.resource.file, f.line))
    out = [f"### Findings ({total})", "",
           "| | Location | Policy | Severity | Resource | Message | $/month |",
           "|---|---|---|---|---|---|---:|"]
    for f in shown:
        icon = "❌" if ctx.fails(f) else "⚠️" if ctx.is_new(f) else "💤"
        message = f.message
        if f.related:
            message += " — " + ", ".join(f"{r.display()} ({_link(ctx, r.file, r.line)})"
                                         for r in f.related[:5])
        out.append(f"| {icon} | {_link(ctx, f.resource.file, f.line)} | `{f.policy}` | {f.severity.value} "
                   f"({f.enforcement.value}) | {_cell(f.group or f.resource.display())} | {_cell(message)} | "
                   f"{_cost(f)} |")
    if total > MAX_ROWS:
        out.append(f"\n…and {total - MAX_ROWS} more findings (see the SARIF or JSON report).")
    if ctx.cost_diff is not None:
        out.append("\n❌ fails the run · ⚠️ new, not blocking · 💤 already present at the base revision")
    out.append("")
    return out


def _cost(f: Finding) -> str:
    if f.monthly_cost is None:
        return "—" if f.group else "unpriced"
    return money(f.monthly_cost)


def _teams(result: Result, ctx: ReportContext) -> list[str]:
    """One compact table: each team's projected spend, and with ``--base`` its change against the base."""
    teams = by_team(ctx.workload_costs(result))
    diff = ctx.cost_diff
    deltas = {t.team: t for t in diff.teams} if diff is not None else {}
    gone = [t for name, t in deltas.items() if name not in {team.team for team in teams}]
    if not teams and not gone:
        return []
    head = "| Team | Workloads | GPUs | $/month |"
    rule = "|---|---:|---:|---:|"
    if diff is not None:
        head += f" vs `{_cell(diff.base_ref)}` |"
        rule += "---:|"
    out = ["### Projected spend by team", "", head, rule]
    for t in teams[:MAX_ROWS]:
        unpriced = f" (+{t.unpriced} unpriced)" if t.unpriced else ""
        row = f"| {_cell(t.team)} | {t.workloads} | {t.gpus:g} | {money(t.monthly)}{unpriced} |"
        if diff is not None:
            delta = deltas.get(t.team)
            row += f" {money(delta.delta, signed=True) if delta is not None else money(0.0, signed=True)} |"
        out.append(row)
    for g in gone[:MAX_ROWS]:
        out.append(f"| {_cell(g.team)} | 0 | 0 | {money(0.0)} | {money(g.delta, signed=True)} |")
    if len(teams) + len(gone) > MAX_ROWS:
        out.append(f"\n…and {len(teams) + len(gone) - MAX_ROWS} more teams.")
    out.append("")
    return out


def _savings(result: Result, ctx: ReportContext) -> list[str]:
    with_saving = heapq.nsmallest(MAX_SAVINGS, (f for f in result.findings if f.saving),
                                  key=lambda f: -(f.saving or 0.0))
    total, unknown = total_saving(result.summaries)
    if not with_saving and not unknown:
        return []
    out = [f"### Biggest savings (total {saving_money(total, unknown, '/month')} if every finding is fixed)", ""]
    for f in with_saving:
        out.append(f"- **{money(f.saving)}/month** — {_cell(f.group or f.resource.display())} "
                   f"({_link(ctx, f.resource.file, f.line)}): {_cell(f.message)}")
    if unknown:  # a saving that cannot be known is said, never counted as $0
        out.append(f"- **unknown** for {count(unknown, 'finding')}: no spot price in the pricing catalog "
                   "(bring real ones with `policy-engine prices import`; docs/cost-model.md)")
    out.append("")
    return out


def _cost_diff(ctx: ReportContext) -> list[str]:
    d = ctx.cost_diff
    assert d is not None
    pct = f" ({d.delta / d.before * 100:+.1f}%)" if d.before else ""
    out = [f"### 💰 Cost change vs {_code(d.base_ref)}", "",
           f"Projected monthly spend: **{money(d.before)} → {money(d.after)}**, "
           f"**{money(d.delta, signed=True)}**{pct}", ""]
    # the change per team is a column of the team table (``_teams``)
    if d.workloads:
        label = {Change.ADDED: "🆕 added", Change.REMOVED: "🗑️ removed", Change.CHANGED: "✏️ changed"}
        out += ["| Workload | Change | Team | Before | After | Change |", "|---|---|---|---:|---:|---:|"]
        for w in d.workloads[:MAX_ROWS]:
            before = money(w.before) if w.change is not Change.ADDED else "—"
            after = money(w.after) if w.change is not Change.REMOVED else "—"
            where = _link(ctx, w.ref.file, w.ref.line)
            out.append(f"| {_cell(w.ref.display())} ({where}) | {label[w.change]} | {_cell(w.team)} | "
                       f"{before} | {after} | {money(w.delta, signed=True)} |")
        if len(d.workloads) > MAX_ROWS:
            out.append(f"\n…and {len(d.workloads) - MAX_ROWS} more changed workloads.")
        out.append("")
    else:
        out += ["No workload's projected spend changed.", ""]
    return out

