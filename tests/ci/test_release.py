"""One version, everywhere a user reads it (the package, ``--version``, CHANGELOG.md, the examples' pins), and
the release procedure (``make release``, docs/releasing.md) that tags it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from policy_engine import __version__
from tests.ci.helpers import ROOT, Release, git

SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$")


def test_version_is_semver_and_printed_by_version_flag() -> None:
    assert SEMVER.match(__version__)
    run = subprocess.run([sys.executable, "-m", "policy_engine.cli.main", "--version"], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == f"policy-engine {__version__}"


def test_changelog_heads_with_the_current_version() -> None:
    headings = re.findall(r"^## \[([^\]]+)\]", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert headings and headings[0] == __version__


def test_every_example_pins_the_current_release_tag() -> None:
    tag = f"v{__version__}"
    gha = (ROOT / "examples" / "ci" / "github-actions.yml").read_text()
    assert re.findall(r"uses: policy-engine/policy-engine@(\S+)", gha) == [tag]
    assert yaml.safe_load((ROOT / "examples" / "ci" / "pre-commit-config.yaml").read_text())["repos"][0]["rev"] == tag
    assert yaml.safe_load((ROOT / "examples" / "ci" / "gitlab-ci.yml").read_text())[
        "policy-engine"]["variables"]["POLICY_ENGINE_REF"] == tag


def test_license_matches_pyproject() -> None:
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text


def _make_release(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "--no-print-directory", "release"], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def test_make_release_tags_the_release_commit_and_every_example_resolves_at_the_tag(release: Release) -> None:
    """The procedure of docs/releasing.md, run by the ``release`` fixture in a throw-away clone: the tag
    is made on the commit that dates the heading, and what each example pins is in the tagged tree."""
    assert f"tagged {release.tag} at " in release.tagging and f"git push <remote> {release.tag}" in release.tagging
    assert git(release.clone, "rev-parse", "HEAD").strip() == release.commit
    assert git(release.clone, "cat-file", "-t", release.tag).strip() == "tag"  # annotated
    heading = re.search(r"^## \[.*$", git(release.clone, "show", f"{release.tag}:CHANGELOG.md"), re.M)
    assert heading and re.fullmatch(rf"## \[{re.escape(__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}", heading[0])
    for path in ("action.yml", "action/check.sh", ".pre-commit-hooks.yaml", "pyproject.toml"):
        assert git(release.clone, "cat-file", "-e", f"{release.tag}:{path}") == ""
    # every pin in the examples names that tag
    for example in ("github-actions.yml", "gitlab-ci.yml", "pre-commit-config.yaml"):
        text = git(release.clone, "show", f"{release.tag}:examples/ci/{example}")
        assert release.tag in text and "← substitute" in text  # the one line a user changes is marked


def test_make_release_refuses_what_is_not_a_release(release: Release, tmp_path: Path) -> None:
    again = _make_release(release.clone)
    assert again.returncode != 0 and f"{release.tag} exists already" in again.stderr

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-tags", str(release.clone), str(clone))
    changelog = clone / "CHANGELOG.md"
    changelog.write_text(re.sub(r"^(## \[[^\]]+\]) - \S+$", r"\1 - unreleased", changelog.read_text(), count=1,
                                flags=re.M))
    dirty = _make_release(clone)
    assert dirty.returncode != 0 and "uncommitted changes" in dirty.stderr
    git(clone, "commit", "-qam", "not released yet")
    undated = _make_release(clone)
    assert undated.returncode != 0 and "date it: '## [" in undated.stderr
    assert git(clone, "tag", "--list") == ""
