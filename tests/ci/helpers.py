"""What the CI-integration tests share (paths, git, environments, the release and action-run records);
the fixtures that build them are in conftest.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.ci.composite import Run

ROOT = Path(__file__).resolve().parents[2]


FIXTURES = ROOT / "tests" / "fixtures" / "ci"


BIN = Path(sys.executable).parent


EXAMPLES = ROOT / "examples" / "ci"


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
                           "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false",
                           "-c", "tag.gpgsign=false", *args],
                          cwd=cwd, check=True, capture_output=True, text=True).stdout


def env_with_engine(**extra: str) -> dict[str, str]:
    """The environment with this venv's ``policy-engine`` first on PATH (as the action's install step
    leaves it)."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def clean_env(**extra: str) -> dict[str, str]:
    """The environment a CI job starts with: no virtualenv of ours on PATH; ``python3`` the interpreter
    this venv was made from (what actions/setup-python or the job's image provides)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    base = Path(os.path.realpath(sys.executable)).parent
    paths = [p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p and Path(p) != BIN]
    env["PATH"] = os.pathsep.join([str(base), *paths])
    env.update(extra)
    return env


def offline_pip(wheelhouse: Path) -> dict[str, str]:
    """pip settings for the installs the tests run: everything from the wheelhouse, nothing fetched."""
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse), "PIP_NO_COMPILE": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


@dataclass(frozen=True)
class Release:
    clone: Path  # a throw-away clone of this repository, HEAD tagged by `make release`
    tag: str
    commit: str
    tagging: str  # what `make release` printed

    @property
    def url(self) -> str:
        return self.clone.as_uri()


def example(name: str) -> Any:
    return yaml.safe_load((EXAMPLES / name).read_text())


def example_pre_commit_config(release: Release, path: Path) -> Path:
    """examples/ci/pre-commit-config.yaml as written, but for ``repo:``, pointed at the release."""
    text = (EXAMPLES / "pre-commit-config.yaml").read_text()
    substituted = re.sub(r"^(  - repo: )\S+", rf"\g<1>{release.url}", text, count=1, flags=re.M)
    assert substituted != text
    path.write_text(substituted)
    return path


@dataclass(frozen=True)
class HookEnv:
    home: Path  # PRE_COMMIT_HOME: pre-commit's clone of the release and the hook's virtualenv
    config: Path  # the example configuration (outside any repository: never a staged file)
    build: subprocess.Popen[str]
    log: Path

    def ready(self) -> None:
        assert self.build.wait(timeout=900) == 0, self.log.read_text()


@dataclass(frozen=True)
class ActionRun:
    run: Run
    workspace: Path
    venv: Path  # the virtualenv the action's install step made
    gh_calls: list[str]  # `gh` command lines the comment step ran
