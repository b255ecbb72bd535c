"""Sources → text: which files a list of paths names, and reading each, with located refusals."""

from __future__ import annotations

import os
from pathlib import Path

from policy_engine.model.load_errors import LoadError
from policy_engine.model.sources import discover, read_source

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "documents"


def test_discover_recurses_takes_manifest_suffixes_skips_hidden_dirs_and_honours_excludes() -> None:
    tree = str(FIXTURES / "tree")
    found = [os.path.relpath(p, tree) for p in discover([tree])]
    assert found == ["a.yaml", os.path.join("sub", "b.yml"), os.path.join("sub", "generated.yaml")]
    excluded = [os.path.relpath(p, tree) for p in discover([tree], exclude=["generated.*"])]
    assert excluded == ["a.yaml", os.path.join("sub", "b.yml")]
    assert list(discover([tree], exclude=["sub"])) == [os.path.join(tree, "a.yaml")]


def test_discover_walks_in_report_order_and_keeps_to_the_tree(tmp_path: Path) -> None:
    """A directory's files in name order, then each subdirectory in turn; hidden directories skipped, hidden
    files and tool configs noted (W602); a link inside the tree to a file read, to a directory not descended
    into (its files are found where they are); a link out of the tree reported (E407) unless followed (files)."""
    root, outside = tmp_path / "k8s", tmp_path / "outside"
    for folder in (root / "a" / "b", root / "a" / ".hidden", root / "dir.yaml", outside):
        folder.mkdir(parents=True)
    for file in ("z.yaml", "a/c.yaml", "a/b/x.yml", "a/.hidden/h.yaml", ".h.yaml", "Chart.yaml", "dir.yaml/d.json",
                 "a/notes.txt"):
        (root / file).write_text("kind: ConfigMap\n")
    (outside / "secret.yaml").write_text("kind: Secret\n")
    (root / "link-in").symlink_to(root / "a")
    (root / "link-out").symlink_to(outside)
    (root / "f-in.yaml").symlink_to(root / "z.yaml")
    (root / "f-out.yaml").symlink_to(outside / "secret.yaml")
    (root / "gone.yaml").symlink_to(root / "nothing.yaml")
    for follow in (False, True):
        problems: list[LoadError] = []
        found = [os.path.relpath(f, root) for f in discover([str(root)], follow_symlinks=follow, problems=problems)]
        assert found == ["f-in.yaml", *(["f-out.yaml"] if follow else []), "gone.yaml", "z.yaml", "a/c.yaml",
                         "a/b/x.yml", "dir.yaml/d.json"]
        assert [(os.path.relpath(p.file, root), p.diagnostic.code) for p in problems] == [
            ("link-out", "E407"), (".h.yaml", "W602"), ("Chart.yaml", "W602"),
            *([] if follow else [("f-out.yaml", "E407")])]


def test_a_file_is_read_whole_whatever_its_size_says_up_to_the_cap(tmp_path: Path) -> None:
    """One read of the size ``fstat`` gave reads a file; one that grew since, or whose size says nothing
    (``/proc``: 0), is read on up to the cap and refused past it. A byte-order mark is not part of the text."""
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbfkind: Pod\n")
    assert read_source(str(tmp_path / "bom.yaml")) == ("kind: Pod\n", None)
    (tmp_path / "bom-latin1.yaml").write_bytes(b"\xef\xbb\xbfkind: Pod\nmetadata: {name: caf\xe9}\n")
    _, error = read_source(str(tmp_path / "bom-latin1.yaml"))  # main named the byte 3 before (0x63)
    assert error is not None and (error.diagnostic.code, error.line, error.message) == (
        "E404", 2, "not UTF-8 text (byte 0xe9)")
    (tmp_path / "exact.yaml").write_text("kind: Pod\n")
    assert read_source(str(tmp_path / "exact.yaml"), max_bytes=10) == ("kind: Pod\n", None)
    _, error = read_source(str(tmp_path / "exact.yaml"), max_bytes=9)
    assert error is not None and error.diagnostic.code == "E406"
    status = "/proc/self/status"
    if os.path.exists(status) and os.stat(status).st_size == 0:
        text, error = read_source(status)
        assert error is None and text is not None and text.startswith("Name:") and len(text) > 100
        _, error = read_source(status, max_bytes=50)
        assert error is not None and error.diagnostic.code == "E406"
