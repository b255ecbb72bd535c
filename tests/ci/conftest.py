"""The CI integrations a user copies (action.yml, examples/ci/*, .pre-commit-hooks.yaml), tested as a user
would run them: the files validate against the schemas GitHub and GitLab publish (vendored by
check-jsonschema, so no network), and each example runs *as written* against a release of this
repository, with the repository's location as the only substitution (docs/releasing.md).

Installing is the slow part (pip unpacking pydantic, kubernetes, cryptography … into a virtualenv), so
it is done as few times as possible per session: ``wheelhouse`` builds every wheel an install needs
once (this repository's wheel, its dependencies, the build backend), and every install the tests run is
then offline from it (``PIP_NO_INDEX``, ``PIP_FIND_LINKS``, no byte-compiling: no index pages to read,
nothing to fetch); ``release`` cuts the release once, in a throw-away clone; ``hook_env`` builds
pre-commit's environment for the example configuration in the background (``pre-commit install-hooks``)
while ``action_pr_run`` runs the GitHub Action once, so the two full installs run side by side; the
Action's virtualenv is then the "image's Python" the GitLab job's install line runs in (only
policy-engine itself is installed there).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from policy_engine import __version__
from tests.ci.composite import Run, run_action

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


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository of manifests as a user has one: k8s/ and policies/, committed on main."""
    work = tmp_path / "repo"
    shutil.copytree(FIXTURES / "repo", work)
    git(work, "init", "-q")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "manifests")
    return work


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every wheel an install of this repository needs, built once with the user's pip configuration
    (the package registry or its cache): this repository's own wheel, its dependencies, and the build
    backend pip needs to build it again from a clone."""
    out = tmp_path_factory.mktemp("wheelhouse")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
                            "--wheel-dir", str(out), str(ROOT), "setuptools>=77"], capture_output=True, text=True,
                           timeout=900)
    assert build.returncode == 0, build.stdout + build.stderr
    assert list(out.glob(f"policy_engine-{__version__}-*.whl"))
    return out


def pip_env(wheelhouse: Path) -> dict[str, str]:
    """pip for the installs the tests run: everything from the wheelhouse, nothing fetched, nothing
    byte-compiled."""
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


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    """The release procedure (docs/releasing.md) run on a throw-away clone of this repository: the
    working tree as it is (uncommitted changes too, as ``pre-commit try-repo`` takes them), without the
    repository's tags, its CHANGELOG heading dated, then ``make release``."""
    if not (ROOT / ".git").exists():
        pytest.skip("the release tests need this repository to be a git checkout")
    clone = tmp_path_factory.mktemp("release") / "policy-engine"
    git(ROOT, "clone", "-q", "--no-tags", str(ROOT), str(clone))
    # the working tree's changes and new files, committed in the clone (nothing is written to this repository)
    work = ["--git-dir", str(clone / ".git"), "--work-tree", str(ROOT)]
    git(ROOT, *work, "add", "-A")
    if git(ROOT, *work, "status", "--porcelain"):
        git(ROOT, *work, "commit", "-qm", "the working tree")
    git(clone, "reset", "-q", "--hard")
    changelog = clone / "CHANGELOG.md"
    text = changelog.read_text()
    dated = re.sub(rf"^## \[{re.escape(__version__)}\] - unreleased$",
                   f"## [{__version__}] - {dt.date.today().isoformat()}", text, count=1, flags=re.M)
    if dated != text:
        changelog.write_text(dated)
        git(clone, "commit", "-qam", f"Release {__version__}")
    made = subprocess.run(["make", "--no-print-directory", "release"], cwd=clone, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": "user.email",
                                           "GIT_CONFIG_VALUE_0": "ci@example.com", "GIT_CONFIG_KEY_1": "user.name",
                                           "GIT_CONFIG_VALUE_1": "ci"})
    assert made.returncode == 0, made.stdout + made.stderr
    tag = f"v{__version__}"
    return Release(clone, tag, git(clone, "rev-parse", f"{tag}^{{commit}}").strip(), made.stdout)


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


