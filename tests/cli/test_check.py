"""``policy-engine check`` end to end, through a subprocess, over fixture trees and fixture policies."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from policy_engine.pricing.catalog import load_catalog

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "check"
POLICIES = FIXTURES / "policies"
SARIF_SCHEMA = REPO.parent / "shared" / "schemas" / "sarif-schema-2.1.0.json"


def check(*args: str, cwd: Path = FIXTURES, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "policy_engine.cli.main", "check", *args], cwd=cwd,
                          input=stdin, capture_output=True, text=True, check=False)


def as_json(*args: str, cwd: Path = FIXTURES) -> tuple[int, dict[str, Any]]:
    proc = check(*args, "--policies", str(POLICIES), "--format", "json", cwd=cwd)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_text_report_locates_findings_and_fails_on_deny() -> None:
    proc = check("tree", "--policies", str(POLICIES))
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert "\x1b[" not in out  # not a TTY: no colour
    assert "tree/train.yaml:15  team-label  high  deny  PyTorchJob nlp/pretrain" in out
    assert "spot-training  medium  warn" in out
    assert "README" not in out
    assert "4 files, 6 documents" in out
    assert out.rstrip().endswith("FAILED: 1 deny finding")


def test_json_report_schema() -> None:
    code, doc = as_json("tree")
    assert code == 1
    assert doc["schema_version"] == "1.0"
    label = next(f for f in doc["findings"] if f["policy"] == "team-label")
    assert label["resource"]["file"] == "tests/fixtures/check/tree/train.yaml"
    assert (label["resource"]["kind"], label["resource"]["name"], label["resource"]["namespace"]) == (
        "PyTorchJob", "pretrain", "nlp")
    assert label["resource"]["line"] == 1 and label["line"] == 15  # the pod template the label must go on
    # one run of the 10 h deadline on one on-demand p4d.24xlarge, priced from the bundled catalog
    p4d = load_catalog().instance_types["p4d.24xlarge"].on_demand
    assert label["monthly_cost"] == pytest.approx(p4d * 10, abs=0.01)
    assert doc["verdict"]["passed"] is False and doc["verdict"]["failing_findings"] == 1
    assert {s["policy"] for s in doc["summary"]} == {"team-label", "spot-training", "team-quota"}
    assert doc["errors"] == []
    assert doc["stats"]["documents"] == 6
    assert {t["team"] for t in doc["teams"]} >= {"vision", "nlp"}


def test_sarif_is_valid_and_repo_relative() -> None:
    proc = check("tree", "--policies", str(POLICIES), "--format", "sarif")
    doc = json.loads(proc.stdout)
    if SARIF_SCHEMA.exists():
        jsonschema = pytest.importorskip("jsonschema")
        jsonschema.validate(doc, json.loads(SARIF_SCHEMA.read_text()))
    run = doc["runs"][0]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert sorted(ids) == ["spot-training", "team-label", "team-quota"]
    result = next(r for r in run["results"] if r["ruleId"] == "team-label")
    assert ids[result["ruleIndex"]] == "team-label"
    assert result["level"] == "error"
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "tests/fixtures/check/tree/train.yaml",
                                            "uriBaseId": "%SRCROOT%"}
    assert location["region"]["startLine"] == 15


def test_junit_has_a_testcase_per_evaluation() -> None:
    proc = check("tree", "--policies", str(POLICIES), "--format", "junit")
    root = ET.fromstring(proc.stdout)
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    label = suites["team-label"]
    cases = label.findall("testcase")
    assert len(cases) == 3  # chat, pretrain, eval: the GPU workloads
    failed = [c for c in cases if c.find("failure") is not None]
    assert [c.get("file") for c in failed] == ["tests/fixtures/check/tree/train.yaml"]
    assert root.get("failures") == str(sum(int(s.get("failures", "0")) for s in suites.values()))


def test_markdown_and_policyreport() -> None:
    md = check("tree", "--policies", str(POLICIES), "--format", "markdown").stdout
    assert "## ❌ policy-engine: 1 blocking finding (deny)" in md
    assert "`tests/fixtures/check/tree/train.yaml:15`" in md
    assert "### Projected spend by team" in md
    reports = list(yaml.safe_load_all(check("tree", "--policies", str(POLICIES), "--format",
                                            "policyreport").stdout))
    by_ns = {r["metadata"].get("namespace"): r for r in reports}
    assert set(by_ns) == {"nlp", "vision"}
    assert by_ns["nlp"]["summary"]["fail"] == 1
    assert by_ns["vision"]["summary"]["fail"] == 0 and by_ns["vision"]["summary"]["pass"] >= 1


def test_several_outputs_at_once(tmp_path: Path) -> None:
    proc = check("tree", "--policies", str(POLICIES), "--output", f"sarif={tmp_path}/out/r.sarif",
                 "--output", f"junit={tmp_path}/out/r.xml", "--output", f"markdown={tmp_path}/c.md")
    assert proc.returncode == 1
    assert "team-label" in proc.stdout
    assert json.loads((tmp_path / "out" / "r.sarif").read_text())["version"] == "2.1.0"
    ET.parse(tmp_path / "out" / "r.xml")
    assert (tmp_path / "c.md").read_text().startswith("<!-- policy-engine-check -->")


def test_fail_on_warn() -> None:
    args = ("tree/train.yaml", "--policies", str(POLICIES / "spot-training.policy"))
    assert check(*args).returncode == 0
    assert check(*args, "--fail-on", "warn").returncode == 1


def test_stdin() -> None:
    text = (FIXTURES / "tree" / "train.yaml").read_text()
    proc = check("-", "--policies", str(POLICIES), stdin=text)
    assert proc.returncode == 1
    assert "<stdin>:15  team-label" in proc.stdout


def test_exclude() -> None:
    assert check("tree", "--policies", str(POLICIES), "--exclude", "train.yaml").returncode == 0


@pytest.mark.parametrize(("name", "code", "line"), [
    ("invalid.yaml", "E601", 7), ("scalar.yaml", "E603", 1), ("nokind.yaml", "E604", 1),
    ("bomb.yaml", "E605", 1), ("binary.yaml", "E403", 1)])
def test_bad_input_is_a_located_error_and_good_files_still_report(name: str, code: str, line: int,
                                                                  tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "tree", tmp_path / "tree")
    shutil.copy(FIXTURES / "bad" / name, tmp_path / "tree" / name)
    code_, doc = as_json("tree", cwd=tmp_path)
    assert code_ == 2
    assert [(e["file"], e["line"], e["code"]) for e in doc["errors"]] == [(f"tree/{name}", line, code)]
    assert any(f["policy"] == "team-label" for f in doc["findings"])
    text = check("tree", "--policies", str(POLICIES), cwd=tmp_path).stdout
    assert f"tree/{name}:{line}:" in text and f"error[{code}]" in text


def test_a_broken_policy_is_a_located_error() -> None:
    proc = check("tree", "--policies", str(FIXTURES / "policies-bad"))
    assert proc.returncode == 2
    assert "broken.policy:" in proc.stderr


def test_usage_errors() -> None:
    assert check("tree", "--output", "sarif").returncode == 2
    assert check("tree", "--output", "yaml=x").returncode == 2
    assert check("tree", "--jobs", "0").returncode == 2
    unwritable = check("tree", "--output", "json=tree/train.yaml/report.json")  # a file is not a directory
    assert unwritable.returncode == 2 and "--output json=" in unwritable.stderr


def test_quota_over_the_whole_tree_names_the_group_and_workloads() -> None:
    code, doc = as_json("quota")
    assert code == 1
    quota = [f for f in doc["findings"] if f["policy"] == "team-quota"]
    assert len(quota) == 1
    assert "nlp" in quota[0]["group"]
    assert {r["name"] for r in quota[0]["related"]} <= {"nlp-serve-a", "nlp-serve-b"}
    assert quota[0]["related"]
    text = check("quota", "--policies", str(POLICIES)).stdout
    assert "group " in text and "nlp-serve-b" in text


def test_parallel_workers_give_the_same_result() -> None:
    _, one = as_json("tree", "quota", "--jobs", "1")
    _, two = as_json("tree", "quota", "--jobs", "2")
    assert one["findings"] == two["findings"]
    assert one["summary"] == two["summary"]
    assert {k: v for k, v in one["stats"].items() if k != "seconds"} == {
        k: v for k, v in two["stats"].items() if k != "seconds"}
    assert any(f["group"] for f in two["findings"])


def _on_a_terminal(*args: str, env_extra: dict[str, str] | None = None) -> str:
    """stdout of check run with a pseudo-terminal as its stdout."""
    import os
    import pty

    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | (env_extra or {})
    proc = subprocess.Popen([sys.executable, "-m", "policy_engine.cli.main", "check", "tree", "--policies",
                             str(POLICIES), *args], cwd=FIXTURES, stdout=follower, stderr=subprocess.DEVNULL,
                            env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO once the child has closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait()
    os.close(leader)
    return b"".join(chunks).decode()


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_colour_on_a_terminal_only_and_never_with_no_color() -> None:
    assert "\x1b[" in _on_a_terminal()
    assert "\x1b[" not in _on_a_terminal(env_extra={"NO_COLOR": "1"})
    assert "\x1b[" not in _on_a_terminal("--no-color")


def test_labels_only_on_a_deployment_fail_check_as_the_cluster_would_with_the_pod_template_fix() -> None:
    """The issue's reproduction: cost labels on the Deployment's metadata.labels only passed check (exit
    0) while the webhook denied the ReplicaSet and every Pod; now check fails and names the fix."""
    manifest = REPO / "tests" / "fixtures" / "webhook" / "one-verdict" / "deployment.yaml"
    proc = check(str(manifest), "--format", "json", cwd=REPO)
    assert proc.returncode == 1, proc.stderr
    findings = [f for f in json.loads(proc.stdout)["findings"] if f["enforcement"] == "deny"]
    assert {f["resource"]["name"] for f in findings} == {"deployment-labels-on-object-only"}
    labels = next(f for f in findings if "team" in f["message"])
    assert labels["field"] == "spec.template.metadata.labels"
    assert "add them under spec.template.metadata.labels" in labels["message"]
    lines = manifest.read_text().splitlines()
    assert lines[labels["line"] - 1].strip().startswith("labels:")


def test_an_8_plus_8_gpu_sidecar_pod_no_longer_bypasses_max_gpus() -> None:
    manifest = REPO / "tests" / "fixtures" / "model" / "sidecar_gpus.yaml"
    proc = check(str(manifest), "--format", "json", cwd=REPO)
    findings = json.loads(proc.stdout)["findings"]
    assert any(f["policy"] == "max-gpus" and f["resource"]["name"] == "sidecar-gpus" and "16" in f["message"]
               for f in findings), findings
    assert proc.returncode == 1


def test_the_headline_includes_every_workload_and_quota_rows_show_the_spend_they_flag() -> None:
    """The issue's reproductions: an unbounded job was '$0.00 (+1 unpriced)' and left out of 'Projected
    spend'; a quota row showed $0.00 flagged beside its saving."""
    proc = check(str(REPO / "examples" / "manifests"), "--format", "json", cwd=REPO)
    doc = json.loads(proc.stdout)
    stats = doc["stats"]
    assert stats["unpriced_workloads"] == 0 and stats["assumed_workloads"] >= 1
    assert "assumptions.unbounded_run_fraction" in stats["assumptions"]
    text = check(str(REPO / "examples" / "manifests"), cwd=REPO).stdout
    assert "priced under stated assumptions" in text and "unpriced" not in text.split("Projected spend")[1]
    _, quota = as_json("quota")
    (row,) = [s for s in quota["summary"] if s["policy"] == "team-quota"]
    assert row["flagged_monthly_cost"] > 0 and row["saving"] > 0


