"""What every reporter needs besides the ``Result``: where the repo is, the policies, the gate, the PR diff.

Reporters are pure functions ``render(result, ctx) -> str``; everything that depends on the run (the
terminal, the environment, git) is decided by the caller and carried here.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import field
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from policy_engine.compiler.program import CompiledPolicy, Enforcement, PolicySet
from policy_engine.diagnostics import Diagnostic
from policy_engine.engine.findings import Finding, Result
from policy_engine.engine.packed import PackedFindings, SortKey, counts
from policy_engine.model.dimensions import DEFAULT_DIMENSIONS, Dimension
from policy_engine.model.documents import STDIN_NAME, LoadError
from policy_engine.records import frozen_record
from policy_engine.reporters.costs import CostDiff, Spend, WorkloadCost

T = TypeVar("T")
TOOL_NAME = "policy-engine"
INFORMATION_URI = "https://github.com/policy-engine/policy-engine"


def tool_version() -> str:
    from policy_engine import __version__

    return __version__


@frozen_record
class ReportContext:
    """What every reporter needs beside the result: paths, policies, colour, thresholds."""

    root: Path = field(default_factory=Path.cwd)  # URIs in SARIF, links in markdown are relative to it
    cwd: Path = field(default_factory=Path.cwd)  # what relative finding files are relative to
    policies: PolicySet | None = None
    color: bool = False
    tool_version: str = field(default_factory=tool_version)
    fail_on: frozenset[Enforcement] = frozenset({Enforcement.DENY})
    cost_diff: CostDiff | None = None  # with --base: the base revision's spend and fingerprints
    costs: Sequence[Spend] | None = None  # per-workload spend; None: taken from result.workloads
    link_base: str | None = None  # e.g. https://github.com/org/repo/blob/<sha>: markdown links file#Lline
    generated_at: float | None = None  # epoch seconds, for formats that stamp results (PolicyReport)
    stopped: str | None = None  # the run stopped before checking anything: why (the errors hold the details)
    team: Dimension = DEFAULT_DIMENSIONS.team  # the catalog's team dimension (model/dimensions.py)

    def policy(self, name: str) -> CompiledPolicy | None:
        return self.policies.get(name) if self.policies is not None else None

    def fails(self, finding: Finding) -> bool:
        """Whether this finding fails the run: its enforcement is gated and, with --base, it is new."""
        if finding.enforcement not in self.fail_on:
            return False
        return self.is_new(finding)

    def is_new(self, finding: Finding) -> bool:
        return self.cost_diff is None or finding.fingerprint() not in self.cost_diff.base_fingerprints

    def failing_count(self, result: Result) -> int:
        """How many findings fail the run (without keeping them: a large run's findings stay packed)."""
        if self.cost_diff is None:  # by enforcement alone: counted as packed
            by_enforcement = counts(result.findings)
            return sum(by_enforcement[e] for e in self.fail_on)
        return sum(map(self.fails, result.findings))

    def workload_costs(self, result: Result) -> list[Spend]:
        if self.costs is not None:
            return list(self.costs)
        return [WorkloadCost.of(w, self.team) for w in result.workloads]

    def relative(self, file: str) -> str:
        """The file as a POSIX path relative to the root (as given when outside it or for stdin)."""
        return _relative(file, self.cwd, self.root)

    def uri(self, file: str) -> str:
        return _uri(self.relative(file))


def variant(fmt: str, ctx: ReportContext) -> str:
    """What a finding's piece of a report depends on besides the finding: the format, and colour."""
    return f"{fmt}+color" if ctx.color else fmt


def pieces(findings: Sequence[Finding], fmt: str, ctx: ReportContext,
           piece: Callable[[Finding, ReportContext], T]) -> Iterator[tuple[SortKey, str | T]] | None:
    """Each finding's piece of the report in order, as the worker processes rendered them (``piece``: the
    few the parent decided), or None when they did not (then the reporter renders every finding)."""
    if not isinstance(findings, PackedFindings) or ctx.cost_diff is not None:
        return None
    return findings.pieces(variant(fmt, ctx), lambda f: piece(f, ctx))


def runs(findings: Sequence[Finding], fmt: str, ctx: ReportContext,
         piece: Callable[[Finding, ReportContext], T]) -> Iterator[list[str | T]] | None:
    """``pieces`` in runs of consecutive findings (``PackedFindings.runs``), without their keys."""
    if not isinstance(findings, PackedFindings) or ctx.cost_diff is not None:
        return None
    return findings.runs(variant(fmt, ctx), lambda f: piece(f, ctx))


def file_runs(findings: Sequence[Finding], fmt: str, ctx: ReportContext,
              piece: Callable[[Finding, ReportContext], T]) -> Iterator[tuple[str, list[str | T]]] | None:
    """``runs`` cut where the file changes, each with its file (``PackedFindings.file_runs``)."""
    if not isinstance(findings, PackedFindings) or ctx.cost_diff is not None:
        return None
    return findings.file_runs(variant(fmt, ctx), lambda f: piece(f, ctx))


@functools.lru_cache(maxsize=65536)  # every finding of a file asks again (SARIF: ~3 µs each)
def _uri(relative: str) -> str:
    return quote(relative, safe="/")


@functools.lru_cache(maxsize=65536)  # every finding of a file asks again; a big tree has thousands
def _relative(file: str, cwd: Path, root: Path) -> str:
    if file == STDIN_NAME:
        return file
    joined = file if os.path.isabs(file) else os.path.join(cwd, file)
    if os.name == "posix" and not joined.startswith("//"):  # relpath's answer in string operations (~30 µs a
        normal, base = os.path.normpath(joined), _absolute(root)  # file less); Windows folds case, // is odd
        if normal == base:
            return "."
        if normal.startswith(base if base.endswith("/") else base + "/"):
            return normal[len(base):].lstrip("/")
        return _posix(joined)
    path = Path(file)
    absolute = path if path.is_absolute() else cwd / path
    try:
        rel = os.path.relpath(absolute, root)
    except ValueError:  # another drive on Windows
        return path.as_posix()
    if rel.startswith(".."):
        return absolute.as_posix()
    return Path(rel).as_posix()


def _posix(path: str) -> str:
    """``Path(path).as_posix()`` on POSIX for a path not starting with ``//``, in string operations (a tree
    outside the root is reported by absolute paths: a ``Path`` each cost ~3 µs a file, in every worker)."""
    parts = "/".join(part for part in path.split("/") if part and part != ".")
    return "/" + parts if path.startswith("/") else parts or "."


@functools.lru_cache(maxsize=8)
def _absolute(root: Path) -> str:
    return os.path.abspath(root)


def money(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "unpriced"
    if signed:
        sign = "+" if value >= 0.005 else "-" if value <= -0.005 else "±"
        return f"{sign}${abs(value):,.2f}"
    return f"${value:,.2f}"


def saving_money(known: float | None, unknown: int, per: str = "") -> str:
    """A saving in words: ``$8,000.00``, ``unknown`` (nothing known) or ``$8,000.00 + unknown``; never a
    made-up $0 for a saving that cannot be known (a spot rule without a spot price). ``per``: "/month"."""
    if known is None:
        return "unknown"
    return money(known) + per + (" + unknown" if unknown else "")


def error_parts(error: LoadError | Diagnostic) -> Diagnostic:
    return error.diagnostic if isinstance(error, LoadError) else error


def is_failure(error: LoadError | Diagnostic) -> bool:
    """Errors count, warnings (an empty file, a skipped non-manifest) do not."""
    return error_parts(error).is_error

