"""One definition of each showback dimension, read the same by check, cost, inspect and the webhook."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "pricing" / "dimensions"
MANIFEST = str(FIXTURES / "owner-labelled.yaml")


def _run(*args: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "policy_engine.cli.main", *args], capture_output=True,
                          text=True, check=False, cwd=ROOT)
    assert proc.stdout, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


@pytest.mark.parametrize(("pricing", "team"), [((), "(untagged)"),
                                                (("--pricing", str(FIXTURES / "team-or-owner.yaml")), "vision")])
def test_check_cost_and_inspect_name_the_same_team(pricing: tuple[str, ...], team: str) -> None:
    check = _run("check", MANIFEST, "--format", "json", *pricing)
    cost = _run("cost", MANIFEST, "--by", "team", "--format", "json", *pricing)
    inspect = _run("inspect", MANIFEST, "--format", "json", *pricing)
    assert [t["team"] for t in check["teams"]] == [team]
    assert [g["key"]["team"] for g in cost["groups"]] == [team]
    assert inspect["workloads"][0]["team"] == team
    # and the same money: check's team total is cost's group total
    assert check["teams"][0]["monthly_cost"] == pytest.approx(cost["groups"][0]["monthly_cost"])


def test_inspect_shows_the_gpu_model_cost_prices() -> None:
    inspect = _run("inspect", MANIFEST, "--format", "json")
    cost = _run("cost", MANIFEST, "--by", "model", "--format", "json")
    assert inspect["workloads"][0]["roles"][0]["gpu_model"] == cost["groups"][0]["key"]["model"] == "A10G"
