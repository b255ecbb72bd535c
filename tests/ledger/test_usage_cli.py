"""``policy-engine usage``: the ledger's figures per quota/budget group and per dimension."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy_engine.cli.main import main

from .cluster import HOUR, POLICIES, T0, fleet, write_ledger

NOW = T0 + 29 * HOUR
PODS = fleet(45)


@pytest.fixture(scope="module")
def ledger_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("usage") / "ledger.db"
    write_ledger(path, PODS, 30)
    return path


def _usage(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["usage", "--policies", str(POLICIES), "--at", NOW.isoformat(), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_used_running_projected_limit_and_percent(ledger_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _usage(capsys, "--ledger", str(ledger_path), "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["period"] == "month" and doc["start"].startswith("2026-11-01")
    vision = next(g for g in doc["groups"] if g["policy"] == "team-gpu-hours" and g["key"] == "vision")
    used = sum(p.gpus * p.hours(T0, NOW) for p in PODS if p.team == "vision")
    running = sum(p.gpus for p in PODS if p.team == "vision" and p.end is None) * (T0.replace(month=12) - NOW) / HOUR
    assert vision["used"] == pytest.approx(used)
    assert vision["running"] == pytest.approx(running)
    assert vision["projected"] == pytest.approx(used + running)
    assert vision["limit"] == 500  # the override
    assert vision["projected_percent"] == pytest.approx(100 * (used + running) / 500)
    spend = next(g for g in doc["groups"] if g["policy"] == "team-spend" and g["key"] == "vision")
    assert spend["limit"] == 40000 and spend["used"] > 0


def test_text_and_markdown(ledger_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _usage(capsys, "--ledger", str(ledger_path))
    assert code == 0
    assert "team-gpu-hours: quota in GPU-hours per month by labels[\"team\"]" in out
    assert "projected %" in out and "vision" in out and "500.0" in out
    code, out, _ = _usage(capsys, "--ledger", str(ledger_path), "--format", "markdown")
    assert code == 0 and "| group | used | running | projected | limit |" in out


def test_by_team_shows_the_team_limits(ledger_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _usage(capsys, "--ledger", str(ledger_path), "--by", "team", "--format", "json")
    assert code == 0
    rows = {r["key"]["team"]: r for r in json.loads(out)["rows"]}
    assert set(rows) == {"nlp", "vision", "search"}
    assert {(lim["policy"], lim["limit"]) for lim in rows["vision"]["limits"]} == {
        ("team-gpu-hours", 500), ("team-spend", 40000)}
    code, out, _ = _usage(capsys, "--ledger", str(ledger_path), "--by", "team,model")
    assert code == 0 and "llama" not in out.split("\n")[2]  # model is the GPU model dimension, not the label
    assert "A100" in out


def test_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _usage(capsys, "--ledger", str(tmp_path / "none.db"))
    assert code == 2 and "no ledger here" in err
    code, _, err = _usage(capsys, "--ledger", str(tmp_path / "none.db"), "--at", "yesterday")
    assert code == 2 and "--at yesterday" in err


def test_spend_without_a_value_has_the_one_untagged_name(ledger_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """No pod of the fleet has a cost-center: ``usage`` names that spend as check, cost and inspect do."""
    from policy_engine.model.dimensions import UNTAGGED

    code, out, _ = _usage(capsys, "--ledger", str(ledger_path), "--by", "cost-center", "--format", "json")
    assert code == 0
    assert {r["key"]["cost-center"] for r in json.loads(out)["rows"]} == {UNTAGGED} == {"(untagged)"}
    code, out, _ = _usage(capsys, "--ledger", str(ledger_path), "--by", "team,cost-center")
    assert code == 0 and UNTAGGED in out and "(none)" not in out


MANIFESTS = Path(__file__).resolve().parents[1] / "fixtures" / "ledger" / "manifests"


def test_manifests_projection_sits_beside_the_actual_use(ledger_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """``--manifests``: each group's projection for the period is what ``check`` prices for the same
    manifests; a team planned in the manifests with no pod yet gets a row of its own."""
    assert main(["cost", str(MANIFESTS), "--by", "team", "--format", "json"]) == 0
    monthly = {g["key"]["team"]: g["monthly_cost"] for g in json.loads(capsys.readouterr()[0])["groups"]}
    code, out, _ = _usage(capsys, "--ledger", str(ledger_path), "--manifests", str(MANIFESTS), "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["manifests"] == {"workloads": 2, "unpriced": 0, "errors": []}
    groups = {(g["policy"], g["key"]): g for g in doc["groups"]}
    assert groups[("team-gpu-hours", "vision")]["manifests"] == pytest.approx(2 * 730)  # 2 replicas all month
    assert groups[("team-gpu-hours", "robotics")]["manifests"] == pytest.approx(10)  # the 10 h deadline
    assert groups[("team-gpu-hours", "robotics")]["used"] == 0  # planned, not yet run
    assert groups[("team-spend", "vision")]["manifests"] == pytest.approx(monthly["vision"], abs=0.01)
    assert groups[("team-gpu-hours", "nlp")]["manifests"] == 0  # running, not in these manifests
    code, out, _ = _usage(capsys, "--ledger", str(ledger_path), "--manifests", str(MANIFESTS), "--by", "team",
                          "--format", "json")
    rows = {r["key"]["team"]: r for r in json.loads(out)["rows"]}
    assert rows["robotics"]["manifests"] == pytest.approx(monthly["robotics"], abs=0.01)
    assert rows["robotics"]["pods"] == 0 and rows["nlp"]["manifests"] == 0
    code, out, _ = _usage(capsys, "--ledger", str(ledger_path), "--manifests", str(MANIFESTS))
    assert code == 0 and "manifests" in out.splitlines()[3] and "2 GPU workload(s)" in out


def test_manifests_that_do_not_load_exit_2(ledger_path: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Deployment\nmetadata: [\n")
    code, _, err = _usage(capsys, "--ledger", str(ledger_path), "--manifests", str(bad))
    assert code == 2 and "bad.yaml" in err
