"""examples/ci/gitlab-ci.yml: valid for GitLab (its CI schema, vendored by check-jsonschema), and its
lines, run as written in a merge-request-like checkout, install policy-engine from a release of this
repository at the tag the job pins and write the Code Quality and JUnit reports its artifacts declare."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml

from policy_engine import __version__
from tests.ci.helpers import FIXTURES, ROOT, ActionRun, Release, check_jsonschema, clean_env, git, offline_pip

GITLAB = ROOT / "examples" / "ci" / "gitlab-ci.yml"


def _job() -> dict[str, Any]:
    job: dict[str, Any] = yaml.safe_load(GITLAB.read_text())["policy-engine"]
    return job


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


def test_the_job_installs_the_release_and_writes_the_reports_in_a_merge_request(
        tmp_path: Path, repo: Path, release: Release, action_pr_run: ActionRun, wheelhouse: Path) -> None:
    """Every line of before_script and script as the runner runs them (``sh -c``, the CI variables and the
    job's variables set), the install line included: ``POLICY_ENGINE_REPO`` points at the release clone
    (the one substitution a user makes), ``POLICY_ENGINE_REF`` is the tag as written. ``python`` is the
    virtualenv the GitHub Action's run made, with policy-engine uninstalled first: the job's image Python
    with the dependencies already there (pip installs offline from the wheelhouse), so pip's work here is
    cloning the release at the tag, building it and installing it."""
    venv_python = str(action_pr_run.venv / "bin" / "python")
    subprocess.run([venv_python, "-m", "pip", "uninstall", "--quiet", "--yes", "policy-engine"], check=True,
                   capture_output=True, timeout=120)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "checkout", "-qb", "feature")
    shutil.copy(FIXTURES / "changes" / "untagged.yaml", clone / "k8s" / "untagged.yaml")
    job = _job()
    variables = {k: str(v) for k, v in job["variables"].items()}
    assert variables["POLICY_ENGINE_REF"] == release.tag  # as written
    variables["POLICY_ENGINE_REPO"] = release.url  # ← substitute
    env = clean_env(CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main", CI_PIPELINE_SOURCE="merge_request_event",
                    XDG_CACHE_HOME=str(tmp_path / "cache"), **offline_pip(wheelhouse), **variables)
    env["PATH"] = f"{action_pr_run.venv / 'bin'}{os.pathsep}{env['PATH']}"
    status = [subprocess.run(["sh", "-c", line], cwd=clone, env=env, capture_output=True, text=True,
                             timeout=600) for line in [*job["before_script"], *job["script"]]]
    *setup, gate = status
    assert all(s.returncode == 0 for s in setup), [(s.args, s.stdout, s.stderr) for s in setup]
    install, version = setup[0], setup[1]
    assert "pip install" in install.args[2] and version.stdout.strip() == f"policy-engine {__version__}"
    installed = json.loads(next((action_pr_run.venv / "lib").glob(
        f"python3*/site-packages/policy_engine-{__version__}.dist-info/direct_url.json")).read_text())
    assert installed["url"] == release.url  # pip cloned the release, checked out the tag's commit
    assert installed["vcs_info"] == {"vcs": "git", "requested_revision": release.tag, "commit_id": release.commit}

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


def test_an_unknown_ref_fails_the_install(tmp_path: Path, release: Release, action_pr_run: ActionRun,
                                          wheelhouse: Path) -> None:
    install = next(line for line in _job()["before_script"] if "pip install" in line)
    env = clean_env(POLICY_ENGINE_REPO=release.url, POLICY_ENGINE_REF="v0.0.0-nope", **offline_pip(wheelhouse))
    env["PATH"] = f"{action_pr_run.venv / 'bin'}{os.pathsep}{env['PATH']}"
    run = subprocess.run(["sh", "-c", install], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "v0.0.0-nope" in run.stderr
