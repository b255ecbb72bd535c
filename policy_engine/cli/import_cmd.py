"""``policy-engine import vap FILE``: translate a ValidatingAdmissionPolicy into the policy language."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from policy_engine.authoring.fmt import format_text
from policy_engine.authoring.vap import import_vap
from policy_engine.cli.exits import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK
from policy_engine.compiler import compile_text
from policy_engine.diagnostics import render_all
from policy_engine.model.documents import Document, load_paths

HELP = "translate a ValidatingAdmissionPolicy (and its binding and params) into a policy"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="source", metavar="SOURCE", required=True)
    vap = sub.add_parser("vap", help="a ValidatingAdmissionPolicy YAML file (bindings and params may be in it)",
                         description="Translate every ValidatingAdmissionPolicy of FILE, with the bindings and "
                         "the parameter object they name. What cannot be translated is printed to stderr and "
                         "written as comments; the exit code is 1 then, 0 when everything was translated.")
    vap.add_argument("file", metavar="FILE", help="YAML or JSON, several documents allowed; - for stdin")
    vap.add_argument("--output", "-o", metavar="FILE", help="write the policy here instead of stdout")


def run(args: argparse.Namespace) -> int:
    documents = []
    for item in load_paths([args.file]):
        if not isinstance(item, Document):
            print(item.render() if hasattr(item, "render") else str(item), file=sys.stderr)
            return EXIT_ERROR
        documents.append(item.obj)
    imported = import_vap(documents)
    if not imported:
        print(f"{args.file}: no ValidatingAdmissionPolicy found", file=sys.stderr)
        return EXIT_ERROR
    text = "\n".join(i.text for i in imported)
    compiled = compile_text(text, "imported.policy")
    if compiled.policy_set is None:  # a translation bug: say so rather than write a policy that does not compile
        print(render_all(compiled.diagnostics, {"imported.policy": text}), file=sys.stderr)
        print("policy-engine import: the translation does not compile (a bug; please report it)", file=sys.stderr)
        return EXIT_ERROR
    formatted = format_text(text, "imported.policy")
    if args.output:
        Path(args.output).write_text(formatted, encoding="utf-8")
    else:
        sys.stdout.write(formatted)
    notes = [(i.name, n) for i in imported for n in i.notes]
    for name, note in notes:
        print(f"{args.file}: {name}: not translated: {note}", file=sys.stderr)
    return EXIT_FINDINGS if notes else EXIT_OK
