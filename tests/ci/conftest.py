"""The CI integrations a user copies (action.yml, examples/ci/*, .pre-commit-hooks.yaml), tested as a user
would run them: the files validate against the schemas GitHub and GitLab publish (vendored by
check-jsonschema, so no network), and their commands run on a small manifest tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "ci"
BIN = Path(sys.executable).parent


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with one of its vendored schemas (vendor.github-actions, vendor.gitlab-ci, …).

    Every proxy points at a closed local port: the schemas ship with check-jsonschema, and a run that
    tried to download one would fail here rather than pass on a network CI may not have."""
    dead = "http://127.0.0.1:9"
    env = {**os.environ, "http_proxy": dead, "https_proxy": dead, "HTTP_PROXY": dead, "HTTPS_PROXY": dead,
           "no_proxy": "", "NO_PROXY": ""}
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema,
                           *map(str, files)], capture_output=True, text=True, timeout=120, env=env)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci",
                           "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
                          cwd=cwd, check=True, capture_output=True, text=True).stdout


def env_with_engine(**extra: str) -> dict[str, str]:
    """The environment with this venv's ``policy-engine`` first on PATH (as the action's install step
    leaves it)."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository of manifests as a user has one: k8s/ and policies/, committed on main."""
    work = tmp_path / "repo"
    shutil.copytree(FIXTURES / "repo", work)
    git(work, "init", "-q")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "manifests")
    return work
