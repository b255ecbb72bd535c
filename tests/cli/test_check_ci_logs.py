"""What a CI log and CI artifacts hold when ``check`` runs with machine formats or stops early."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "check"


def check(*args: str, cwd: Path = FIXTURES) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "policy_engine.cli.main", "check", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("fmt", ["sarif", "json", "junit", "codequality"])
def test_machine_format_on_stdout_still_logs_errors_and_verdict_on_stderr(fmt: str) -> None:
    run = check("tree", "bad/invalid.yaml", "--policies", "policies", "--format", fmt)
    assert run.returncode == 2
    lines = run.stderr.splitlines()
    assert any(line.startswith("bad/invalid.yaml:") and "error[E601]" in line for line in lines), run.stderr
    assert lines[-2] == ("5 files, 6 documents, 3 workloads (3 with GPUs), 3 policies: 2 findings (1 deny, 1 warn, "
                         "0 audit), 1 error")
    assert lines[-1] == "FAILED: 1 deny finding; 1 input or policy error"
    assert "FAILED" not in run.stdout  # stdout stays pure machine output


def test_text_format_logs_nothing_twice() -> None:
    run = check("tree", "--policies", "policies")
    assert run.returncode == 1 and run.stderr == ""
    assert run.stdout.rstrip().endswith("FAILED: 1 deny finding")


def test_output_files_are_written_when_the_policies_do_not_compile(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    run = check("tree", "--policies", "policies-bad", "--format", "sarif",
                *(f"--output={fmt}={out}/r.{fmt}" for fmt in ("sarif", "markdown", "json", "junit", "codequality")))
    assert run.returncode == 2
    assert "error[" in run.stderr and "nothing was checked" in run.stderr
    for text in (run.stdout, (out / "r.sarif").read_text()):
        [invocation] = json.loads(text)["runs"][0]["invocations"]
        assert invocation["executionSuccessful"] is False
        notes = invocation["toolExecutionNotifications"]
        assert notes and notes[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith(
            "broken.policy")
    markdown = (out / "r.markdown").read_text()
    assert "## ❌ policy-engine" in markdown and "Nothing was checked: the policies or the pricing file" in markdown
    assert "broken.policy" in markdown
    assert json.loads((out / "r.json").read_text())["verdict"]["passed"] is False
    assert ET.parse(out / "r.junit").getroot().findall(".//error")
    assert json.loads((out / "r.codequality").read_text())[0]["severity"] == "blocker"


def test_base_outside_a_git_repository_says_so_and_still_writes_outputs(tmp_path: Path) -> None:
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "a.yaml").write_text((FIXTURES / "tree" / "train.yaml").read_text())
    run = check("k8s", "--base", "main", "--output", "sarif=out.sarif", "--output", "markdown=out.md",
                cwd=tmp_path)
    assert run.returncode == 2
    assert "is not inside a git repository" in run.stderr
    assert "unknown revision" not in run.stderr
    notes = json.loads((tmp_path / "out.sarif").read_text())["runs"][0]["invocations"][0]
    assert "not inside a git repository" in notes["toolExecutionNotifications"][0]["message"]["text"]
    assert "Nothing was checked: --base main failed" in (tmp_path / "out.md").read_text()


def test_unknown_base_revision_inside_a_repository_still_writes_outputs(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    run = check(str(FIXTURES / "tree"), "--base", "no-such-branch", "--output", "sarif=out.sarif",
                "--output", "markdown=out.md", cwd=tmp_path)
    assert run.returncode == 2 and "unknown revision 'no-such-branch'" in run.stderr
    [invocation] = json.loads((tmp_path / "out.sarif").read_text())["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    assert "unknown revision 'no-such-branch'" in invocation["toolExecutionNotifications"][0]["message"]["text"]
    assert "Nothing was checked: --base no-such-branch failed" in (tmp_path / "out.md").read_text()


def test_serve_help_shows_every_default() -> None:
    run = subprocess.run([sys.executable, "-m", "policy_engine.cli.main", "serve", "--help"],
                         capture_output=True, text=True, timeout=60)
    text = " ".join(run.stdout.split())
    for default in ("(default: 8443)", "(default: 0.0.0.0", "(default: 1)", "(default: 20.0)", "(default: info)"):
        assert default in text


def test_make_demo_prints_no_ignored_error(tmp_path: Path) -> None:
    venv = Path(sys.executable).parent.parent
    run = subprocess.run(["make", "--no-print-directory", "-o", f"{venv}/bin/policy-engine", "demo",
                          f"VENV={venv}"], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path), "HOME": str(tmp_path)})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Error" not in run.stdout + run.stderr and "ignored" not in run.stderr
    assert re.search(r"^FAILED: \d+ deny findings?$", run.stdout, re.M)  # the examples break deny policies on purpose
    assert "Deprecat" not in run.stdout + run.stderr
