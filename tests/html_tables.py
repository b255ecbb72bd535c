"""Read a rendered HTML report the way a test needs it: table cells by ``data-table``, bars per chart."""

from __future__ import annotations

from html.parser import HTMLParser


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
