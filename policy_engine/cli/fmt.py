"""``policy-engine fmt``: rewrite policy files in the canonical layout, or check that they are."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from policy_engine.authoring.fmt import format_text
from policy_engine.cli.exits import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK
from policy_engine.diagnostics import render_all
from policy_engine.discovery import find_policy_files, read_text
from policy_engine.errors import FormatError
from policy_engine.wording import count

HELP = "format policy files canonically"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="policy files or directories (*.policy, recursive), - for stdin; default .")
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 when a file is not formatted (and name it)")
    p.add_argument("--diff", action="store_true", help="change nothing; print a unified diff of the changes")


def _stdin(args: argparse.Namespace) -> int:
    text = sys.stdin.read()
    try:
        formatted = format_text(text, "<stdin>")
    except FormatError as exc:
        print(render_all(exc.diagnostics, {"<stdin>": text}) or str(exc), file=sys.stderr)
        return EXIT_ERROR
    if args.check or args.diff:
        if args.diff:
            sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), formatted.splitlines(True),
                                                       "<stdin>", "<stdin> (formatted)"))
        return EXIT_FINDINGS if args.check and formatted != text else EXIT_OK
    sys.stdout.write(formatted)
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    if args.paths == ["-"]:
        return _stdin(args)
    files, errors = find_policy_files(args.paths or ["."])
    failed = bool(errors)
    for e in errors:
        print(e.render(), file=sys.stderr)
    changed: list[str] = []
    broken = 0
    for file in files:
        text, err = read_text(file)
        if err is not None or text is None:
            print(err.render() if err else f"{file}: cannot read", file=sys.stderr)
            failed = True
            broken += 1
            continue
        try:
            formatted = format_text(text, file)
        except FormatError as exc:
            print(render_all(exc.diagnostics, {file: text}) if exc.diagnostics else str(exc), file=sys.stderr)
            print(f"{file}: not formatted (fix the errors above first)", file=sys.stderr)
            failed = True
            broken += 1
            continue
        if formatted == text:
            continue
        changed.append(file)
        if args.diff:
            sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), formatted.splitlines(True),
                                                       file, f"{file} (formatted)"))
        if args.check:
            print(f"would reformat {file}")
        elif not args.diff:
            Path(file).write_text(formatted, encoding="utf-8")
            print(f"reformatted {file}")
    verb = "would be reformatted" if args.check or args.diff else "reformatted"
    unparsable = f", {broken} not formatted (errors above)" if broken else ""
    print(f"{count(len(changed), 'file')} {verb}, {len(files) - len(changed) - broken} unchanged{unparsable}")
    if failed:
        return EXIT_ERROR
    return EXIT_FINDINGS if args.check and changed else EXIT_OK
