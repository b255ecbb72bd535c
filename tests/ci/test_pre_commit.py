""".pre-commit-hooks.yaml, run by pre-commit itself: ``pre-commit try-repo`` clones this repository into a
throw-away git repository of manifests, builds the hook's virtualenv (``language: python``: pip installs
this repository, dependencies from the package registry) and runs the hook on the staged files.

The slowest CI test module (20-40 s here, most of it pip building the hook's venv with the user's pip
configuration and cache); the venv is built once and shared by the module's runs (PRE_COMMIT_HOME).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from policy_engine import __version__
from tests.ci.conftest import FIXTURES, ROOT, git

HOOKS = ROOT / ".pre-commit-hooks.yaml"
EXAMPLE = ROOT / "examples" / "ci" / "pre-commit-config.yaml"


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def _try_repo(repo: Path, home: Path, *files: str) -> subprocess.CompletedProcess[str]:
    if not (ROOT / ".git").exists():
        pytest.skip("pre-commit try-repo needs this repository to be a git checkout")
    # the user's own environment otherwise: pip's configuration (indexes, wheel folders) and cache apply
    env = {**os.environ, "PRE_COMMIT_HOME": str(home),
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "policy-engine-check",
                           "--verbose", "--files", *files], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=600)


def test_the_hook_manifest_is_valid_for_pre_commit_and_picks_manifests() -> None:
    from pre_commit.clientlib import load_config, load_manifest

    [hook] = load_manifest(str(HOOKS))
    assert hook["id"] == "policy-engine-check" and hook["language"] == "python"
    assert hook["entry"].split()[:2] == ["policy-engine", "check"]
    assert hook["require_serial"] is True  # quotas and budgets see every staged file in one run
    pattern = re.compile(hook["files"])
    assert all(pattern.search(p) for p in ("k8s/a.yaml", "b.yml", "c.json"))
    assert not any(pattern.search(p) for p in ("README.md", "a.yaml.bak", "x.policy"))
    assert load_config(str(EXAMPLE))["repos"][0]["hooks"][0]["id"] == hook["id"]


def test_the_example_config_uses_the_hook_at_the_current_release() -> None:
    hooks = {h["id"]: h for h in yaml.safe_load(HOOKS.read_text())}
    [repo] = yaml.safe_load(EXAMPLE.read_text())["repos"]
    assert repo["rev"] == f"v{__version__}"  # the tag CHANGELOG.md says a release gets
    [hook] = repo["hooks"]
    assert hook["id"] in hooks and hooks[hook["id"]]["language"] == "python"


def test_try_repo_fails_a_bad_manifest_and_passes_a_good_one(repo: Path, pre_commit_home: Path) -> None:
    shutil.copy(FIXTURES / "changes" / "untagged.yaml", repo / "k8s" / "untagged.yaml")
    git(repo, "add", "-A")
    bad = _try_repo(repo, pre_commit_home, "k8s/untagged.yaml")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "policy-engine check" in bad.stdout and "Failed" in bad.stdout
    assert re.search(r"k8s/untagged.yaml:\d+  required-cost-labels", bad.stdout)  # the bundled library: no args
    assert re.search(r"^FAILED: \d+ deny findings?$", bad.stdout, re.M)

    good = _try_repo(repo, pre_commit_home, "k8s/train.yaml")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Passed" in good.stdout and "PASSED: no deny findings" in good.stdout
