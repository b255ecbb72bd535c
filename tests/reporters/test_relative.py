"""Report paths relative to the root: the string fast path answers what ``os.path.relpath`` answers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from policy_engine.reporters.context import _relative

CWD = Path("/work/repo")


def reference(file: str, cwd: Path, root: Path) -> str:
    path = Path(file)
    absolute = path if path.is_absolute() else cwd / path
    rel = os.path.relpath(absolute, root)
    return absolute.as_posix() if rel.startswith("..") else Path(rel).as_posix()


@pytest.mark.parametrize(("file", "root"), [
    ("/tmp/x/a.yaml", "/tmp"), ("a/../b.yaml", str(CWD)), ("../x.yaml", str(CWD)), ("./a.yaml", str(CWD)),
    ("/work/repo/./a//b.yaml", str(CWD)), ("a.yaml", "/"), ("/tmp/x", "/tmp/x"), ("/tmpx/a", "/tmp"),
    ("a/b/", str(CWD)), ("/elsewhere/./a//b.yaml", str(CWD)), ("x/../../y", str(CWD)), ("//tmp/a", "/tmp"),
    ("/tmp/a", "/tmp/"), ("../repo/a", str(CWD)), ("k8s/train.yaml", str(CWD / "k8s")),
    ("/elsewhere/../a/./b/", str(CWD)), ("///x/a", str(CWD)), ("/a/.b/..c/.", str(CWD)),
])
@pytest.mark.skipif(os.name != "posix", reason="POSIX paths")
def test_relative_paths_are_what_relpath_gives(file: str, root: str) -> None:
    _relative.cache_clear()
    assert _relative(file, CWD, Path(root)) == reference(file, CWD, Path(root))