@pytest.mark.parametrize("layout", ["empty-directory", "only-yaml", "every-file-empty"])
def test_a_policy_set_with_no_policy_is_an_error_not_a_pass(tmp_path: Path, layout: str) -> None:
    """The issue's reproduction: check passed (exit 0) with nothing to enforce."""
    policies = tmp_path / "policies"
    policies.mkdir()
    if layout == "only-yaml":
        (policies / "values.yaml").write_text("team: nlp\n")
    elif layout == "every-file-empty":
        (policies / "a.policy").write_text("")
        (policies / "b.policy").write_text("# rules moved elsewhere\n")
    proc = check(str(REPO / "examples" / "manifests"), "--policies", str(policies), cwd=REPO)
    assert proc.returncode == 2, proc.stdout
    assert "error[E311]: no policy to enforce" in proc.stderr


def test_check_honours_an_exemption_annotation_by_the_webhooks_rule(tmp_path: Path) -> None:
    """The issue: check ignored the exemption annotations the webhook honours. Same keys, same 90-day cap."""
    from datetime import UTC, datetime, timedelta

    policies = REPO / "tests" / "fixtures" / "webhook" / "one-verdict-policies"
    source = yaml.safe_load_all((REPO / "tests" / "fixtures" / "webhook" / "one-verdict" / "exemptions.yaml")
                                .read_text())
    deployment = next(d for d in source if d["metadata"]["name"] == "exempt-on-template")
    until = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    deployment["spec"]["template"]["metadata"]["annotations"]["policy-engine.io/exempt-until"] = until
    (tmp_path / "app.yaml").write_text(yaml.safe_dump(deployment))
    proc = check(str(tmp_path), "--policies", str(policies), "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (finding,) = json.loads(proc.stdout)["findings"]
    assert finding["enforcement"] == "audit"  # reported, never failing the run
    assert finding["message"].endswith(f"[exempted by annotation until {until}]")
    proc = check(str(tmp_path), "--policies", str(policies), "--format", "json", "--exemption-max-days", "7")
    assert proc.returncode == 1
    (finding,) = json.loads(proc.stdout)["findings"]
    assert finding["enforcement"] == "deny" and "is more than 7 days away (exemption_max_days)" in finding["message"]


def test_serve_refuses_to_start_on_a_policy_set_with_no_policy(tmp_path: Path) -> None:
    """The issue: an empty policy set is an error for the webhook too, never a server that admits all."""
    empty = tmp_path / "policies"
    empty.mkdir()
    (empty / "README.yaml").write_text("not: a policy\n")
    proc = subprocess.run([sys.executable, "-m", "policy_engine.cli.main", "serve", "--policies", str(empty),
                           "--insecure-http", "--no-cluster", "--port", "0"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "error[E311]: no policy to enforce" in proc.stderr and "nothing served" in proc.stderr
