"""``policy-engine prices import|diff``: files in, catalog out, what was skipped said, errors located, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from policy_engine.cli.main import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pricing"
IMPORT = FIXTURES / "import"


def test_import_writes_a_loadable_catalog_and_says_what_it_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "prices.yaml"
    code = main(["prices", "import", "--aws", str(IMPORT / "aws-offer-us-east-1.json"),
                 "--aws-spot", str(IMPORT / "aws-spot.json"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0
    assert "aws offer dated 2025-11-20: took 3 price(s) of 3 type(s)" in err
    assert "skipped 1 × operatingSystem Windows (only operatingSystem Linux is taken)" in err
    assert "skipped 2 × aws: a spot price without an on-demand price in the same region" in err
    assert f"wrote {out}: 2 instance type(s)" in err
    data = yaml.safe_load(out.read_text())
    assert data["instance_types"]["g5.xlarge"]["spot"] == 0.4512
    # the written file is a --pricing file the other commands take
    manifest = tmp_path / "gpu.yaml"
    manifest.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: ml, labels: {team: a}}\n"
        "spec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n"
        "    metadata: {labels: {app: web}}\n    spec:\n"
        "      nodeSelector: {node.kubernetes.io/instance-type: g5.xlarge, karpenter.sh/capacity-type: spot}\n"
        "      containers: [{name: c, image: i, resources: {limits: {nvidia.com/gpu: 1}}}]\n")
    assert main(["cost", str(manifest), "--pricing", str(out), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["total"]["monthly_cost"] == round(0.4512 * 730, 2)


def test_import_of_a_bad_file_is_a_located_error_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "prices.yaml"
    code = main(["prices", "import", "--aws", str(IMPORT / "aws-not-json.json"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "aws-not-json.json:5:" in err and "E809" in err and "not JSON" in err
    assert not out.exists()  # nothing half-written


def test_import_without_any_input_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "import", "--out", str(tmp_path / "x.yaml")]) == 2
    assert "give at least one of" in capsys.readouterr().err


def test_an_undated_page_is_dated_by_its_fetched_at_else_the_report_says_how_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "prices.yaml"
    page = tmp_path / "page.json"
    page.write_text(json.dumps({**json.loads((IMPORT / "azure-retail-page1.json").read_text()),
                                "fetched_at": "2025-11-27T09:00:00Z"}))
    assert main(["prices", "import", "--azure", str(page), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "azure retail prices dated 2025-11-27" in err and "fetched_at" not in err
    assert yaml.safe_load(out.read_text())["instance_types"]["Standard_NC24ads_A100_v4"]["date"] == "2025-11-27"
    assert main(["prices", "import", "--azure", str(IMPORT / "azure-retail-page1.json"), "--out", str(out)]) == 0
    assert 'add the time it was fetched as a top-level "fetched_at"' in capsys.readouterr().err


def test_the_old_azure_date_flag_is_gone_one_dating_mechanism(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["prices", "import", "--azure", str(IMPORT / "azure-retail-page1.json"), "--azure-date", "2025-11-27",
              "--out", str(tmp_path / "x.yaml")])
    assert info.value.code == 2 and "--azure-date" in capsys.readouterr().err


def test_import_with_a_base_that_does_not_validate_is_located(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("as_of: '2025-01-01'\ninstance_types:\n  g5.xlarge: {provider: aws, on_demand: -1}\n")
    code = main(["prices", "import", "--aws", str(IMPORT / "aws-offer-us-east-1.json"), "--base", str(base),
                 "--out", str(tmp_path / "out.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and f"{base}:3:" in err


def _catalog(path: Path, g5: float, p5: float | None, spot: float | None = None) -> str:
    lines = ["as_of: '2025-11-20'", "instance_types:"]
    entry = f"  g5.xlarge: {{provider: aws, region: us-east-1, gpus: 1, vcpus: 4, memory_gib: 16, on_demand: {g5}"
    lines.append(entry + (f", spot: {spot}, spot_date: '2025-11-28'}}" if spot is not None else "}"))
    if p5 is not None:
        lines.append(f"  p5.48xlarge: {{provider: aws, region: us-east-1, gpus: 8, vcpus: 192, memory_gib: 2048, "
                     f"on_demand: {p5}}}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_diff_says_what_changed_by_how_much_and_what_disappeared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    old = _catalog(tmp_path / "old.yaml", 1.006, 98.32)
    new = _catalog(tmp_path / "new.yaml", 1.0563, None, spot=0.4512)
    code = main(["prices", "diff", old, new])
    out = capsys.readouterr().out
    assert code == 1  # something is flagged
    assert "  ~ instance_types.g5.xlarge on_demand: 1.006 → 1.0563 (+5.0 %)" in out  # under 10 %: not flagged
    assert "! + instance_types.g5.xlarge spot: 0.4512 (as of 2025-11-28)" in out  # a spot price appeared
    assert "! - instance_types.p5.48xlarge on_demand: 98.32 disappeared" in out
    assert "1 changed, 1 added, 1 disappeared; 2 flagged" in out


def test_diff_threshold_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = _catalog(tmp_path / "old.yaml", 1.0, 50.0)
    new = _catalog(tmp_path / "new.yaml", 1.2, 50.0)
    assert main(["prices", "diff", old, new, "--threshold", "25", "--format", "json"]) == 0
    (change,) = json.loads(capsys.readouterr().out)["changes"]
    assert change == {"place": "instance_types.g5.xlarge", "field": "on_demand", "kind": "changed", "old": 1.0,
                      "new": 1.2, "percent": 20.0, "flagged": False, "old_date": None, "new_date": None,
                      "note": None}
    assert main(["prices", "diff", old, new, "--threshold", "20"]) == 1
    assert "! ~ instance_types.g5.xlarge on_demand: 1 → 1.2 (+20.0 %)" in capsys.readouterr().out


def test_diff_says_when_a_price_gone_or_new_is_a_type_moving_to_or_from_the_unpriced_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    entry = "{provider: aws, region: us-east-1, gpus: 8, gpu_model: H200, vcpus: 192, memory_gib: 2048"
    old = tmp_path / "old.yaml"
    old.write_text(f"instance_types:\n  p5e.48xlarge: {entry}, on_demand: 63.296}}\n"
                   f"unpriced_types:\n  p6-b300.48xlarge: {entry}, reason: no file prices it}}\n")
    new = tmp_path / "new.yaml"
    new.write_text(f"instance_types:\n  p6-b300.48xlarge: {entry}, on_demand: 120.0}}\n"
                   f"unpriced_types:\n  p5e.48xlarge: {entry}, reason: sold through Capacity Blocks}}\n")
    assert main(["prices", "diff", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert ("! - instance_types.p5e.48xlarge on_demand: 63.296 disappeared — now recognised without a published "
            "price: sold through Capacity Blocks") in out
    assert "  + instance_types.p6-b300.48xlarge on_demand: 120 — was recognised without a published price" in out


def test_diff_of_identical_catalogs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = _catalog(tmp_path / "one.yaml", 1.0, 50.0)
    assert main(["prices", "diff", one, one]) == 0
    assert capsys.readouterr().out.strip() == "no price changed"


def test_diff_of_a_broken_catalog_is_located_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _catalog(tmp_path / "good.yaml", 1.0, 50.0)
    bad = tmp_path / "bad.yaml"
    bad.write_text("as_of: '2025-01-01'\ninstance_types:\n  g5.xlarge: [unclosed\n")
    assert main(["prices", "diff", good, str(bad)]) == 2
    assert f"{bad}:" in capsys.readouterr().err


def test_import_of_gcp_billing_skus_composes_machine_prices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "gcp.yaml"
    code = main(["prices", "import", "--gcp-skus", str(IMPORT / "gcp-skus.json"), "--only", "g2-standard-4",
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0 and "skipped 1 × usageType Commit1Yr" in err
    g2 = yaml.safe_load(out.read_text())["instance_types"]["g2-standard-4"]
    assert g2["on_demand"] == 0.70683 and "spot" not in g2
