"""``policy-engine inspect``: the JSON contract, the table, and located errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from policy_engine.cli.main import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "model"
ROLE_KEYS = {
    "name",
    "replicas",
    "gpus_per_pod",
    "gpu_resource",
    "gpu_model",
    "instance_type",
    "capacity_type",
}
WORKLOAD_KEYS = {
    "kind",
    "api_version",
    "name",
    "namespace",
    "file",
    "line",
    "roles",
    "labels",
    "gpus",
    "gpu_hours_per_month",
    "hourly_cost",
    "monthly_cost",
    "priced",
    "unpriced_reason",
}


def _inspect_json(capsys: pytest.CaptureFixture[str], *paths: str) -> tuple[int, dict[str, Any], str]:
    code = main(["inspect", "--format", "json", *paths])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_json_contract_for_a_multi_role_job(capsys: pytest.CaptureFixture[str]) -> None:
    code, payload, err = _inspect_json(capsys, str(FIXTURES / "pytorchjob.yaml"))
    assert (code, err, payload["errors"]) == (0, "", [])
    (w,) = payload["workloads"]
    assert set(w) >= WORKLOAD_KEYS
    assert all(set(r) >= ROLE_KEYS for r in w["roles"])
    assert (w["kind"], w["name"], w["line"], w["gpus"]) == ("PyTorchJob", "ddp", 1, 32)
    assert w["gpu_hours_per_month"] == 320  # 32 GPUs x one 10 h bounded run
    assert w["roles"][1]["instance_type"] == "p4d.24xlarge"
    assert w["labels"] == {"team": "llm"}
    if w["priced"]:  # one bounded 10 h run
        assert w["monthly_cost"] == pytest.approx(w["hourly_cost"] * 10, rel=1e-4)
    else:
        assert w["unpriced_reason"]


def test_non_workloads_are_left_out(capsys: pytest.CaptureFixture[str]) -> None:
    code, payload, _ = _inspect_json(
        capsys, str(FIXTURES / "service.yaml"), str(FIXTURES / "servingruntime.yaml")
    )
    assert code == 0 and payload["workloads"] == []


def test_errors_are_located_on_stderr_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    bad = str(FIXTURES / "malformed_replicas.yaml")
    code, payload, err = _inspect_json(capsys, bad, str(FIXTURES / "job.yaml"))
    assert code == 2
    assert [w["name"] for w in payload["workloads"]] == ["finetune"]  # the good file is still shown
    assert payload["errors"][0]["code"] == "E702" and payload["errors"][0]["line"] == 5
    assert f"{bad}:5:1: error[E702]" in err
    assert 'replicas: "abc"' in err  # the offending source line is rendered


def test_table_lists_kind_roles_gpus_model_and_capacity(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["inspect", str(FIXTURES / "deployment.yaml")])
    out = capsys.readouterr().out
    header, row, total, *notes = out.strip().splitlines()
    assert header.split()[:3] == ["KIND/NAME", "ROLES", "GPUS"]
    assert row.startswith("Deployment/serving/llm")
    assert "3 pod" in row and " 6 " in row and "L4" in row and "spot" in row
    assert total == "1 workload, 6 GPUs"
    assert all(note.startswith("  unpriced Deployment serving/llm: ") for note in notes)
    assert code == 0


def test_console_script_reads_stdin() -> None:
    text = (FIXTURES / "statefulset.yaml").read_text()
    done = subprocess.run(
        [sys.executable, "-m", "policy_engine.cli.main", "inspect", "--format", "json", "-"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (w,) = json.loads(done.stdout)["workloads"]
    assert (w["file"], w["gpus"]) == ("<stdin>", 8)
