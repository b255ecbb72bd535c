"""``report --ledger``: actual spend beside the projection, the same numbers as ``usage``.

The ledger is written by the real writer from a simulated cluster (``cluster.py``: 45 GPU Jobs of three
teams over 30 hours, a third deleted, a third finished, a third running).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy_engine.cli.main import main
from tests.html_tables import assert_actual_tables_equal_json, parse_page

from .cluster import HOUR, POLICIES, T0, fleet, write_ledger

NOW = T0 + 29 * HOUR
MANIFESTS = Path(__file__).resolve().parents[1] / "fixtures" / "report"


@pytest.fixture(scope="module")
def ledger_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("actuals") / "ledger.db"
    write_ledger(path, fleet(45), 30)
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _report(capsys: pytest.CaptureFixture[str], ledger: Path, *extra: str) -> tuple[int, str, str]:
    return _run(capsys, "report", str(MANIFESTS), "--policies", str(POLICIES), "--ledger", str(ledger),
                "--at", NOW.isoformat(), *extra)


def test_actual_spend_per_team_equals_usage(ledger_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _report(capsys, ledger_path, "--format", "json")
    assert code == 0, err
    actual = json.loads(out)["actual"]
    code, out, err = _run(capsys, "usage", "--ledger", str(ledger_path), "--policies", str(POLICIES), "--at",
                          NOW.isoformat(), "--by", "team", "--format", "json")
    assert code == 0, err
    usage = json.loads(out)
    used = {row["key"]["team"]: row["cost"] for row in usage["rows"]}
    teams = {t["team"]: t for t in actual["teams"]}
    assert set(teams) >= {"nlp", "vision", "search"}
    for team in ("nlp", "vision", "search"):
        assert teams[team]["used"] == pytest.approx(used[team]["used"], abs=0.01)
        assert teams[team]["forecast"] == pytest.approx(used[team]["projected"], abs=0.01)
        assert teams[team]["forecast"] >= teams[team]["used"] > 0


def test_limits_daily_and_training_runs(ledger_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _report(capsys, ledger_path, "--format", "json")
    assert code == 0, err
    actual = json.loads(out)["actual"]
    policies = {g["policy"] for g in actual["limits"]}
    assert policies == {"team-gpu-hours", "team-spend"}
    vision = next(g for g in actual["limits"] if g["policy"] == "team-gpu-hours" and g["group"] == "vision")
    assert vision["limit"] == 500
    assert vision["used_percent"] == pytest.approx(100 * vision["used"] / 500, abs=0.1)
    days = {d["day"]: d["cost"] for d in actual["daily"]}
    assert days["2026-11-01"] > 0 and days["2026-11-02"] > 0
    total_used = sum(t["used"] for t in actual["teams"])
    assert sum(days.values()) == pytest.approx(total_used, abs=0.01 * len(days))  # every dollar lands on a day
    runs = actual["training_runs"]
    assert runs and all(r["kind"] == "Job" and r["cost"] > 0 for r in runs)
    assert all(r["hours"] == pytest.approx((r["ended"] - r["started"]) / 3600, abs=1e-3) for r in runs)


def test_html_page_shows_the_actual_sections(ledger_path: Path, capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    code, _, err = _report(capsys, ledger_path, "--html", str(page))
    assert code == 0, err
    tables = parse_page(page.read_text(encoding="utf-8"))
    code, out, err = _report(capsys, ledger_path, "--format", "json")
    actual = json.loads(out)["actual"]
    assert_actual_tables_equal_json(tables, actual)
    assert tables.tables["training-runs"][1:]
    assert tables.charts["limits"] > 0 and tables.charts["daily"] > 0  # bars drawn


def test_missing_ledger_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _report(capsys, tmp_path / "nope.db", "--format", "json")
    assert code == 2
    assert "nope.db: no such file" in err
