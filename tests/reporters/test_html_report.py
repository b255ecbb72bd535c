"""``policy-engine report``: the HTML page a person opens, checked as a browser shows it.

The page is rendered from ``tests/fixtures/report`` and compared with ``report --format json`` (the same
numbers), then opened in headless Chromium: no console message, every chart drawn (its bar colour is on
the screenshot at desktop and phone widths), and the tables of the rendered DOM equal the JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chromium import CHROMIUM, SKIP_REASON, colour_pixels, dump_dom, screenshot
from tests.html_tables import PageTables, money, parse_page

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "report"
SPEND_BLUE = (0x3B, 0x6E, 0xA8)
SAVING_GREEN = (0x2E, 0x8B, 0x57)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "policy_engine.cli.main", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "POLICY_ENGINE_NO_CACHE": "1"})


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    out = tmp_path_factory.mktemp("report") / "report.html"
    html = _cli("report", str(FIXTURES), "--html", str(out))
    assert html.returncode == 0, html.stderr
    data = _cli("report", str(FIXTURES), "--format", "json")
    assert data.returncode == 0, data.stderr
    return out, json.loads(data.stdout)


def _assert_tables_match_json(page: PageTables, data: dict[str, object]) -> None:
    breakdowns = data["breakdowns"]
    assert isinstance(breakdowns, list)
    assert [b["key"] for b in breakdowns] == ["team", "model", "namespace", "environment"]
    for b in breakdowns:
        rows = page.tables[f"spend-by-{b['key']}"][1:]  # the header row first
        assert [r[0] for r in rows] == [row["label"] for row in b["rows"]]
        assert [r[1] for r in rows] == [str(row["workloads"]) for row in b["rows"]]
        assert [r[4] for r in rows] == [money(row["monthly_cost"]) for row in b["rows"]]
    savings = data["savings_by_family"]
    assert isinstance(savings, list)
    assert [r[2] for r in page.tables["savings-by-family"][1:]] == [money(s["monthly_saving"]) for s in savings]
    top = data["top_workloads"]
    assert isinstance(top, list)
    assert [r[0] for r in page.tables["top-workloads"][1:]] == [w["workload"] for w in top]
    assert [r[3] for r in page.tables["top-workloads"][1:]] == [money(w["monthly_cost"]) for w in top]
    unpriced = data["unpriced"]
    assert isinstance(unpriced, list)
    assert [r[3] for r in page.tables["unpriced"][1:]] == [w["unpriced_reason"] for w in unpriced]


def test_page_tables_equal_the_json_numbers(rendered: tuple[Path, dict[str, object]]) -> None:
    path, data = rendered
    page = parse_page(path.read_text(encoding="utf-8"))
    _assert_tables_match_json(page, data)
    total = data["total"]
    assert isinstance(total, dict)
    breakdowns = data["breakdowns"]
    assert isinstance(breakdowns, list)
    assert sum(r["monthly_cost"] for r in breakdowns[0]["rows"]) == pytest.approx(total["monthly_cost"])


def test_page_is_self_contained_and_escapes_names(rendered: tuple[Path, dict[str, object]]) -> None:
    path, _ = rendered
    html = path.read_text(encoding="utf-8")
    page = parse_page(html)
    assert page.urls == [], "the report must not load anything when opened"
    assert "<script" not in html
    assert "<img src=x" not in html  # the hostile team label of the fixture, as markup
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert len(html.encode()) < 2 * 1024 * 1024


def test_savings_equal_the_policy_summaries_of_check(rendered: tuple[Path, dict[str, object]]) -> None:
    _, data = rendered
    checked = _cli("check", str(FIXTURES), "--format", "json", "--fail-on", "warn")
    summaries = json.loads(checked.stdout)["summary"]
    saving = data["total_monthly_saving"]
    assert saving == pytest.approx(sum(s["saving"] or 0.0 for s in summaries), abs=0.05)
    assert isinstance(saving, (int, float)) and saving > 0


def test_unpriced_workloads_are_listed_with_their_reason(rendered: tuple[Path, dict[str, object]]) -> None:
    _, data = rendered
    unpriced = data["unpriced"]
    assert isinstance(unpriced, list) and unpriced
    assert all(u["unpriced_reason"] for u in unpriced)
    assert data["total"]["unpriced"] == len(unpriced)  # type: ignore[index]


@pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)
def test_report_in_headless_chromium(rendered: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    path, data = rendered
    url = path.as_uri()
    dom, console = dump_dom(url, tmp_path / "p0")
    assert console == [], f"console messages while opening the report: {console}"
    page = parse_page(dom)
    assert set(page.charts) >= {"spend-by-team", "spend-by-model", "savings-by-family", "top-workloads"}
    assert all(bars > 0 for bars in page.charts.values()), page.charts
    _assert_tables_match_json(page, data)
    for width, height in ((1280, 4200), (390, 6000)):
        shot = screenshot(url, width, height, tmp_path / f"projected-{width}.png", tmp_path / f"p{width}")
        assert colour_pixels(shot, SPEND_BLUE) > 500, f"no spend bars drawn at {width}px"
        assert colour_pixels(shot, SAVING_GREEN) > 100, f"no saving bars drawn at {width}px"


def test_a_huge_report_stays_small_and_says_what_it_leaves_out() -> None:
    """10,000 namespaces and 10,000 unpriced workloads: each table shows its first rows and how many more
    there are (``--format json`` has them all); the page stays under 2 MB."""
    from policy_engine.engine.findings import ResourceRef
    from policy_engine.reporters.html_report import MAX_TABLE_ROWS, render_html
    from policy_engine.reporters.showback_report import Breakdown, Row, ShowbackReport, WorkloadLine

    n = 10_000
    namespaces = tuple(Row(f"team-namespace-{i:05d}", 3, 4.0, 2920.0, 1000.0 + i, 0) for i in range(n))
    unpriced = [WorkloadLine(ResourceRef("PyTorchJob", f"train-{i:05d}", f"ns-{i}", f"k8s/jobs/train-{i}.yaml", 3),
                             "nlp", None, 0.0, (), "instance type p9.huge is not in the catalog") for i in range(n)]
    report = ShowbackReport("USD", "2026-11-01", Row("total", 2 * n, 4.0 * n, 0.0, 0.0, n),
                            breakdowns=[Breakdown("namespace", "namespace", namespaces)], unpriced=unpriced)
    html = render_html(report)
    page = parse_page(html)
    assert len(page.tables["spend-by-namespace"]) == 1 + MAX_TABLE_ROWS
    assert len(page.tables["unpriced"]) == 1 + MAX_TABLE_ROWS
    assert f"The first {MAX_TABLE_ROWS:,} of {n:,} rows" in html
    assert html.count("lists them all") == 2
    assert len(html.encode()) < 2 * 1024 * 1024
