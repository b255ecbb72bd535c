"""action.yml and examples/ci/github-actions.yml: valid for GitHub, consistent with each other, the whole
action run as the runner runs it (every ``run:`` step, the install from ``$GITHUB_ACTION_PATH`` included,
at the tag the example pins; the action_pr_run fixture), and its check step (action/check.sh) on its own for
the cases one run cannot show."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from policy_engine import __version__
from tests.ci.composite import evaluate, interpolate, key_values
from tests.ci.helpers import FIXTURES, ROOT, ActionRun, Release, check_jsonschema, env_with_engine, git

ACTION = ROOT / "action.yml"
WORKFLOW = ROOT / "examples" / "ci" / "github-actions.yml"


def test_action_and_workflow_validate_against_githubs_schemas() -> None:
    action = check_jsonschema("vendor.github-actions", ACTION)
    assert action.returncode == 0, action.stdout + action.stderr
    workflow = check_jsonschema("vendor.github-workflows", WORKFLOW)
    assert workflow.returncode == 0, workflow.stdout + workflow.stderr


def test_the_schema_check_catches_a_broken_action(tmp_path: Path) -> None:
    broken = yaml.safe_load(ACTION.read_text())
    del broken["runs"]["steps"][1]["shell"]  # a composite run step without a shell
    (tmp_path / "action.yml").write_text(yaml.safe_dump(broken))
    assert check_jsonschema("vendor.github-actions", tmp_path / "action.yml").returncode == 1


def test_the_workflow_uses_this_action_at_the_current_release_with_known_inputs() -> None:
    action = yaml.safe_load(ACTION.read_text())
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["check"]["steps"]
    uses = [s for s in steps if s.get("uses", "").startswith("policy-engine/policy-engine@")]
    assert len(uses) == 1
    assert uses[0]["uses"].endswith(f"@v{__version__}")  # the tag CHANGELOG.md says a release gets
    assert set(uses[0]["with"]) <= set(action["inputs"])
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # base needs the history
    check = next(s for s in action["runs"]["steps"] if s.get("id") == "check")
    assert "${{" not in check["run"]  # inputs reach the script through env only (no script injection)


def test_the_action_runs_as_the_example_uses_it_on_a_pull_request(action_pr_run: ActionRun,
                                                                 release: Release) -> None:
    """The whole action, once: installed from its own checkout at the tag, the PR's new unlabelled GPU job
    fails it with exit 1, the SARIF for code scanning, the job summary and the PR comment are written."""
    run = action_pr_run.run
    install = run.step("Install policy-engine from the action's checkout")
    assert install.ran and install.returncode == 0, install.stdout + install.stderr
    assert install.stdout.strip().endswith(f"policy-engine {__version__}")  # the venv's own binary
    assert (action_pr_run.venv / "bin" / "policy-engine").is_file()
    # building the package says nothing alarming: no setuptools warning (a folder left out of the packages,
    # a deprecated setting), which every user's install would print
    assert not re.search(r"\w*Warning: ", install.stdout + install.stderr), install.stderr

    check = run.step("policy-engine check")
    assert check.returncode == 0  # the step itself never fails: the last step does, after the uploads
    assert "FAILED: 1 new deny finding" in check.stdout, check.stdout + check.stderr
    assert check.outputs["exit-code"] == "1" and run.outputs["exit-code"] == "1"

    sarif_path = action_pr_run.workspace / run.outputs["sarif"]
    sarif = json.loads(sarif_path.read_text())
    assert sarif["runs"][0]["tool"]["driver"]["version"] == __version__
    [result] = sarif["runs"][0]["results"]
    assert result["ruleId"] == "team-label"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "k8s/untagged.yaml"
    upload = run.step("Upload SARIF to code scanning")  # another action: not run here, given the file
    assert upload.external == "github/codeql-action/upload-sarif@v3"
    assert upload.with_["sarif_file"] == run.outputs["sarif"] and sarif_path.is_file()

    markdown = (action_pr_run.workspace / run.outputs["markdown"]).read_text()
    assert run.summary == markdown and "missing required label team" in markdown
    assert "❌" in markdown.splitlines()[1]
    comment = run.step("Comment on the pull request")
    assert comment.ran and comment.returncode == 0, comment.stderr
    assert action_pr_run.gh_calls == [f"gh pr comment 7 --body-file {run.outputs['markdown']} --edit-last"]

    fail = run.step("Fail on the verdict")
    assert fail.returncode == 1 and run.failed  # the job fails on the blocking finding
    assert "policy-engine check exited 1" in fail.stdout
    assert run.step("Set up Python").external == "actions/setup-python@v5"  # python3 on PATH stands in


def test_the_runner_expressions_match_githubs_rules() -> None:
    """The runner stand-in's expression reading, on the conditions action.yml uses."""
    ctx = {"inputs": {"python-version": "", "fail": "true"}, "steps": {"check": {"outputs": {"exit-code": "0"}}},
           "github": {"event_name": "push"}}
    assert evaluate("inputs.python-version != ''", ctx) is False
    assert evaluate("inputs.fail == 'true' && steps.check.outputs.exit-code != '0'", ctx) is False
    assert evaluate("always() && github.event_name == 'pull_request'", ctx) is False
    assert evaluate("failure() || !(inputs.fail == 'TRUE')", ctx, failed=True) is True
    assert interpolate("origin/${{ github.event_name }}", ctx) == "origin/push"
    assert key_values("exit-code=1\nbody<<EOF\na=b\nc\nEOF\nsarif=x.sarif\n") == {
        "exit-code": "1", "body": "a=b\nc", "sarif": "x.sarif"}


