"""One policy-file discovery: every command that reads policy files agrees on which files a path names."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_engine.compiler import compile_policies
from policy_engine.discovery import find_policy_files, find_test_files
from policy_engine.webhook.reload import fingerprint

POLICY = 'policy "{name}" {{\n  severity low\n  assert gpus <= 8\n    message "too many"\n}}\n'


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """A ConfigMap-like tree: visible links into a hidden timestamped folder, a linked folder, a loop."""
    root = tmp_path / "policies"
    data = root / "..2026_11_29"
    data.mkdir(parents=True)
    (data / "a.policy").write_text(POLICY.format(name="a"))
    (root / "..data").symlink_to(data.name)
    (root / "a.policy").symlink_to("..data/a.policy")
    (root / "notes.txt").write_text("not a policy")
    (root / ".hidden.policy").write_text(POLICY.format(name="hidden"))
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "b.policy").write_text(POLICY.format(name="b"))
    (shared / "b.test.yaml").write_text("policies: [b.policy]\ncases: []\n")
    (root / "linked").symlink_to(shared)
    (shared / "loop").symlink_to(root)  # back up the tree: walked once
    return root


def test_directories_give_visible_policy_files_links_followed_once(tree: Path) -> None:
    files, problems = find_policy_files([tree])
    assert problems == []
    assert files == [str(tree / "a.policy"), str(tree / "linked" / "b.policy")]


def test_a_file_named_explicitly_is_taken_whatever_its_suffix_and_listed_once(tree: Path) -> None:
    files, _ = find_policy_files([tree / "notes.txt", tree, tree / "a.policy"])
    assert files[0] == str(tree / "notes.txt")
    assert files.count(str(tree / "a.policy")) == 1


def test_a_missing_path_is_E401_not_skipped(tmp_path: Path) -> None:
    files, problems = find_policy_files([tmp_path / "gone"])
    assert files == []
    assert [(p.code, p.span.file) for p in problems] == [("E401", str(tmp_path / "gone"))]


def test_test_files_follow_the_same_rules(tree: Path) -> None:
    assert find_test_files([tree])[0] == [str(tree / "linked" / "b.test.yaml")]


def test_compile_and_the_reload_watcher_see_the_same_files(tree: Path) -> None:
    result = compile_policies([tree])
    assert result.policy_set is not None
    assert sorted(p.name for p in result.policy_set.policies) == ["a", "b"]
    assert [stamp[0] for stamp in fingerprint([tree])] == find_policy_files([tree])[0]


def test_a_configmap_swap_changes_the_fingerprint(tree: Path) -> None:
    before = fingerprint([tree])
    fresh = tree / "..2026_11_30"
    fresh.mkdir()
    (fresh / "a.policy").write_text(POLICY.format(name="a2"))
    (tree / "..data").unlink()
    (tree / "..data").symlink_to(fresh.name)
    assert fingerprint([tree]) != before
