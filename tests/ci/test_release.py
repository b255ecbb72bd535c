"""One version, everywhere a user reads it: the package, ``--version``, CHANGELOG.md, the examples' pins."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from policy_engine import __version__
from tests.ci.conftest import ROOT

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