@pytest.fixture(scope="session")
def hook_env(tmp_path_factory: pytest.TempPathFactory, release: Release, wheelhouse: Path) -> Iterator[HookEnv]:
    """``pre-commit install-hooks`` for the example configuration, started now and left running: it clones
    the release at the example's ``rev`` and pip-installs the tagged tree into the hook's virtualenv.
    ``pre-commit run`` with the same configuration later finds it built (``HookEnv.ready`` waits)."""
    tmp = tmp_path_factory.mktemp("pre-commit")
    scratch = tmp / "scratch"  # install-hooks must run inside some git repository
    scratch.mkdir()
    git(scratch, "init", "-q")
    config = example_pre_commit_config(release, tmp / "pre-commit-config.yaml")
    log = tmp / "install-hooks.log"
    with log.open("w") as out:
        build = subprocess.Popen([sys.executable, "-m", "pre_commit", "install-hooks", "--config", str(config)],
                                 cwd=scratch, stdout=out, stderr=subprocess.STDOUT, text=True,
                                 env=clean_env(**pip_env(wheelhouse), PRE_COMMIT_HOME=str(tmp / "home")))
    yield HookEnv(tmp / "home", config, build, log)
    if build.poll() is None:
        build.kill()
        build.wait()


@dataclass(frozen=True)
class ActionRun:
    run: Run
    workspace: Path
    venv: Path  # the virtualenv the action's install step made
    gh_calls: list[str]  # `gh` command lines the comment step ran


@pytest.fixture(scope="session")
def action_pr_run(tmp_path_factory: pytest.TempPathFactory, release: Release, wheelhouse: Path,
                  hook_env: HookEnv) -> ActionRun:
    """examples/ci/github-actions.yml's policy-engine step, run once: the action at the tag the example
    pins (the release's tree at the tag, as the runner downloads ``uses: owner/repo@ref``), every
    ``run:`` step for real (the install from ``$GITHUB_ACTION_PATH`` included), with the example's
    ``with:`` as written, on a pull request that adds an unlabelled GPU job to a repository of manifests.

    ``gh`` (GitHub's CLI, which talks to github.com) is the one stand-in: a script recording its arguments,
    so the comment step runs without a network. ``hook_env`` is only asked for so that pre-commit's
    install runs beside this one."""
    tmp = tmp_path_factory.mktemp("action")
    origin = tmp / "origin"
    shutil.copytree(FIXTURES / "repo", origin)
    git(origin, "init", "-q")
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "manifests")
    workspace = tmp / "workspace"  # actions/checkout with fetch-depth 0: the PR branch, origin/main known
    git(tmp, "clone", "-q", str(origin), str(workspace))
    git(workspace, "checkout", "-qb", "feature")
    shutil.copy(FIXTURES / "changes" / "untagged.yaml", workspace / "k8s" / "untagged.yaml")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-qm", "an unlabelled GPU job")

    tools = tmp / "tools"
    tools.mkdir()
    calls = tmp / "gh-calls"
    (tools / "gh").write_text(f'#!/bin/sh\necho "gh $*" >> "{calls}"\n')
    (tools / "gh").chmod(0o755)

    workflow = example("github-actions.yml")
    [step] = [s for s in workflow["jobs"]["check"]["steps"] if s.get("uses", "").endswith(f"@{release.tag}")]
    github = {"event_name": "pull_request", "base_ref": "main", "head_ref": "feature", "token": "test-token",
              "event": {"pull_request": {"number": 7, "head": {"sha": git(workspace, "rev-parse", "HEAD").strip()}}}}
    env = clean_env(**pip_env(wheelhouse), XDG_CACHE_HOME=str(tmp / "cache"), GITHUB_BASE_REF="main")
    env["PATH"] = f"{tools}{os.pathsep}{env['PATH']}"
    # the runner downloads the action's tree at the ref (no .git) to _actions/<owner>/<repo>/<ref>
    action_dir = tmp / "_actions" / step["uses"].replace("@", "/")
    action_dir.mkdir(parents=True)
    tree = subprocess.run(["git", "archive", "--format=tar", release.tag], cwd=release.clone, check=True,
                          capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(action_dir)], input=tree, check=True)
    result = run_action(action_dir, workspace, {k: str(v) for k, v in step["with"].items()}, github, env,
                        runner_temp=tmp / "runner-temp")
    gh = calls.read_text().splitlines() if calls.exists() else []
    return ActionRun(result, workspace, tmp / "runner-temp" / "policy-engine-venv", gh)
