""".pre-commit-hooks.yaml and examples/ci/pre-commit-config.yaml, run by pre-commit itself.

The example configuration is used as written, with ``repo:`` pointed at a release of this repository
(the one substitution a user makes; ``rev:`` stays the tag it pins): pre-commit clones the release at
that tag, builds the hook's virtualenv (``language: python``: pip installs the tagged tree, offline from
the session's wheelhouse; conftest's ``hook_env``, started early) and ``pre-commit run`` runs the hook on
the files given, in a throw-away git repository of manifests. The virtualenv is built once and shared by
the runs (PRE_COMMIT_HOME): ``pre-commit try-repo`` would rebuild it on every call (it keeps its store in
a temporary folder), and it runs the same hook through the same ``pre-commit run``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from policy_engine import __version__
from tests.ci.helpers import FIXTURES, ROOT, HookEnv, Release, clean_env, git

HOOKS = ROOT / ".pre-commit-hooks.yaml"
EXAMPLE = ROOT / "examples" / "ci" / "pre-commit-config.yaml"


def _run_example(repo: Path, hook_env: HookEnv, *files: str) -> subprocess.CompletedProcess[str]:
    hook_env.ready()  # nothing is installed from here on
    env = clean_env(PRE_COMMIT_HOME=str(hook_env.home), XDG_CACHE_HOME=str(repo.parent / "cache"))
    return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--config", str(hook_env.config), "--verbose",
                           "--files", *files], cwd=repo, env=env, capture_output=True, text=True, timeout=900)


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


def test_the_example_fails_a_bad_manifest_and_passes_a_good_one(repo: Path, release: Release,
                                                                 hook_env: HookEnv) -> None:
    shutil.copy(FIXTURES / "changes" / "untagged.yaml", repo / "k8s" / "untagged.yaml")
    git(repo, "add", "-A")
    bad = _run_example(repo, hook_env, "k8s/untagged.yaml")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "policy-engine check" in bad.stdout and "Failed" in bad.stdout
    assert re.search(r"k8s/untagged.yaml:\d+  team-label", bad.stdout)  # the example's args: policies/
    assert re.search(r"^FAILED: 1 deny finding$", bad.stdout, re.M)

    good = _run_example(repo, hook_env, "k8s/train.yaml")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Passed" in good.stdout and "PASSED: no deny findings" in good.stdout
    # the hook ran the release: pre-commit's clone of the repository at the pinned rev
    [clone] = [p for p in hook_env.home.glob("repo*") if (p / ".pre-commit-hooks.yaml").is_file()]
    assert git(clone, "rev-parse", "HEAD").strip() == release.commit
    assert f"policy-engine {__version__}" in subprocess.run(
        [next(clone.glob("py_env-*/bin/policy-engine")), "--version"], capture_output=True, text=True).stdout
