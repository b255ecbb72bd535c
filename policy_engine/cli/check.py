"""``policy-engine check``: the CI pre-merge gate. Arguments in, a reporter out, an exit code.

The evaluation itself (work cut by bytes, worker processes, stdin streamed) is ``engine.batch``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from policy_engine.cache import NO_CACHE_ENV
from policy_engine.cli.exits import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK
from policy_engine.compiler.program import Enforcement
from policy_engine.diagnostics import Diagnostic, Span, render_all
from policy_engine.engine import Engine, Options, Result, load_engine
from policy_engine.engine.batch import PARALLEL_BYTES, EngineSource, evaluate_documents, evaluate_paths
from policy_engine.engine.exemptions import DEFAULT_MAX_DAYS, ExemptionRule
from policy_engine.engine.gitbase import check_base_ref, load_base, started_repo_root
from policy_engine.errors import DiagnosticError, GitError
from policy_engine.model import sources
from policy_engine.model.dimensions import DEFAULT_DIMENSIONS
from policy_engine.reporters import FORMATS, ReportContext, piece_renderer, pieces_suffice, renderer, streamer, write
from policy_engine.reporters.context import is_failure
from policy_engine.reporters.costs import TeamShare, WorkloadCost, compare

HELP = "check manifests against policies (the CI gate)"
_NEEDS_EVALUATIONS = {"junit", "policyreport"}
_NEEDS_COSTS = {"markdown", "json"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="manifest files or directories (.yaml/.yml/.json, recursive), - for stdin; default .")
    p.add_argument("--policies", action="append", default=[], metavar="FILE_OR_DIR",
                   help="policy files or directories (repeatable; default: the bundled library)")
    p.add_argument("--pricing", metavar="FILE", help="pricing catalog (default: the bundled catalog)")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="skip paths matching this glob (matched against the path and each component)")
    p.add_argument("--format", "-f", choices=sorted(FORMATS), default="text", help="format on stdout")
    p.add_argument("--output", "-o", action="append", default=[], metavar="FORMAT=PATH",
                   help="also write FORMAT to PATH (repeatable), e.g. sarif=results.sarif")
    p.add_argument("--unread-gpu-kinds", choices=["warn", "deny"], default="warn",
                   help="what the built-in finding for a kind the model does not read that asks for GPUs does "
                        "(default: warn)")
    p.add_argument("--exemption-max-days", type=int, default=DEFAULT_MAX_DAYS, metavar="DAYS",
                   help=f"honour an object's policy-engine.io/exempt annotation only when its exempt-until date is "
                        f"at most DAYS ahead (default {DEFAULT_MAX_DAYS}, the webhook's exemption_max_days; 0: no "
                        f"cap); set it as the webhook is set, so CI and admission agree")
    p.add_argument("--allow-undated-exemptions", action="store_true",
                   help="with --exemption-max-days 0, let an exemption without an exempt-until date count (the "
                        "webhook's require_exemption_expiry: false)")
    p.add_argument("--fail-on", choices=["deny", "warn"], default="deny",
                   help="fail (exit 1) on deny findings only, or on warn findings too")
    p.add_argument("--base", metavar="GIT_REF",
                   help="PR mode: only findings new since GIT_REF fail the run; report the cost delta")
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help=f"worker processes (default: the CPU count when there is more than "
                        f"{PARALLEL_BYTES // (1 << 20)} MiB of input, in files or on stdin; else 1)")
    p.add_argument("--no-color", action="store_true", help="never colour the text output")
    p.add_argument("--root", metavar="DIR",
                   help="root for repo-relative paths in reports (default: the git top level, else .)")
    p.add_argument("--link-base", metavar="URL",
                   help="markdown links to URL/<path>#L<line> (default on GitHub Actions: the commit's URL)")
    p.add_argument("--max-file-size", type=_size, default=None, metavar="BYTES",
                   help="refuse manifest files (and stdin) larger than this, unread (default 64M; K/M/G suffixes)")
    p.add_argument("--follow-symlinks", action="store_true",
                   help="read linked files whose target is outside the scanned directory (default: reported, "
                        "not read)")
    p.add_argument("--no-cache", action="store_true",
                   help=f"compile policies and validate pricing afresh, neither reading nor writing the start-up "
                        f"cache (same as {NO_CACHE_ENV}=1; see docs/check.md)")


def _size(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    raw = text.strip().lower().removesuffix("b").removesuffix("i")
    factor = units.get(raw[-1:], 1)
    number = raw[:-1] if raw[-1:] in units else raw
    if not number.isdigit() or int(number) * factor < 1:
        raise argparse.ArgumentTypeError(f"not a size in bytes: {text!r} (e.g. 1048576, 512K, 64M)")
    return int(number) * factor


def run(args: argparse.Namespace) -> int:
    cap = sources.MAX_FILE_BYTES
    try:
        return _run(args)
    finally:  # --max-file-size is this run's: a later run in the same process has its own
        sources.configure(max_file_bytes=cap)


def _run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        outputs = [_parse_output(o) for o in args.output]
    except ValueError as exc:
        print(f"policy-engine check: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.exemption_max_days < 0:
        print("policy-engine check: --exemption-max-days must be 0 or more", file=sys.stderr)
        return EXIT_ERROR
    if args.jobs is not None and args.jobs < 1:
        print("policy-engine check: --jobs must be at least 1", file=sys.stderr)
        return EXIT_ERROR
    root = _root(args)  # git asked now, answering while the engine loads
    try:
        engine = load_engine(args.policies or None, args.pricing, use_cache=not args.no_cache)
        engine.unread_gpu = Enforcement(args.unread_gpu_kinds)
    except DiagnosticError as exc:
        print(str(exc), file=sys.stderr)
        return _failed_early(args, outputs, list(exc.diagnostics), "the policies or the pricing file have errors",
                             root=root)
    except OSError as exc:
        print(f"policy-engine check: {exc}", file=sys.stderr)
        failure = Diagnostic(Span(exc.filename or args.pricing or "<policies>", 1, 1), "E401",
                             exc.strerror or str(exc))
        return _failed_early(args, outputs, [failure], "a policy or pricing file cannot be read", root=root)
    if args.base is not None:  # before the head run: a wrong --base must not cost a whole evaluation
        try:
            check_base_ref(args.base)
        except GitError as exc:
            print(f"policy-engine check: --base {args.base}: {exc}", file=sys.stderr)
            return _failed_early(args, outputs, [_base_failure(args.base, exc)], f"--base {args.base} failed", engine,
                                 root)
    if engine.warnings:  # policy and catalog warnings that did not stop loading: shown, never fatal
        print(render_all(engine.warnings, dict(engine.policies.sources)), file=sys.stderr)
    paths = list(args.paths) or ["."]
    formats = {args.format, *(fmt for fmt, _ in outputs)}
    want_evals = bool(formats & _NEEDS_EVALUATIONS)
    want_costs = bool(formats & _NEEDS_COSTS) or args.base is not None

    if args.max_file_size is not None:
        sources.configure(max_file_bytes=args.max_file_size)  # workers are given it (engine.batch)
    # each workload's spend: all of it to compare with the base revision, else only what spend per team reads
    record = partial(WorkloadCost.of if args.base is not None else TeamShare.of,
                     team_dimension=engine.catalog.assumptions.dimensions().team)
    exemptions = ExemptionRule(datetime.now(UTC).date(), args.exemption_max_days,
                               require_expiry=not args.allow_undated_exemptions)
    options = Options(record=record if want_costs else None, evaluations=want_evals, exemptions=exemptions)
    ctx = _context(args, engine, root)
    colour = (args.format == "text" and not args.no_color and "NO_COLOR" not in os.environ
              and sys.stdout.isatty())
    reports = [(fmt, ctx) for fmt, _ in outputs] + [(args.format, _with_colour(ctx, colour))]
    source = EngineSource(tuple(args.policies), args.pricing, use_cache=not args.no_cache)  # for spawned workers
    head = evaluate_paths(engine, paths, exclude=args.exclude, jobs=args.jobs, options=options,
                          follow_symlinks=args.follow_symlinks, source=source,
                          render=piece_renderer(reports) if args.base is None else None,
                          pieces_only=args.base is None and pieces_suffice(reports))
    result = head.result

    cost_diff = None
    if args.base is not None:
        try:
            sha, items = load_base(args.base, paths, args.exclude)
            base = evaluate_documents(engine, items, options=Options(record=WorkloadCost.of, evaluations=False,
                                                                     exemptions=exemptions))
        except GitError as exc:
            print(f"policy-engine check: --base {args.base}: {exc}", file=sys.stderr)
            return _failed_early(args, outputs, [_base_failure(args.base, exc)], f"--base {args.base} failed", engine,
                                 root)
        cost_diff = compare(base.records, head.records, base_ref=args.base, base_sha=sha,
                            base_fingerprints=(f.fingerprint() for f in base.result.findings))
    result.stats.seconds = time.perf_counter() - started

    ctx = replace(ctx, cost_diff=cost_diff, costs=head.records if want_costs else None, generated_at=time.time())
    for fmt, path in outputs:
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("w", encoding="utf-8") as out:
                write(out, streamer(fmt)(result, ctx))
        except OSError as exc:
            print(f"policy-engine check: --output {fmt}={path}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_ERROR
    write(sys.stdout, streamer(args.format)(result, _with_colour(ctx, colour)))
    sys.stdout.flush()
    if args.format != "text":  # stdout is for machines: the CI log still says what happened
        _log_to_stderr(result, ctx)
    if any(is_failure(e) for e in result.errors):
        return EXIT_ERROR
    return EXIT_FINDINGS if ctx.failing_count(result) else EXIT_OK


def _context(args: argparse.Namespace, engine: Engine | None, root: Callable[[], Path]) -> ReportContext:
    return ReportContext(
        root=root(),
        policies=engine.policies if engine is not None else None,
        fail_on=frozenset({Enforcement.DENY, Enforcement.WARN}) if args.fail_on == "warn"
        else frozenset({Enforcement.DENY}),
        link_base=args.link_base or _github_link_base(), generated_at=time.time(),
        team=engine.catalog.assumptions.dimensions().team if engine is not None else DEFAULT_DIMENSIONS.team)


def _base_failure(ref: str, exc: GitError) -> Diagnostic:
    return Diagnostic(Span("--base", 1, 1), "E904", f"--base {ref}: {exc}")


def _failed_early(args: argparse.Namespace, outputs: Sequence[tuple[str, str]], failures: list[Diagnostic],
                  why: str, engine: Engine | None = None, root: Callable[[], Path] | None = None) -> int:
    """The run stopped before evaluating (policies do not compile, a wrong ``--base``…): every
    ``--output`` file is still written, holding the failure (SARIF: a tool execution notification;
    Markdown: an Errors section saying why), so CI steps that upload them with ``if: always()`` work;
    a machine format on stdout gets the same report. The failures were already printed on stderr."""
    result = Result(errors=list(failures))
    if engine is not None:
        result.stats.policies = len(engine.policies.policies)
    ctx = replace(_context(args, engine, root or _root(args)), stopped=why)
    for fmt, path in outputs:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(renderer(fmt)(result, ctx), encoding="utf-8")
        except OSError as exc:
            print(f"policy-engine check: --output {fmt}={path}: {exc.strerror or exc}", file=sys.stderr)
    if args.format != "text":
        sys.stdout.write(renderer(args.format)(result, ctx))
        sys.stdout.flush()
    from policy_engine.reporters.text import verdict_line

    print(f"policy-engine check: {verdict_line(result, ctx)}; nothing was checked", file=sys.stderr)
    return EXIT_ERROR


def _log_to_stderr(result: Result, ctx: ReportContext) -> None:
    """With a machine format on stdout: every load error, the totals and the verdict line on stderr."""
    from policy_engine.reporters.context import error_parts
    from policy_engine.reporters.text import totals_line, verdict_line

    lines = [error_parts(e).headline() for e in result.errors]
    lines += [totals_line(result), verdict_line(result, ctx)]
    print("\n".join(lines), file=sys.stderr)


def _parse_output(spec: str) -> tuple[str, str]:
    fmt, sep, path = spec.partition("=")
    if not sep or not path:
        raise ValueError(f"--output wants FORMAT=PATH, got {spec!r}")
    if fmt not in FORMATS:
        raise ValueError(f"--output: unknown format {fmt!r} (one of {', '.join(sorted(FORMATS))})")
    return fmt, path


def _with_colour(ctx: ReportContext, colour: bool) -> ReportContext:
    return replace(ctx, color=colour)


def _root(args: argparse.Namespace) -> Callable[[], Path]:
    """The root reports are relative to: ``--root``, else the git top level (git started now), else ``.``."""
    if args.root:
        return partial(Path, args.root)
    git = started_repo_root()

    def root() -> Path:
        try:
            return git()
        except GitError:
            return Path.cwd()

    return root


def _github_link_base() -> str | None:
    server, repo = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    sha = os.environ.get("POLICY_ENGINE_HEAD_SHA") or os.environ.get("GITHUB_SHA")
    if server and repo and sha:
        return f"{server}/{repo}/blob/{sha}"
    return None
