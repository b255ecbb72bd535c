"""``check`` with the start-up cache: the same report cold, warm and without it; edits always seen.

Each run gets a cache directory of its own (``XDG_CACHE_HOME``) so the tests see exactly what they fill.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
TREES = [str(REPO / "examples" / "manifests"), str(REPO / "tests" / "fixtures" / "check" / "tree")]


def check(*args: str, cache: Path, no_cache: bool = False) -> tuple[int, dict[str, Any]]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    cmd = [sys.executable, "-m", "policy_engine.cli.main", "check", *TREES, "--format", "json", *args]
    proc = subprocess.run([*cmd, *(["--no-cache"] if no_cache else [])], cwd=REPO, env=env,
                          capture_output=True, text=True, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    report["stats"].pop("seconds")
    return proc.returncode, report


def entries(cache: Path) -> list[str]:
    return sorted(p.name.split("-")[0] for p in (cache / "policy-engine").glob("*.json"))


def test_the_report_is_the_same_without_the_cache_cold_and_warm(tmp_path: Path) -> None:
    uncached = check(cache=tmp_path, no_cache=True)
    assert entries(tmp_path) == []  # --no-cache neither reads nor writes
    cold = check(cache=tmp_path)
    assert entries(tmp_path) == ["catalog", "frontend"]
    warm = check(cache=tmp_path)
    assert uncached == cold == warm
    assert warm[1]["findings"] and warm[1]["stats"]["policies"] == 19


def test_an_edited_policy_is_seen_by_the_next_run(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(REPO / "policies", policies, ignore=shutil.ignore_patterns("tests"))
    cache = tmp_path / "cache"
    _, before = check("--policies", str(policies), cache=cache)
    _, again = check("--policies", str(policies), cache=cache)
    assert before == again
    labels = policies / "required-cost-labels.policy"
    labels.write_text(labels.read_text().replace("severity high", "severity low"))
    _, after = check("--policies", str(policies), cache=cache)
    assert after == check("--policies", str(policies), cache=cache, no_cache=True)[1]
    severities = {f["severity"] for f in after["findings"] if f["policy"] == "required-cost-labels"}
    assert severities == {"low"} and before != after


def test_a_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    expected = check(cache=tmp_path, no_cache=True)
    check(cache=tmp_path)
    for entry in (tmp_path / "policy-engine").glob("*.json"):
        blob = entry.read_bytes()
        entry.write_bytes(blob[: len(blob) // 2] + bytes(len(blob) - len(blob) // 2))
    assert check(cache=tmp_path) == expected
    assert check(cache=tmp_path) == expected  # and the entries were written back whole


@pytest.mark.parametrize("unwanted", [
    ("lark", "pydantic"),  # the compiler's and the catalog's validators: the cache hit needs neither
    ("fastapi", "uvicorn", "kubernetes", "celpy", "croniter", "networkx", "concurrent"),  # not used here
])
def test_a_warm_check_imports_only_what_it_needs(tmp_path: Path, unwanted: tuple[str, ...]) -> None:
    code = ("import sys\nfrom policy_engine.cli.main import main\n"
            f"main(['check', {TREES[1]!r}, '--format', 'text'])\n"
            "sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)))")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    for _ in range(2):  # the first run fills the cache
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                              check=True)
    modules = {m.split(".")[0] for m in proc.stderr.rsplit("MODULES ", 1)[1].split()}
    assert not modules & set(unwanted)
