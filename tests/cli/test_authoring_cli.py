"""test, fmt, explain and validate end to end, through the real console entry point in a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "authoring"


def cli(*args: str, cwd: Path = ROOT, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "policy_engine.cli.main", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=120)


# ---- test ----


def test_test_passes_on_the_bundled_library_with_the_exact_summary_line() -> None:
    run = cli("test", "policies")
    assert run.returncode == 0, run.stdout + run.stderr
    last = run.stdout.splitlines()[-1]
    passed = int(last.split()[0])
    assert last == f"{passed} passed, 0 failed" and passed >= 24


def test_test_exits_1_on_failed_expectations_and_2_on_bad_test_files() -> None:
    failing = cli("test", str(FIXTURES / "testing" / "failing"))
    assert failing.returncode == 1
    assert failing.stdout.splitlines()[-1] == "1 passed, 4 failed"
    assert "failing.test.yaml:5: FAIL team-label on Job/unlabelled" in failing.stdout
    erroring = cli("test", str(FIXTURES / "testing" / "erroring"))
    assert erroring.returncode == 2
    assert "erroring.test.yaml:5:71: error[E902]: cases[1].colour: unknown field" in erroring.stdout
    assert erroring.stdout.splitlines()[-1] == "0 passed, 0 failed"


def test_test_junit_output(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    run = cli("test", str(FIXTURES / "testing" / "failing"), "--format", "junit", "--output", str(report))
    assert run.returncode == 1
    for text in (run.stdout, report.read_text()):
        root = ET.fromstring(text)
        assert root.get("tests") == "5" and root.get("failures") == "4"


# ---- fmt ----


def test_fmt_check_lists_unformatted_files_and_exits_1(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "fmt" / "messy.policy", tmp_path / "messy.policy")
    shutil.copy(FIXTURES / "fmt" / "messy.formatted.policy", tmp_path / "tidy.policy")
    run = cli("fmt", "--check", str(tmp_path))
    assert run.returncode == 1
    assert run.stdout.splitlines() == [f"would reformat {tmp_path / 'messy.policy'}",
                                       "1 file would be reformatted, 1 unchanged"]
    assert (tmp_path / "messy.policy").read_text() == (FIXTURES / "fmt" / "messy.policy").read_text()


def test_fmt_reports_an_unparsable_file_and_exits_2(tmp_path: Path) -> None:
    target = tmp_path / "broken.policy"
    target.write_text('policy "x" {\n  severity high\n  require labels [\n')
    for flags in ((), ("--check",)):
        run = cli("fmt", *flags, str(target))
        assert run.returncode == 2
        assert f"{target}:3:19: error[E003]: unexpected end of file" in run.stderr
        assert run.stdout.splitlines()[-1].endswith("0 unchanged, 1 not formatted (errors above)")
    assert target.read_text() == 'policy "x" {\n  severity high\n  require labels [\n'


def test_fmt_diff_prints_a_unified_diff_without_writing(tmp_path: Path) -> None:
    target = tmp_path / "messy.policy"
    shutil.copy(FIXTURES / "fmt" / "messy.policy", target)
    run = cli("fmt", "--check", "--diff", str(target))
    assert run.returncode == 1
    assert f"--- {target}" in run.stdout and "-param   max_gpus=8" in run.stdout and "+param max_gpus = 8" in run.stdout
    assert target.read_text() == (FIXTURES / "fmt" / "messy.policy").read_text()


def test_fmt_rewrites_in_place_then_check_passes(tmp_path: Path) -> None:
    target = tmp_path / "messy.policy"
    shutil.copy(FIXTURES / "fmt" / "messy.policy", target)
    assert cli("fmt", str(target)).returncode == 0
    assert target.read_text() == (FIXTURES / "fmt" / "messy.formatted.policy").read_text()
    assert cli("fmt", "--check", str(target)).returncode == 0


def test_fmt_refuses_a_file_with_syntax_errors(tmp_path: Path) -> None:
    target = tmp_path / "broken.policy"
    shutil.copy(FIXTURES / "fmt" / "syntax-error.policy", target)
    run = cli("fmt", str(target))
    assert run.returncode == 2
    assert f"{target}:4:1: error[E001]" in run.stderr and "   4 | }" in run.stderr
    assert target.read_text() == (FIXTURES / "fmt" / "syntax-error.policy").read_text()


def test_fmt_reads_stdin() -> None:
    run = cli("fmt", "-", stdin='policy "x" {require   spot}')
    assert run.returncode == 0 and run.stdout == 'policy "x" {\n  require spot\n}\n'


# ---- explain ----


def test_explain_traces_values_to_manifest_lines() -> None:
    manifest = ROOT / "examples" / "manifests" / "untagged-pytorchjob-p4d.yaml"
    run = cli("explain", "--policy", "large-gpu-denylist", str(manifest))
    assert run.returncode == 0, run.stderr  # p4d.24xlarge is not on the denylist: it passes
    run = cli("explain", "--policy", "required-cost-labels", str(manifest))
    assert run.returncode == 1
    assert "FAIL" in run.stdout
    assert 'labels["team"] = null (not set in spec.pytorchReplicaSpecs.Master.template.metadata.labels' in run.stdout
    assert "assumed 100% of the month" in run.stdout  # unbounded: priced under the stated assumption


def test_explain_json() -> None:
    manifest = ROOT / "examples" / "manifests" / "llm-serving-g5.yaml"
    run = cli("explain", "--policy", "dev-gpu-allowlist", "--format", "json", str(manifest))
    assert run.returncode == 0
    data = json.loads(run.stdout)
    assert data["agrees_with_compiled"] is True
    trace = data["workloads"][0]["trace"]
    assert trace["verdict"] == "skip" and trace["steps"][1]["clause"] == "when"


def test_explain_unknown_policy_names_the_known_ones_and_exits_2() -> None:
    run = cli("explain", "--policy", "nope", str(ROOT / "examples" / "manifests"))
    assert run.returncode == 2
    assert run.stderr.startswith("policy-engine explain: error[E903]: no policy nope; known: ")
    assert ":1:1" not in run.stderr  # an argument, not a place in a file
    close = cli("explain", "--policy", "max-gpu", str(ROOT / "examples" / "manifests"))
    assert "no policy max-gpu (did you mean max-gpus?); known: " in close.stderr


# ---- validate ----


def test_validate_clean_library_exits_0() -> None:
    run = cli("validate", "policies", "examples/policies")
    assert run.returncode == 0
    assert run.stdout.strip().endswith("0 errors, 0 warnings")


def test_validate_prints_warnings_and_exits_0_then_errors_exit_2() -> None:
    warn = cli("validate", str(FIXTURES / "validate" / "unknown-catalog-entries.policy"))
    assert warn.returncode == 0
    assert "warning[W505]: 'g55.*' matches no instance type of the pricing catalog" in warn.stdout
    assert "  = help: check the spelling" in warn.stdout
    error = cli("validate", str(FIXTURES / "validate"))
    assert error.returncode == 2
    assert "type-error.policy:5:10: error[E201]" in error.stdout and "     |          ^^^^" in error.stdout


def test_validate_json_and_missing_path() -> None:
    run = cli("validate", "--format", "json", str(FIXTURES / "validate" / "contradiction.policy"))
    data = json.loads(run.stdout)
    assert run.returncode == 0 and [d["code"] for d in data["diagnostics"]] == ["W504"]
    missing = cli("validate", "does-not-exist")
    assert missing.returncode == 2
