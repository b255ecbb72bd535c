"""Read a rendered HTML report the way a test needs it: table cells by ``data-table``, bars per chart."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any


class PageTables(HTMLParser):
    """Cells of every ``<table data-table=…>`` and the ``data-chart`` figures with their SVG bars."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.charts: dict[str, int] = {}  # figure key -> bar patches drawn
        self.urls: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._chart: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name in ("src", "href"):
            if a.get(name):
                self.urls.append(a[name] or "")
        if tag == "table" and a.get("data-table"):
            self._table = a["data-table"]
            self.tables[self._table or ""] = []
        elif tag == "figure" and a.get("data-chart"):
            self._chart = a["data-chart"]
            self.charts[self._chart or ""] = 0
        elif tag == "g" and self._chart and (a.get("id") or "").startswith("patch_"):
            self.charts[self._chart] += 1
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "figure":
            self._chart = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse_page(html: str) -> PageTables:
    parser = PageTables()
    parser.feed(html)
    return parser


def money(value: float) -> str:
    return f"${value:,.2f}"


def assert_actual_tables_equal_json(page: PageTables, actual: dict[str, Any]) -> None:
    """The *Actual spend* tables of a page hold the numbers of ``report --format json``'s ``actual``."""
    assert [r[0] for r in page.tables["actual-by-team"][1:]] == [t["team"] for t in actual["teams"]]
    assert [r[1] for r in page.tables["actual-by-team"][1:]] == [money(t["used"]) for t in actual["teams"]]
    assert [r[2] for r in page.tables["actual-by-team"][1:]] == [money(t["forecast"]) for t in actual["teams"]]
    assert [r[7] for r in page.tables["limits"][1:]] == [f"{g['forecast_percent']:.1f}%" for g in actual["limits"]]
    assert [r[1] for r in page.tables["daily"][1:]] == [money(d["cost"]) for d in actual["daily"]]
    runs = page.tables.get("training-runs", [[]])[1:]
    assert [r[0] for r in runs] == [r["workload"] for r in actual["training_runs"]]
    assert [r[4] for r in runs] == [money(r["cost"]) for r in actual["training_runs"]]
    serving = page.tables.get("serving", [[]])[1:]
    assert [r[0] for r in serving] == [s["workload"] for s in actual["serving"]]
    for column, key in ((2, "cost"), (3, "cost_per_million_generated_tokens"), (4, "cost_per_million_prompt_tokens"),
                        (5, "cost_per_thousand_requests")):
        assert [r[column] for r in serving] == ["" if s[key] is None else money(s[key]) for s in actual["serving"]]
    idle = actual["idle_waste"]
    if idle is None:
        assert "idle-by-team" not in page.tables
        return
    rows = page.tables["idle-by-team"][1:]
    assert [r[0] for r in rows] == [t["team"] for t in idle]
    for column, key in ((1, "cost"), (2, "used"), (3, "idle"), (4, "unmeasured")):
        assert [r[column] for r in rows] == [money(t[key]) for t in idle], key
    assert [r[5] for r in rows] == ["" if t["idle_percent"] is None else f"{t['idle_percent']:.1f}%" for t in idle]
