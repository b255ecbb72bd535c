from __future__ import annotations

from dataclasses import replace

from policy_engine.compiler.program import Enforcement
from policy_engine.engine.findings import Result
from policy_engine.reporters import markdown
from policy_engine.reporters.context import ReportContext
from policy_engine.reporters.costs import WorkloadCost, compare

from .samples import SERVE, TRAIN


def test_failing_comment(result: Result, ctx: ReportContext) -> None:
    out = markdown.render(result, replace(ctx, link_base="https://github.com/o/r/blob/abc"))
    lines = out.splitlines()
    assert lines[0] == markdown.MARKER
    assert lines[1].startswith("## ❌ policy-engine: 2 blocking findings (deny)")
    assert "[k8s/train.yaml:5](https://github.com/o/r/blob/abc/k8s/train.yaml#L5)" in out
    assert "runs on on-demand \\| not spot" in out  # a pipe would break the table
    assert "| nlp | 1 | 16 | $12,345.68 |" in out
    assert "- **$8,000.00/month** — PyTorchJob nlp/train-llm" in out
    assert "`E601`" in out


def test_passing_comment_when_only_warnings(result: Result, ctx: ReportContext) -> None:
    warn_only = Result([f for f in result.findings if f.enforcement is Enforcement.WARN], result.summaries,
                       [], result.stats)
    assert markdown.render(warn_only, ctx).splitlines()[1].startswith("## ✅ policy-engine: no deny findings")
    gated = replace(ctx, fail_on=frozenset({Enforcement.DENY, Enforcement.WARN}))
    assert markdown.render(warn_only, gated).splitlines()[1].startswith("## ❌")


def test_cost_delta_section_and_only_new_findings_fail(result: Result, ctx: ReportContext) -> None:
    head = _full_costs(ctx)
    base = [replace(head[0], monthly=10000.0), replace(head[1], ref=replace(SERVE, name="old-serve"))]
    quota = next(f for f in result.findings if f.policy == "gpu-quota")
    diff = compare(base, head, base_ref="origin/main", base_sha="f" * 40,
                   base_fingerprints=[quota.fingerprint()])
    out = markdown.render(result, replace(ctx, cost_diff=diff))
    assert "## ❌ policy-engine: 1 new blocking finding (deny)" in out
    assert "### 💰 Cost change vs `origin/main`" in out
    assert "**$12,654.32 → $15,000.00**, **+$2,345.68** (+18.5%)" in out
    changes = (" changed |", " removed |", " added |")
    rows = [line for line in out.splitlines() if any(c in line for c in changes)]
    assert f"| {TRAIN.display()} (`k8s/train.yaml:3`) | ✏️ changed | nlp | $10,000.00 | $12,345.68 | " \
           "+$2,345.68 |" in rows
    assert "| Deployment vision/old-serve (`k8s/serve.yaml:1`) | 🗑️ removed | vision | $2,654.32 | — | " \
           "-$2,654.32 |" in rows
    assert rows[-1] == ("| Job burn\\|in (`k8s/cluster.yaml:10`) | 🆕 added | (untagged) | — | "
                        "unpriced | unpriced |")


def test_team_table_carries_the_change_against_the_base(result: Result, ctx: ReportContext) -> None:
    head = _full_costs(ctx)
    base = [replace(head[0], monthly=10000.0), replace(head[1], ref=replace(SERVE, name="old-serve")),
            replace(head[1], ref=replace(SERVE, name="retired"), team="retired-team", monthly=500.0)]
    diff = compare(base, head, base_ref="origin/main", base_sha="f" * 40, base_fingerprints=[])
    out = markdown.render(result, replace(ctx, cost_diff=diff))
    section = out[out.index("### Projected spend by team"):].split("\n\n")[1].splitlines()
    assert section[0] == "| Team | Workloads | GPUs | $/month | vs `origin/main` |"
    assert section[1] == "|---|---:|---:|---:|---:|"
    assert "| nlp | 1 | 16 | $12,345.68 | +$2,345.68 |" in section
    assert "| vision | 1 | 1 | $2,654.32 | ±$0.00 |" in section
    assert "| retired-team | 0 | 0 | $0.00 | -$500.00 |" in section  # a team gone at the head still shows
    assert not any(line.startswith("| Team | Before") for line in out.splitlines())  # one team table, not two


def test_team_table_without_base_has_no_change_column(result: Result, ctx: ReportContext) -> None:
    out = markdown.render(result, ctx)
    assert "| Team | Workloads | GPUs | $/month |\n|---|---:|---:|---:|\n" in out


def test_team_table_renders_as_a_table_in_a_gfm_renderer(result: Result, ctx: ReportContext) -> None:
    """GitHub (cmark-gfm) and GitLab (GLFM) both render CommonMark plus GFM tables: so does markdown-it with
    its table rule. The team table must come out as a table with the cells a reader expects, a hostile team
    name included (a pipe, markup and a mention stay text in their cell)."""
    from markdown_it import MarkdownIt

    head = _full_costs(ctx)
    hostile = "a|b <img src=x> @org/admins"
    base = [replace(head[0], monthly=10000.0)]
    head = [*head, replace(head[1], ref=replace(SERVE, name="odd"), team=hostile, monthly=100.0)]
    diff = compare(base, head, base_ref="origin/main", base_sha="f" * 40, base_fingerprints=[])
    out = markdown.render(result, replace(ctx, costs=head, cost_diff=diff))
    section = out[out.index("### Projected spend by team"):]
    tokens = MarkdownIt("commonmark").enable("table").parse(section.split("\n\n", 2)[1])
    rows: list[list[str]] = []
    for i, t in enumerate(tokens):
        if t.type == "tr_open":
            rows.append([])
        elif t.type == "inline" and tokens[i - 1].type in ("th_open", "td_open"):
            rows[-1].append("".join(c.content for c in t.children or [] if c.type in ("text", "code_inline")))
    assert rows[0] == ["Team", "Workloads", "GPUs", "$/month", "vs origin/main"]
    by_team = {r[0]: r for r in rows[1:]}
    assert by_team["nlp"][3:] == ["$12,345.68", "+$2,345.68"]
    assert by_team[hostile.replace("@", "@\u200b")][3:] == ["$100.00", "+$100.00"]
    assert all(len(r) == 5 for r in rows)
    assert "<img" not in MarkdownIt("commonmark").enable("table").render(section)


def _full_costs(ctx: ReportContext) -> list[WorkloadCost]:
    """The sample's per-workload costs: full records (``--base`` compares them), not team shares."""
    costs = list(ctx.costs or [])
    assert all(isinstance(c, WorkloadCost) for c in costs)
    return [c for c in costs if isinstance(c, WorkloadCost)]
