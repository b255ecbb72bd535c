"""PR mode (``check --base REF``): the same paths at a base revision, read from git without a checkout.

``git ls-tree -r`` lists the blobs under the checked paths at the base commit and one
``git cat-file --batch`` process streams their contents, so the working tree is never touched and no
temporary checkout is made. Each document is named exactly as the head run names it (the path as the
user gave it, joined with the path inside it), so finding fingerprints and workload identities match
between the two sides.
"""

from __future__ import annotations

import functools
import os
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import IO

from policy_engine.diagnostics import Diagnostic, Span
from policy_engine.errors import GitError
from policy_engine.model.documents import Document, LoadError, load_text
from policy_engine.model.sources import MANIFEST_SUFFIXES, STDIN, excluded
from policy_engine.records import frozen_record


@frozen_record
class BaseFile:
    """A manifest file at the base revision: its name in reports, its path in git, its blob."""

    display: str  # the name the head run gives this file
    git_path: str  # path relative to the repository root
    blob: str


def _git(args: Sequence[str], cwd: Path) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise GitError("git is not installed (needed for --base)") from exc
    return _answer(proc.returncode, proc.stdout, proc.stderr, args)


def _answer(code: int, out: bytes, err: bytes, args: Sequence[str]) -> str:
    if code != 0:
        raise GitError(err.decode(errors="replace").strip() or f"git {' '.join(args)} failed")
    return out.decode("utf-8", errors="surrogateescape")


def repo_root(cwd: Path | None = None) -> Path:
    return started_repo_root(cwd)()


def started_repo_root(cwd: Path | None = None) -> Callable[[], Path]:
    """``repo_root`` with git started now and its answer read when called (or its ``GitError`` raised): git
    runs beside what the caller does meanwhile (``check`` loads its engine)."""
    args = ["rev-parse", "--show-toplevel"]
    try:
        proc = subprocess.Popen(["git", *args], cwd=cwd or Path.cwd(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    except FileNotFoundError as exc:
        missing = GitError("git is not installed (needed for --base)")
        missing.__cause__ = exc

        def failed() -> Path:
            raise missing

        return failed

    @functools.cache
    def answer() -> Path:
        out, err = proc.communicate()
        return Path(_answer(proc.returncode, out, err, args).strip())

    return answer


def check_base_ref(ref: str, cwd: Path | None = None) -> str:
    """The commit ``--base`` names, or a ``GitError`` that says which of git, the repository or the
    revision is missing."""
    cwd = cwd or Path.cwd()
    try:
        repo_root(cwd)
    except GitError as exc:
        if "not installed" in str(exc):
            raise
        raise GitError(f"{cwd} is not inside a git repository; --base compares with a revision of the "
                       f"repository being checked, so run check from a clone (with the base fetched)") from exc
    return resolve(ref, cwd)


def resolve(ref: str, cwd: Path | None = None) -> str:
    """The commit sha a revision names (``HEAD~1``, a branch, ``origin/main``, a sha)."""
    if ref.startswith("-"):
        raise GitError(f"not a revision: {ref!r}")
    try:
        return _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd or Path.cwd()).strip()
    except GitError as exc:
        raise GitError(f"unknown revision {ref!r} (fetch it first, e.g. `git fetch origin {ref}`)") from exc


def list_files(sha: str, paths: Sequence[str], exclude: Sequence[str] = (),
               cwd: Path | None = None) -> list[BaseFile]:
    """The manifest blobs under ``paths`` at ``sha``, chosen by the rules ``sources.discover`` uses."""
    cwd = cwd or Path.cwd()
    root = repo_root(cwd)
    prefixes: list[tuple[str, str]] = []  # (user path, path relative to the repo root)
    for raw in paths:
        if raw == STDIN:
            continue
        rel = os.path.relpath(os.path.abspath(os.path.join(cwd, raw)), root)
        if rel.startswith(".."):
            raise GitError(f"{raw} is outside the git repository at {root}")
        prefixes.append((raw, PurePosixPath(Path(rel).as_posix()).as_posix()))
    if not prefixes:
        return []
    listing = _git(["ls-tree", "-r", "-z", "--full-tree", sha], root)
    out: list[BaseFile] = []
    seen: set[str] = set()
    for entry in listing.split("\0"):
        if not entry:
            continue
        meta, _, git_path = entry.partition("\t")
        _mode, kind, blob = meta.split(" ")
        if kind != "blob":
            continue
        for raw, prefix in prefixes:
            display = _display(raw, prefix, git_path, exclude)
            if display is not None and display not in seen:
                seen.add(display)
                out.append(BaseFile(display, git_path, blob))
    out.sort(key=lambda f: f.display)
    return out


def _display(raw: str, prefix: str, git_path: str, exclude: Sequence[str]) -> str | None:
    if git_path == prefix:  # a file named explicitly: read whatever its suffix
        return raw if not excluded(raw, exclude) else None
    if prefix not in (".", "") and not git_path.startswith(prefix + "/"):
        return None
    inner = git_path if prefix in (".", "") else git_path[len(prefix) + 1:]
    parts = inner.split("/")
    if any(p.startswith(".") for p in parts[:-1]) or not parts[-1].endswith(MANIFEST_SUFFIXES):
        return None
    display = os.path.join(raw, *parts)
    if excluded(raw, exclude) or excluded(display, exclude):
        return None
    return display


def read_blobs(files: Sequence[BaseFile], cwd: Path | None = None) -> Iterator[tuple[BaseFile, bytes]]:
    """Contents of the blobs through one ``git cat-file --batch`` (the request feed runs on a thread)."""
    if not files:
        return
    proc = subprocess.Popen(["git", "cat-file", "--batch"], cwd=cwd or Path.cwd(),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None
    feeder = threading.Thread(target=_feed, args=(proc.stdin, [f.blob for f in files]), daemon=True)
    feeder.start()
    try:
        for f in files:
            header = proc.stdout.readline().split()
            if len(header) != 3:
                raise GitError(f"git cat-file: cannot read {f.git_path} ({b' '.join(header).decode()})")
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)  # the newline after each object
            yield f, data
    finally:
        feeder.join()
        proc.stdout.close()
        proc.wait()


def _feed(stdin: IO[bytes], blobs: list[str]) -> None:
    try:
        for blob in blobs:
            stdin.write(blob.encode() + b"\n")
    finally:
        stdin.close()


def load_base(ref: str, paths: Sequence[str], exclude: Sequence[str] = (),
              cwd: Path | None = None) -> tuple[str, Iterator[Document | LoadError]]:
    """The commit ``ref`` names and the documents under ``paths`` there, named as the head run names them."""
    sha = resolve(ref, cwd)
    files = list_files(sha, paths, exclude, cwd)
    return sha, _documents(files, cwd)


def _documents(files: Sequence[BaseFile], cwd: Path | None) -> Iterator[Document | LoadError]:
    for f, data in read_blobs(files, cwd):
        if b"\x00" in data[:8192]:
            yield LoadError(Diagnostic(Span(f.display, 1), "E403", "binary file at the base revision"))
            continue
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            yield LoadError(Diagnostic(Span(f.display, 1), "E404",
                                       "not UTF-8 text at the base revision"))
            continue
        yield from load_text(text, f.display)
