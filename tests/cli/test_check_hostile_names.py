"""Every output format survives hostile names (issue #13): a file name with a newline and bytes that are not
UTF-8, a resource named to forge a GitHub workflow command, a message with HTML and an @mention."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

MANIFEST = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "x\n::warning file=a::pwned <img src=x onerror=alert(1)> @octo-org/admins",
                         "labels": {"team": "@octo-org/admins <b>", "cost-center": "c", "environment": "dev"}},
            "spec": {"containers": [{"name": "c", "image": "x", "resources": {"limits": {"nvidia.com/gpu": 99}}}]}}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("names")
    name = os.fsencode(root) + b"/bad\n::error::name\xff\xfe.yaml"
    with open(name, "wb") as f:
        f.write(yaml.safe_dump(MANIFEST).encode())
    with open(os.fsencode(root) + b"/broken\x1b[31m\xff.yaml", "wb") as f:
        f.write(b"kind: [unclosed\n")
    return root


def run(tree: Path, fmt: str) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run([sys.executable, "-m", "policy_engine.cli.main", "check", "--format", fmt, "."],
                          cwd=tree, capture_output=True, timeout=120)
    assert b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")
    assert done.returncode in (1, 2), done.stderr.decode(errors="replace")
    done.stdout.decode("utf-8")  # valid UTF-8 whatever the names held
    return done


@pytest.mark.parametrize("fmt", ["json", "sarif", "policyreport"])
def test_machine_formats_parse(tree: Path, fmt: str) -> None:
    out = run(tree, fmt).stdout.decode()
    parsed = yaml.safe_load(out) if fmt == "policyreport" else json.loads(out)
    assert parsed
    if fmt != "sarif":  # SARIF names files by URI, percent-encoded
        assert "\\xff" in out and "\\n" in out  # escaped, visibly


def test_junit_is_valid_xml(tree: Path) -> None:
    root = ET.fromstring(run(tree, "junit").stdout)
    assert root.iter("testcase")


def test_text_output_cannot_forge_workflow_commands(tree: Path) -> None:
    text = run(tree, "text").stdout.decode()
    assert not [line for line in text.splitlines() if line.lstrip().startswith("::")]
    assert "\x1b" not in text  # a colour code in a file name is shown escaped, not obeyed
    assert "\\n::warning" in text


def test_markdown_escapes_html_and_mentions(tree: Path) -> None:
    md = run(tree, "markdown").stdout.decode()
    assert "<img" not in md and "<b>" not in md and "&lt;img" in md
    assert "@octo-org" not in md and "@\u200bocto-org/admins" in md
