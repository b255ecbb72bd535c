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
from pathlib import Path

import pytest

from policy_engine import __version__
from tests.ci.composite import run_action
from tests.ci.helpers import (
    FIXTURES,
    ROOT,
    ActionRun,
    HookEnv,
    Release,
    clean_env,
    example,
    example_pre_commit_config,
    git,
    offline_pip,
)


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
    backend pip needs to build it again from a clone. The build must be quiet: a setuptools warning
    (a folder left out of the packages, a deprecated setting) would be printed by every user's install."""
    out = tmp_path_factory.mktemp("wheelhouse")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--disable-pip-version-check", "--wheel-dir",
                            str(out), str(ROOT), "setuptools>=77"], capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout + build.stderr
    assert not re.search(r"\w*Warning: ", build.stdout + build.stderr), build.stderr
    assert list(out.glob(f"policy_engine-{__version__}-*.whl"))
    return out


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
                                 env=clean_env(**offline_pip(wheelhouse), PRE_COMMIT_HOME=str(tmp / "home")))
    yield HookEnv(tmp / "home", config, build, log)
    if build.poll() is None:
        build.kill()
        build.wait()


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
    env = clean_env(**offline_pip(wheelhouse), XDG_CACHE_HOME=str(tmp / "cache"), GITHUB_BASE_REF="main")
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
