"""Which policy files (and policy test files) a list of paths names: the one discovery every command uses.

``compile_policies`` (so ``check``, ``serve``, ``explain``, ``cost``), ``validate``, ``fmt``, ``test``, the
webhook's reload watcher and ``webhook-manifests`` all call ``find_policy_files``, so they agree on:

- a file named explicitly is taken whatever its suffix;
- a directory is searched recursively for ``*.policy`` (``*.test.yaml``/``*.test.yml`` for tests),
  in a stable (sorted) order, following symbolic links to files and directories, each real directory
  once (a link back up the tree is not a loop);
- hidden entries (a name starting with ``.``) are skipped: a ConfigMap volume holds every file twice, once
  behind the ``..data`` link and once in the timestamped ``..2026_…`` folder it points to;
- a path that does not exist is an ``E401`` diagnostic, never skipped; a file reached twice is listed once.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from policy_engine.diagnostics import Diagnostic, Span

POLICY_SUFFIX = ".policy"
TEST_SUFFIXES = (".test.yaml", ".test.yml")

__all__ = ["POLICY_SUFFIX", "TEST_SUFFIXES", "find_policy_files", "find_test_files", "read_text"]


def find_policy_files(paths: Iterable[str | Path]) -> tuple[list[str], list[Diagnostic]]:
    """``*.policy`` files under ``paths`` (files named explicitly as given), and an E401 per missing path."""
    return _find(paths, (POLICY_SUFFIX,))


def find_test_files(paths: Iterable[str | Path]) -> tuple[list[str], list[Diagnostic]]:
    """``*.test.yaml`` files under ``paths`` (files named explicitly as given), and an E401 per missing path."""
    return _find(paths, TEST_SUFFIXES)


#: A policy or test file larger than this is not read (the bundled library is ~60 KB in all).
MAX_POLICY_BYTES = 8 * 1024 * 1024


def read_text(file: str) -> tuple[str | None, Diagnostic | None]:
    """A policy (or test) file's text, or a located reason it is not read.

    Only a regular file is opened for reading (non-blocking, so a FIFO cannot hang it), at most
    ``MAX_POLICY_BYTES``; a file with NUL bytes is binary (E403) and none of it is ever quoted, so a policy
    linked to ``/proc/self/environ`` cannot print the environment in a diagnostic.
    """
    try:
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        with open(fd, "rb", closefd=True) as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None, Diagnostic(Span(file, 1, 1), "E405", "not a regular file; only regular files are read")
            data = f.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        return None, Diagnostic(Span(file, 1, 1), "E401", f"cannot read: {exc.strerror or exc}")
    if len(data) > MAX_POLICY_BYTES:
        return None, Diagnostic(Span(file, 1, 1), "E406", f"larger than {MAX_POLICY_BYTES:,} bytes; not read")
    if b"\x00" in data:
        return None, Diagnostic(Span(file, 1, 1), "E403", "binary file (contains NUL bytes), not a policy file")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, Diagnostic(Span(file, 1, 1), "E401", "cannot read: not a UTF-8 text file")


def _find(paths: Iterable[str | Path], suffixes: tuple[str, ...]) -> tuple[list[str], list[Diagnostic]]:
    files: list[str] = []
    problems: list[Diagnostic] = []
    for raw in paths:
        path = str(raw)
        if os.path.isdir(path):
            files.extend(_walk(path, suffixes))
        elif os.path.isfile(path):
            files.append(path)
        else:
            problems.append(Diagnostic(Span(path, 1, 1), "E401", "no such file or directory"))
    return list(dict.fromkeys(files)), problems


def _walk(root: str, suffixes: Sequence[str]) -> list[str]:
    found: list[str] = []
    seen: set[str] = set()
    for dirpath, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # reached again through a link: already listed
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(dirpath, name) for name in sorted(names)
                     if not name.startswith(".") and name.endswith(tuple(suffixes))
                     and os.path.isfile(os.path.join(dirpath, name)))
    return sorted(found)
