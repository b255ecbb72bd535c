"""Sources → text: which manifest files a list of paths names, and reading each (a file or stdin).

Discovery walks directories in a stable order, takes only .yaml/.yml/.json files there, skips hidden files
and tools' configs with a note, and refuses symbolic links out of the scanned tree; reading takes only
regular files, up to ``MAX_FILE_BYTES``, as UTF-8 text. Each refusal is a located ``LoadError``;
``model/documents.py`` turns the text into documents.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
import sys
from collections.abc import Iterator, Sequence

from policy_engine.model.load_errors import LoadError, error, note, printable

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
#: Files found inside a directory that are YAML or JSON but not Kubernetes manifests: a Helm chart's own
#: files, kustomize, CI and tool configs. They are skipped with a note (W602), as hidden files are.
NOT_MANIFESTS = re.compile(
    r"^(Chart|values([._-].*)?|kustomization|Kustomization|skaffold|(docker-)?compose([._-].*)?|mkdocs|codecov|"
    r"action|azure-pipelines|bitbucket-pipelines|cloudbuild|buildspec|Taskfile|catalog-info|environment|"
    r"pnpm-lock|pubspec|renovate|package(-lock)?|tsconfig([._-].*)?|devcontainer|"
    r"dependabot|goreleaser|golangci|helmfile|Chart\.lock)\.(ya?ml|json)$")
STDIN = "-"
STDIN_NAME = "<stdin>"
#: Files larger than this are refused unread (``check --max-file-size``); stdin too.
MAX_FILE_BYTES = 64 * 1024 * 1024


def discover(paths: Sequence[str], exclude: Sequence[str] = (), *, follow_symlinks: bool = False,
             problems: list[LoadError] | None = None) -> Iterator[str]:
    """Manifest files under ``paths`` in a stable order; ``-`` stands for stdin.

    A path given explicitly is read whatever its suffix; inside directories only .yaml/.yml/.json files
    are taken. ``exclude`` globs match the path as displayed and each of its components. Inside a
    directory, a symbolic link whose target lies outside it (``k8s/x.yaml -> /dev/zero``, ``->
    ~/.ssh/...``) is not followed unless ``follow_symlinks``: it goes to ``problems`` as a located
    ``E-SYMLINK`` (and is left out when no list is given, as callers that only want paths ask).
    """
    for raw in paths:
        if raw == STDIN:
            yield STDIN
            continue
        if excluded(raw, exclude):
            continue
        if os.path.isdir(raw):
            yield from _walk(raw, exclude, follow_symlinks, problems)
        else:
            yield raw


def _walk(top: str, exclude: Sequence[str], follow_symlinks: bool,
          problems: list[LoadError] | None) -> Iterator[str]:
    """``discover`` inside one directory, in ``os.walk``'s order (a directory's sorted files, then each of its
    sorted subdirectories in turn), from ``os.scandir``'s entries: they say whether they are a directory or a
    link without a system call of their own (``os.walk`` then ``islink`` cost an ``lstat`` a file)."""
    root = os.path.realpath(top)
    folders = [top]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=_name)
        except OSError:  # unreadable: skipped, as os.walk skips it
            continue
        subdirs: list[str] = []
        for entry in entries:
            if not _is_dir(entry):
                continue
            name = entry.name
            if name.startswith(".") or excluded(name, exclude):
                continue
            full = os.path.join(folder, name)
            if _is_link(entry):  # never descended into (as os.walk does not); out of the tree: said so
                if not _inside(full, root):
                    _escaped(full, problems, "directory")
                continue
            subdirs.append(full)
        for entry in entries:
            name = entry.name
            if not name.endswith(MANIFEST_SUFFIXES) or _is_dir(entry):
                continue
            full = entry.path
            if excluded(full, exclude):
                continue
            skipped = _not_a_manifest(name)
            if skipped is not None:
                if problems is not None:
                    problems.append(note(full, "W602", f"skipped: {skipped} (name the file explicitly to read it)"))
                continue
            if not follow_symlinks and _is_link(entry) and not _inside(full, root):
                _escaped(full, problems, "file")
                continue
            yield full
        folders.extend(reversed(subdirs))


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # (a link to a directory is one)
    except OSError:
        return False


def _is_link(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_symlink()
    except OSError:
        return False


def _not_a_manifest(name: str) -> str | None:
    """Why a file found in a directory is not read as a manifest, or None when it is read."""
    if name.startswith("."):
        return "a hidden file"
    if NOT_MANIFESTS.match(name):
        return "not a Kubernetes manifest (a Helm chart, kustomize, CI or tool configuration)"
    return None


def _inside(link: str, root: str) -> bool:
    target = os.path.realpath(link)
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


def _escaped(path: str, problems: list[LoadError] | None, what: str) -> None:
    if problems is None:
        return
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    problems.append(error(path, 1, "E407",
                           f"symbolic link to a {what} outside the scanned directory ({printable(target)}); not "
                           f"followed (--follow-symlinks reads linked files)"))


def excluded(path: str, patterns: Sequence[str]) -> bool:
    """Whether an ``--exclude`` glob matches ``path`` as displayed or one of its components."""
    if not patterns:
        return False
    norm = path.replace(os.sep, "/")
    parts = norm.split("/")
    return any(fnmatch.fnmatch(norm, p) or any(fnmatch.fnmatch(part, p) for part in parts) for p in patterns)


def configure(*, max_file_bytes: int) -> None:
    """Set the per-file size cap for this process (``check --max-file-size``)."""
    global MAX_FILE_BYTES
    MAX_FILE_BYTES = max_file_bytes


def read_source(path: str, max_bytes: int | None = None) -> tuple[str | None, LoadError | None]:
    """The text of a file (or stdin), or a located reason it cannot be read as text.

    Only regular files are read: a FIFO would block forever and ``/dev/zero`` never ends, so anything
    else is refused after ``fstat`` (opened non-blocking, so a FIFO cannot hang the open either). A file
    over ``max_bytes`` is refused unread, and stdin is read to at most that.
    """
    name = STDIN_NAME if path == STDIN else path
    max_bytes = MAX_FILE_BYTES if max_bytes is None else max_bytes
    try:
        if path == STDIN:
            data = sys.stdin.buffer.read(max_bytes + 1)
        else:
            fd = os.open(path, _READ_FLAGS)
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    return None, error(name, 1, "E405", f"not a regular file ({_file_type(st.st_mode)}); "
                                                                  f"only regular files are read")
                if st.st_size > max_bytes:
                    return None, _too_large(name, max_bytes)
                data = _read_all(fd, st.st_size, max_bytes)
            finally:
                os.close(fd)
    except OSError as exc:
        return None, error(name, 1, "E401", f"cannot read file: {exc.strerror or exc}")
    if len(data) > max_bytes:
        return None, _too_large(name, max_bytes)
    return decode(data, name)


#: Opened non-blocking (a FIFO cannot hang the open) and not inherited by child processes.
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def _read_all(fd: int, size: int, max_bytes: int) -> bytes:
    """A regular file's bytes, up to ``max_bytes + 1``, given the ``size`` fstat saw.

    One ``read`` of ``size + 1`` bytes reads a file whole (a buffered file object costs some 15 µs more a file:
    its own fstat, an isatty ioctl, a seek, and a 64 MiB buffer mapped and unmapped for ``read(max_bytes + 1)``);
    only a file that grew since, or one whose size says nothing (``/proc``), is read on in pieces.
    """
    data = os.read(fd, size + 1)
    if len(data) <= size:
        return data
    chunks, total = [data], len(data)
    while total <= max_bytes and (chunk := os.read(fd, min(max_bytes + 1 - total, 1 << 20))):
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def decode(data: bytes, file: str, first_line: int = 1) -> tuple[str | None, LoadError | None]:
    """Bytes of a file (or of a piece of one starting at ``first_line``) as text, or why they are not text."""
    if data.find(b"\x00", 0, 8192) >= 0:
        return None, error(file, first_line, "E403", "binary file (contains NUL bytes), not a YAML or JSON manifest")
    if first_line == 1 and data.startswith(_BOM):  # a byte-order mark is not part of the text
        data = data[len(_BOM):]
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:  # (positions in the text after the mark, where the error is)
        line = data[: exc.start].count(b"\n") + first_line
        return None, error(file, line, "E404", f"not UTF-8 text (byte 0x{data[exc.start]:02x})")


_BOM = b"\xef\xbb\xbf"


def _too_large(name: str, max_bytes: int) -> LoadError:
    return error(name, 1, "E406", f"larger than the limit of {max_bytes:,} bytes; not read "
                                          f"(--max-file-size raises it)")


def _file_type(mode: int) -> str:
    for test, what in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return what
    return "not a file"
