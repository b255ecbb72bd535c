"""``policy-engine``: one console script, one module per subcommand.

Each subcommand module exposes ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when their command runs (help lists them from this table), so ``check``
does not pay for the webhook's imports.

Exit codes, shared by every command, are the constants of ``policy_engine.cli.exits``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import NoReturn

from policy_engine.cli.exits import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK

COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("policy_engine.cli.check", "check manifests against policies (the CI gate)"),
    "inspect": ("policy_engine.cli.inspect", "show the workloads the engine sees in manifests"),
    "cost": ("policy_engine.cli.cost", "showback: projected spend and GPU-hours per group"),
    "prices": ("policy_engine.cli.prices", "import prices from the providers' files; compare two catalogs"),
    "report": ("policy_engine.cli.report", "showback report: spend, savings and the costliest workloads as HTML"),
    "serve": ("policy_engine.cli.serve", "run the validating admission webhook"),
    "certs": ("policy_engine.cli.certs", "create a CA and serving certificate for the webhook"),
    "webhook-manifests": ("policy_engine.cli.manifests", "print the Kubernetes manifests that install the webhook"),
    "controller": ("policy_engine.cli.controller", "run the in-cluster controller: background audit, "
                   "PolicyReports, idle GPU shutdown"),
    "controller-manifests": ("policy_engine.cli.controller_manifests",
                             "print the Kubernetes manifests that install the controller"),
    "audit": ("policy_engine.cli.audit", "evaluate what runs in a cluster once and print a report"),
    "resume": ("policy_engine.cli.resume", "undo the controller's idle stop of a workload"),
    "test": ("policy_engine.cli.test", "run policy test files"),
    "fmt": ("policy_engine.cli.fmt", "format policy files canonically"),
    "explain": ("policy_engine.cli.explain", "trace how a policy decided for each workload"),
    "validate": ("policy_engine.cli.validate", "compile policies and report every diagnostic"),
    "import": ("policy_engine.cli.import_cmd", "translate a ValidatingAdmissionPolicy into a policy (import vap FILE)"),
    "usage": ("policy_engine.cli.usage", "GPU-hours and spend per quota/budget group this period, from the ledger"),
}



def version() -> str:
    """The installed distribution's version (package metadata); the source tree's when not installed."""
    import importlib.metadata

    try:
        return importlib.metadata.version("policy-engine")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a bare source tree on sys.path
        from policy_engine import __version__

        return __version__


class _Version(argparse.Action):
    """``--version``, looked up when asked for: reading the package metadata costs every run ~30 ms."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        print(f"policy-engine {version()}")
        parser.exit()


def _columns() -> int:
    """``shutil.get_terminal_size().columns``, without importing shutil (and bz2 and lzma with it)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    stdout = sys.__stdout__
    try:
        return (os.get_terminal_size(stdout.fileno()).columns or 80) if stdout is not None else 80
    except (AttributeError, ValueError, OSError):
        return 80


class _Formatter(argparse.HelpFormatter):
    """argparse's own, but for how it finds the terminal's width: its ``import shutil`` cost every run ~2 ms."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)


def _parser(command: str | None) -> argparse.ArgumentParser:
    """The parser, with ``command``'s arguments. Given a command, its sub-parser is the only one built (all
    of them cost every run ~4 ms): it parses and says the same, since the top level's usage names no
    command (``COMMAND``); the full list is built for help, a wrong command and no command."""
    parser = argparse.ArgumentParser(
        prog="policy-engine",
        description="Policy-as-code governance for AI/ML spend on Kubernetes.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action=_Version, help="print the installed version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        if command is None or name == command:
            p = sub.add_parser(name, help=help_text, description=help_text, formatter_class=_Formatter)
            if name == command:
                importlib.import_module(module_name).add_arguments(p)
    return parser


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No garbage collection while the command's modules are imported, then what they made frozen out of it.

    Nearly all that importing allocates (modules, functions, classes) lives as long as the process, yet the
    collector, run every 700 allocations, scanned it over and over: ~5 ms of every start. Frozen
    (``gc.freeze``), it is never scanned again, by this process or by the workers it forks.
    """
    enabled, modules = gc.isenabled(), len(sys.modules)
    gc.disable()
    try:
        yield
    finally:
        if len(sys.modules) > modules:  # not when called again in one process (tests, the Python API)
            gc.freeze()
        if enabled:
            gc.enable()


#: Commands after which the program leaves without tearing the interpreter down (``_leave``): ones whose
#: output is all written, flushed and closed when they return, and that leave nothing to clean up at exit.
QUICK_EXIT = frozenset({"check"})


def program() -> NoReturn:
    """The ``policy-engine`` program (the console script, ``python -m policy_engine.cli.main``): ``main()``,
    then exit with its code."""
    command, code = _main(None)
    if command in QUICK_EXIT:
        _leave(code)
    sys.exit(code)


def _leave(code: int) -> NoReturn:
    """Exit at once, as mypy does after a large run: tearing the interpreter down frees every object one by one,
    for nothing (~15 ms after a 10,000-document ``check``: its engine, its findings' blocks). What exit would
    still do that matters is done first: log handlers flushed, stdout and stderr flushed. With a worker process
    or another thread still running, the ordinary exit, which waits for them."""
    multiprocessing = sys.modules.get("multiprocessing")
    if (multiprocessing is not None and multiprocessing.active_children()) or threading.active_count() > 1:
        sys.exit(code)
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe or stream: nothing more can be said on it
            stream.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` names (default: the program's arguments); its exit code."""
    return _main(argv)[1]


def _main(argv: Sequence[str] | None) -> tuple[str | None, int]:
    """The command run (None: none) and its exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_list if not a.startswith("-")), None)
    help_first = bool({"-h", "--help"} & set(args_list[:args_list.index(command) if command else None]))
    with _collector_paused():
        parser = _parser(command if command in COMMANDS and not help_first else None)
        args = parser.parse_args(args_list)
        if args.command is None:
            parser.print_help()
            return None, EXIT_ERROR
        module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return args.command, int(module.run(args))
    except KeyboardInterrupt:
        return None, EXIT_INTERRUPTED
    except BrokenPipeError:
        return None, EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    program()
