"""The CI integrations in examples/ci and the pre-commit hook are well-formed and agree with the CLI."""

from __future__ import annotations

import re
import shlex
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml

from policy_engine.reporters import FORMATS

REPO = Path(__file__).resolve().parents[2]
CI = REPO / "examples" / "ci"


def _outputs(command: str) -> dict[str, str]:
    """FORMAT=PATH pairs of every --output in a shell command."""
    words = shlex.split(command.replace("\\\n", " "), comments=True)
    return dict(w.split("=", 1) for prev, w in pairwise(words) if prev == "--output")


def test_pre_commit_hook_manifest() -> None:
    hooks: list[dict[str, Any]] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "policy-engine-check")
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert hook["entry"].split()[:2] == ["policy-engine", "check"]
    pattern = re.compile(hook["files"])
    assert all(pattern.search(p) for p in ("k8s/a.yaml", "b.yml", "c.json"))
    assert not any(pattern.search(p) for p in ("README.md", "a.yaml.bak", "x.policy"))
    try:
        from pre_commit.clientlib import load_manifest
    except ImportError:
        return  # pre-commit is not a project dependency; its schema is checked when it is installed
    assert load_manifest(str(REPO / ".pre-commit-hooks.yaml"))[0]["id"] == "policy-engine-check"


def test_github_workflow_uploads_the_sarif_it_writes() -> None:
    wf = yaml.safe_load((CI / "github-actions.yml").read_text())
    steps = wf["jobs"]["check"]["steps"]
    run = next(s for s in steps if s.get("id") == "check")["run"]
    outputs = _outputs(run)
    assert set(outputs) <= set(FORMATS)
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif"))
    assert upload["with"]["sarif_file"] == outputs["sarif"]
    assert "--base" in run
    assert any(outputs["markdown"] in str(s.get("run", "")) for s in steps if s.get("id") != "check")
    assert wf["permissions"]["security-events"] == "write"


def test_gitlab_job_reports_the_junit_it_writes() -> None:
    job = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["policy-engine"]
    outputs = _outputs(" ".join(job["script"]))
    assert set(outputs) <= set(FORMATS)
    assert job["artifacts"]["reports"]["junit"] == outputs["junit"]
    assert job["artifacts"]["when"] == "always"


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml", "pre-commit-config.yaml"])
def test_examples_parse(name: str) -> None:
    assert yaml.safe_load((CI / name).read_text())
