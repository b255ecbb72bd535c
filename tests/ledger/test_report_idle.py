"""``report --ledger L --dcgm URL``: idle GPU waste per team on the page and in JSON, from a real Prometheus
holding dcgm-exporter series (backfilled with promtool) and a ledger the real writer filled from the same
simulated pods, then opened in headless Chromium.

The fleet is ``test_prometheus``'s: 30 pods over 40 hours, a third of them deleted. Every pod of team nlp
runs its GPUs at 15% (``ksm.UTIL``), so 85% of nlp's actual cost is idle waste. Hand-computed from the pods'
GPUs × hours this month (``cluster.fleet``, shifted an hour):

    on gpu-a: job3 4×6, job9 2×7, job15 4×24, job21 2×4, job27 4×11 = 186 GPU-hours
    on gpu-b: job0 1×5, job6 3×33, job12 1×5, job18 3×9, job24 1×35 = 171 GPU-hours

    nlp actual cost = 186 × price(gpu-a) + 171 × price(gpu-b);  used = 15% of it;  idle waste = 85% of it
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from policy_engine.cli.main import main
from tests.chromium import CHROMIUM, SKIP_REASON, colour_pixels, dump_dom, screenshot
from tests.html_tables import assert_actual_tables_equal_json, parse_page

from .cluster import HOUR, POLICIES, T0, engine, fleet, per_gpu_hour, write_ledger
from .ksm import STEP, served

PODS = [replace(p, start=p.start + HOUR, end=p.end + HOUR if p.end else None) for p in fleet(30)]
NOW = T0 + 40 * HOUR
MANIFESTS = Path(__file__).resolve().parents[1] / "fixtures" / "report"
IDLE_RED = (0xC0, 0x39, 0x2B)


@dataclass
class Rendered:
    html: Path
    data: dict[str, Any]
    err: str


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served(PODS, T0, NOW, tmp_path_factory.mktemp("prom")) as url:
        yield url


@pytest.fixture(scope="module")
def ledger_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("idle") / "ledger.db"
    write_ledger(path, PODS, 41)  # one writer cycle an hour up to NOW
    return path


def _report(*args: str) -> tuple[int, str, str]:
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["report", str(MANIFESTS), "--policies", str(POLICIES), "--at", NOW.isoformat(), *args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def rendered(prom: str, ledger_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    html = tmp_path_factory.mktemp("page") / "report.html"
    code, out, err = _report("--ledger", str(ledger_path), "--dcgm", prom, "--prometheus-step", str(STEP),
                             "--html", str(html), "--format", "json")
    assert code == 0, err
    return Rendered(html, json.loads(out), err)


def test_idle_waste_per_team_equals_the_hand_computed_figure(rendered: Rendered) -> None:
    catalog = engine().catalog
    nlp_cost = 186 * per_gpu_hour("gpu-a", catalog) + 171 * per_gpu_hour("gpu-b", catalog)
    actual = rendered.data["actual"]
    idle = {t["team"]: t for t in actual["idle_waste"]}
    nlp = idle["nlp"]
    assert nlp["cost"] == pytest.approx(nlp_cost, abs=0.01)
    assert nlp["used"] == pytest.approx(0.15 * nlp_cost, abs=0.01)
    assert nlp["idle"] == pytest.approx(0.85 * nlp_cost, abs=0.01)
    assert nlp["unmeasured"] == 0 and nlp["idle_percent"] == 85.0
    assert idle["vision"]["idle_percent"] == 40.0 and idle["search"]["idle_percent"] == 5.0
    teams = {t["team"]: t for t in actual["teams"]}
    for team, line in idle.items():  # the split adds up to the team's actual spend
        assert line["cost"] == teams[team]["used"]
        assert line["used"] + line["idle"] + line["unmeasured"] == pytest.approx(line["cost"], abs=0.02)
    assert actual["notes"] == []


def test_the_page_shows_idle_waste_as_chart_and_table(rendered: Rendered) -> None:
    page = parse_page(rendered.html.read_text(encoding="utf-8"))
    assert_actual_tables_equal_json(page, rendered.data["actual"])
    assert page.charts["idle-by-team"] >= 6  # used and idle segments of three teams


def test_without_dcgm_there_is_no_idle_section(ledger_path: Path, tmp_path: Path) -> None:
    html = tmp_path / "r.html"
    code, out, err = _report("--ledger", str(ledger_path), "--html", str(html), "--format", "json")
    assert code == 0, err
    assert json.loads(out)["actual"]["idle_waste"] is None
    assert "idle-by-team" not in parse_page(html.read_text(encoding="utf-8")).tables


def test_dcgm_down_is_said_and_the_page_still_written(ledger_path: Path, tmp_path: Path) -> None:
    html = tmp_path / "r.html"
    code, out, err = _report("--ledger", str(ledger_path), "--dcgm", "http://127.0.0.1:9", "--html", str(html),
                             "--format", "json")
    assert code == 2
    assert "idle waste left out" in err and "127.0.0.1:9" in err
    actual = json.loads(out)["actual"]
    assert actual["idle_waste"] is None and any("idle waste left out" in n for n in actual["notes"])
    page = html.read_text(encoding="utf-8")
    assert "idle waste left out" in page and 'data-table="idle-by-team"' not in page


def test_dcgm_needs_the_ledger() -> None:
    code, _, err = _report("--dcgm", "http://127.0.0.1:9", "--format", "json")
    assert code == 2 and "need --ledger" in err


@pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)
def test_the_whole_page_in_headless_chromium(rendered: Rendered, tmp_path: Path) -> None:
    """Projection and actual spend on one page; these screenshots are docs/report.md's."""
    url = rendered.html.as_uri()
    dom, console = dump_dom(url, tmp_path / "p0")
    assert console == [], f"console messages while opening the report: {console}"
    page = parse_page(dom)
    assert_actual_tables_equal_json(page, rendered.data["actual"])
    assert all(bars > 0 for bars in page.charts.values()), page.charts
    assert {"limits", "actual-by-team", "idle-by-team", "daily"} <= set(page.charts)
    for width, height in ((1280, 8400), (390, 7900)):
        shot = screenshot(url, width, height, tmp_path / f"report-{width}.png", tmp_path / f"p{width}", docs=True)
        assert colour_pixels(shot, IDLE_RED) > 300, f"no idle waste drawn at {width}px"
