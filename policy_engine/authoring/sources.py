"""Which policy files (and policy test files) a command's PATH arguments name.

A file named explicitly is taken whatever its suffix; inside directories only ``*.policy`` (or
``*.test.yaml`` / ``*.test.yml``) files are taken, recursively, in a stable order. A path that does not
exist is an error value, never skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from policy_engine.diagnostics import Diagnostic, Span

POLICY_SUFFIX = ".policy"
TEST_SUFFIXES = (".test.yaml", ".test.yml")


def _walk(paths: Sequence[str], wanted: tuple[str, ...]) -> tuple[list[str], list[Diagnostic]]:
    files: list[str] = []
    errors: list[Diagnostic] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            files.append(raw)
        elif path.is_dir():
            found = sorted(str(p) for p in path.rglob("*") if p.is_file() and p.name.endswith(wanted))
            files.extend(found)
        else:
            errors.append(Diagnostic(Span(raw, 1, 1), "E401", "no such file or directory"))
    return list(dict.fromkeys(files)), errors


def policy_files(paths: Sequence[str]) -> tuple[list[str], list[Diagnostic]]:
    """``*.policy`` files under ``paths`` and an error for each path that does not exist."""
    return _walk(paths, (POLICY_SUFFIX,))


def test_files(paths: Sequence[str]) -> tuple[list[str], list[Diagnostic]]:
    """``*.test.yaml`` files under ``paths`` and an error for each path that does not exist."""
    return _walk(paths, TEST_SUFFIXES)


def read(file: str) -> tuple[str | None, Diagnostic | None]:
    try:
        return Path(file).read_text(encoding="utf-8"), None
    except UnicodeDecodeError:
        return None, Diagnostic(Span(file, 1, 1), "E401", "not a UTF-8 text file")
    except OSError as exc:
        return None, Diagnostic(Span(file, 1, 1), "E401", f"cannot read: {exc.strerror or exc}")
