"""``policy-engine cost``: spend and GPU-hours per group, unpriced workloads apart, located errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policy_engine.cli.main import main
from tests.workloads import PRICING_FIXTURES as FIXTURES

EXAMPLES = str(FIXTURES / "examples")
NEGOTIATED = str(FIXTURES / "catalogs" / "negotiated.yaml")


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["cost", *args, "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, dict)
    return code, data


def test_groups_by_team_sum_the_priced_workloads_and_list_the_unpriced_apart(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, report = run_json(capsys, EXAMPLES, "--by", "team")
    assert code == 0
    groups = {g["key"]["team"]: g for g in report["groups"]}
    # nlp: the 10-hour PyTorchJob, (1 × 5.672/4 + 3 × 5.672) × 10 h on g5.12xlarge
    assert groups["nlp"]["monthly_cost"] == pytest.approx((5.672 / 4 + 3 * 5.672) * 10, abs=0.01)
    assert groups["nlp"]["gpus"] == 13 and groups["nlp"]["gpu_hours_per_month"] == pytest.approx(130)
    # search: the unknown instance type is counted as unpriced, not as $0
    assert groups["search"]["unpriced"] == 1
    unpriced, recognised = sorted(report["unpriced"], key=lambda u: u["workload"])
    assert unpriced["workload"] == "Deployment inference/onprem-gpu"
    assert unpriced["file"].endswith("unknown-instance.yaml") and unpriced["line"] == 2
    assert "dgx-a100-onprem" in unpriced["reason"]
    # research: a type the catalog recognises without a published price is unpriced too, and says why
    assert recognised["workload"] == "Job research/b300-pretrain" and groups["research"]["unpriced"] == 1
    assert "no published price in the catalog for instance type 'p6-b300.48xlarge'" in recognised["reason"]
    assert report["total"]["monthly_cost"] == pytest.approx(sum(g["monthly_cost"] for g in groups.values()), abs=0.02)
    assert report["total"]["workloads"] == 9


def test_group_keys_combine_and_model_comes_from_the_instance_type(capsys: pytest.CaptureFixture[str]) -> None:
    _, report = run_json(capsys, EXAMPLES, "--by", "namespace,model")
    keys = {(g["key"]["namespace"], g["key"]["model"]) for g in report["groups"]}
    assert ("inference", "A10G") in keys and ("dev", "A100") in keys and ("platform", "(cpu)") in keys
    assert ("batch", "L4") in keys and ("inference", "(unknown)") in keys


def test_a_user_catalog_prices_what_the_default_could_not(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, EXAMPLES, "--by", "team", "--pricing", NEGOTIATED)
    assert code == 0 and [u["workload"] for u in report["unpriced"]] == ["Job research/b300-pretrain"]
    search = next(g for g in report["groups"] if g["key"]["team"] == "search")
    assert search["unpriced"] == 0


def test_table_and_markdown_show_totals_and_the_unpriced(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", EXAMPLES, "--by", "team"]) == 0
    table = capsys.readouterr().out
    assert "TOTAL" in table and "not priced" in table and "onprem-gpu" in table
    assert main(["cost", EXAMPLES, "--by", "cost-center", "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert "| cost-center |" in markdown and "| cc-100 |" in markdown and "**TOTAL**" in markdown


def test_load_errors_are_located_on_stderr_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x\n")
    code = main(["cost", str(bad), EXAMPLES, "--format", "json"])
    captured = capsys.readouterr()
    assert code == 2
    assert f"{bad}:" in captured.err and "E601" in captured.err
    assert json.loads(captured.out)["total"]["workloads"] == 9  # what could be read is still reported


def test_a_broken_pricing_file_is_reported_located_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["cost", EXAMPLES, "--pricing", str(FIXTURES / "catalogs" / "broken.yaml")])
    err = capsys.readouterr().err
    assert code == 2
    assert "broken.yaml:2:1: error[E803]" in err and "did you mean 'hours_per_month'" in err


def test_catalog_warnings_are_printed_but_do_not_fail(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["cost", EXAMPLES, "--pricing", str(FIXTURES / "catalogs" / "warnings.yaml")])
    assert code == 0
    assert "W807" in capsys.readouterr().err
