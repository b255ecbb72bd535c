"""examples/ci/gitlab-ci.yml: valid for GitLab (its CI schema, vendored by check-jsonschema), installs
from the repository at the current release, and its script, run in a merge-request-like checkout,
writes the Code Quality and JUnit reports its artifacts declare."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from policy_engine import __version__
from tests.ci.conftest import FIXTURES, ROOT, check_jsonschema, env_with_engine, git

GITLAB = ROOT / "examples" / "ci" / "gitlab-ci.yml"


def _job() -> dict:
    return yaml.safe_load(GITLAB.read_text())["policy-engine"]


def test_validates_against_gitlabs_ci_schema() -> None:
    run = check_jsonschema("vendor.gitlab-ci", GITLAB)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_job_has_what_gitlab_needs_and_installs_from_the_repository() -> None:
    job = _job()
    assert {"stage", "image", "script", "artifacts"} <= set(job)
    assert job["artifacts"]["when"] == "always"  # reports even when the gate fails
    reports = job["artifacts"]["reports"]
    assert set(reports) == {"codequality", "junit"}
    script = " ".join(job["script"])
    for kind, path in (("codequality", reports["codequality"]), ("junit", reports["junit"])):
        assert f"--output {kind}={path}" in script
    install = next(line for line in job["before_script"] if "pip install" in line)
    assert '"git+${POLICY_ENGINE_REPO}@${POLICY_ENGINE_REF}"' in install
    assert job["variables"]["POLICY_ENGINE_REF"] == f"v{__version__}"
    assert job["variables"]["GIT_DEPTH"] == "0"


def test_the_script_writes_the_reports_in_a_merge_request(tmp_path: Path, repo: Path) -> None:
    """The job's script lines as the runner runs them (sh -c, the CI variables set), in a clone of a
    repository whose merge request adds an unlabelled GPU job; the install line is the one thing not
    run (this venv's policy-engine stands in for it)."""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "checkout", "-qb", "feature")
    shutil.copy(FIXTURES / "changes" / "untagged.yaml", clone / "k8s" / "untagged.yaml")
    env = env_with_engine(CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main", CI_PIPELINE_SOURCE="merge_request_event",
                          XDG_CACHE_HOME=str(tmp_path / "cache"))
    job = _job()
    env.update({k: str(v) for k, v in job["variables"].items()})
    lines = [line for line in job["before_script"] if "pip install" not in line] + job["script"]
    status = [subprocess.run(["sh", "-c", line], cwd=clone, env=env, capture_output=True, text=True,
                             timeout=120) for line in lines]
    *setup, gate = status
    assert all(s.returncode == 0 for s in setup), [(s.args, s.stderr) for s in setup]
    assert gate.returncode == 1, gate.stderr  # a new deny finding fails the job
    assert "FAILED: 1 new deny finding" in gate.stdout  # the text report is the job log
    reports = job["artifacts"]["reports"]
    issues = json.loads((clone / reports["codequality"]).read_text())
    assert [(i["check_name"], i["location"]["path"]) for i in issues] == [("team-label", "k8s/untagged.yaml")]
    junit = ET.parse(clone / reports["junit"]).getroot()
    failures = junit.findall(".//testcase/failure")
    assert len(failures) == 1 and int(junit.get("tests", "0")) >= 2
    for path in job["artifacts"]["paths"]:
        assert (clone / path).is_file(), path
