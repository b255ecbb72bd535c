"""``check --base``: PR mode in a temporary git repository (base read from git, no checkout)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "check"
POLICIES = FIXTURES / "policies"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(repo), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    proc = subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True)
    return proc.stdout


def check(repo: Path, *args: str, cwd: Path | None = None) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run([sys.executable, "-m", "policy_engine.cli.main", "check", *args, "--policies",
                           str(POLICIES), "--format", "json", "--output", f"markdown={repo}/comment.md"],
                          cwd=cwd or repo, capture_output=True, text=True, check=False)
    doc = json.loads(proc.stdout) if proc.stdout else {}
    return proc.returncode, doc, proc.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "tree", repo / "manifests")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    return repo


def _edit(repo: Path, old: str, new: str) -> None:
    path = repo / "manifests" / "apps" / "serve.yaml"
    path.write_text(path.read_text().replace(old, new, 1))


def test_existing_findings_do_not_fail_and_the_cost_delta_is_reported(repo: Path) -> None:
    _edit(repo, "g5.xlarge", "g5.4xlarge")  # a bigger node for the same GPU: costs more, breaks no policy
    git(repo, "commit", "-qam", "bigger node")
    code, doc, err = check(repo, "manifests", "--base", "HEAD~1")
    assert code == 0, err  # the unlabelled PyTorchJob was already there at the base
    label = next(f for f in doc["findings"] if f["policy"] == "team-label")
    assert label["new"] is False and label["fails"] is False
    diff = doc["cost_diff"]
    assert diff["base_sha"] == git(repo, "rev-parse", "HEAD~1").strip()
    chat = [w for w in diff["workloads"] if w["resource"]["name"] == "chat"]
    assert len(chat) == 1 and chat[0]["change"] == "changed"
    assert chat[0]["monthly_after"] > chat[0]["monthly_before"] > 0
    assert [t["team"] for t in diff["teams"]] == ["vision"]
    assert diff["monthly_delta"] == pytest.approx(chat[0]["monthly_delta"], abs=0.01)
    md = (repo / "comment.md").read_text()
    assert "## ✅ policy-engine: no new deny findings" in md
    assert "Cost change vs `HEAD~1`" in md


def test_a_change_that_takes_a_team_over_its_quota_fails_on_that_finding_only(repo: Path) -> None:
    _edit(repo, "replicas: 1", "replicas: 3")
    code, doc, _ = check(repo, "manifests", "--base", "HEAD")
    assert code == 1
    failing = [f for f in doc["findings"] if f["fails"]]
    assert [(f["policy"], f["group"]) for f in failing] == [("team-quota", 'labels["team"]=vision')]
    assert [r["name"] for r in failing[0]["related"]] == ["chat"]


def test_a_new_finding_fails_and_added_workloads_are_listed(repo: Path) -> None:
    new = repo / "manifests" / "new-train.yaml"
    source = (repo / "manifests" / "train.yaml").read_text()
    new.write_text(source.replace("name: pretrain", "name: pretrain-2"))
    (repo / "manifests" / "config.json").unlink()
    code, doc, _ = check(repo, "manifests", "--base", "main")  # uncommitted changes are the head side
    assert code == 1
    failing = [f for f in doc["findings"] if f["fails"]]
    assert [(f["policy"], f["resource"]["name"]) for f in failing] == [("team-label", "pretrain-2")]
    changes = {(w["change"], w["resource"]["name"]) for w in doc["cost_diff"]["workloads"]}
    assert ("added", "pretrain-2") in changes
    assert "1 new blocking finding" in (repo / "comment.md").read_text()


def test_paths_are_matched_from_a_subdirectory(repo: Path) -> None:
    code, doc, err = check(repo, ".", "--base", "HEAD", cwd=repo / "manifests")
    assert code == 0, err
    assert doc["cost_diff"]["workloads"] == []
    assert all(not f["new"] for f in doc["findings"])


def test_an_unknown_revision_is_a_usage_error(repo: Path) -> None:
    code, _, err = check(repo, "manifests", "--base", "no-such-branch")
    assert code == 2
    assert "no-such-branch" in err


def test_the_base_reads_the_same_files_as_the_head(repo: Path) -> None:
    """Hidden directories, other suffixes and --exclude apply at the base too: nothing shows as removed."""
    train = (repo / "manifests" / "train.yaml").read_text()
    (repo / "manifests" / ".hidden").mkdir()
    (repo / "manifests" / ".hidden" / "job.yaml").write_text(train.replace("pretrain", "hidden"))
    (repo / "manifests" / "skip-me.yaml").write_text(train.replace("pretrain", "skipped"))
    (repo / "manifests" / "notes.txt").write_text(train.replace("pretrain", "notes"))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "more files")
    code, doc, err = check(repo, "manifests", "--base", "HEAD", "--exclude", "skip-*")
    assert code == 0, err
    assert doc["cost_diff"]["workloads"] == []
    names = {f["resource"]["name"] for f in doc["findings"]}
    assert names.isdisjoint({"hidden", "skipped", "notes"})


def test_report_paths_are_relative_to_the_git_top_level_else_to_the_working_directory(
        repo: Path, tmp_path: Path) -> None:
    """The root is asked of git while the engine loads: from a subdirectory of a clone, paths start at its
    top level; outside any repository, at the working directory."""
    _, doc, err = check(repo, "..", cwd=repo / "manifests" / "apps")
    files = {f["resource"]["file"] for f in doc["findings"]}
    assert files and all(f.startswith("manifests/") and ".." not in f for f in files), (files, err)
    plain = tmp_path / "plain"
    shutil.copytree(FIXTURES / "tree", plain)
    _, doc, err = check(plain, ".", cwd=plain)
    assert {f["resource"]["file"] for f in doc["findings"]} == {f.removeprefix("manifests/") for f in files}, err