def _run_check_step(cwd: Path, tmp_path: Path, **inputs: str) -> tuple[subprocess.CompletedProcess[str],
                                                                         dict[str, str], str]:
    """action/check.sh as the runner runs the action's check step: inputs in PE_*, GITHUB_* files."""
    output, summary = tmp_path / "github_output", tmp_path / "step_summary"
    output.write_text("")
    summary.write_text("")
    env = env_with_engine(GITHUB_ACTION_PATH=str(ROOT), GITHUB_OUTPUT=str(output),
                          GITHUB_STEP_SUMMARY=str(summary), XDG_CACHE_HOME=str(tmp_path / "cache"),
                          **{f"PE_{k.upper()}": v for k, v in inputs.items()})
    run = subprocess.run(["bash", str(ROOT / "action" / "check.sh")], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=120)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return run, outputs, summary.read_text()


def test_check_step_passes_a_clean_tree_and_fails_a_new_finding_against_base(repo: Path, tmp_path: Path) -> None:
    run, outputs, summary = _run_check_step(repo, tmp_path, paths="k8s/", policies="policies/",
                                            formats="sarif markdown json", base="main")
    assert run.returncode == 0, run.stderr  # the step never fails itself: the action's last step does
    assert outputs["exit-code"] == "0", run.stdout + run.stderr
    assert "PASSED: no new deny findings" in run.stdout  # the text report is the log
    assert summary.startswith("<!-- policy-engine-check -->") and "✅" in summary

    git(repo, "checkout", "-qb", "feature")
    shutil.copy(FIXTURES / "changes" / "untagged.yaml", repo / "k8s" / "untagged.yaml")
    run, outputs, summary = _run_check_step(repo, tmp_path, paths="k8s/", policies="policies/",
                                            formats="sarif markdown", base="main")
    assert outputs["exit-code"] == "1", run.stdout + run.stderr
    assert "FAILED: 1 new deny finding" in run.stdout
    sarif = json.loads((repo / outputs["sarif"]).read_text())
    [result] = sarif["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "k8s/untagged.yaml"
    assert "missing required label team" in summary
    assert "::error title=policy-engine::blocking findings" in run.stdout


def test_check_step_writes_the_reports_when_the_policies_do_not_compile(repo: Path, tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "changes" / "broken.policy", repo / "policies" / "broken.policy")
    run, outputs, summary = _run_check_step(repo, tmp_path, paths="k8s/", policies="policies/")
    assert outputs["exit-code"] == "2"
    assert "error[E105]: unknown severity 'hgih'" in run.stderr  # the log says why
    sarif = json.loads((repo / outputs["sarif"]).read_text())  # upload-sarif with if: always() finds it
    [invocation] = sarif["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    assert any(n["descriptor"]["id"] == "E105" for n in invocation["toolExecutionNotifications"])
    assert "Nothing was checked" in summary and "E105" in summary


def test_check_step_refuses_an_unknown_format(repo: Path, tmp_path: Path) -> None:
    run, outputs, _ = _run_check_step(repo, tmp_path, formats="sarif pdf")
    assert outputs["exit-code"] == "2"
    assert "unknown format 'pdf'" in run.stdout
