"""Policy files → ``PolicySet`` of closures, through the named, timed passes of ``passes``:

resolve (parse, imports, parameters) → typecheck (names, types, settings, rules) → fold (constants,
unreachable rules) → estimates (saving estimates bound to the catalog) → codegen (closures) → index (by
kind). Every diagnostic of every file comes back at once, with each pass's time (``CompileResult.timings``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING

from policy_engine.compiler.checked import CheckedPolicy, FrontEnd
from policy_engine.compiler.frontend import front_end
from policy_engine.compiler.passes import BACK_END, Compilation, run
from policy_engine.compiler.program import PolicySet
from policy_engine.diagnostics import Diagnostic, Span
from policy_engine.discovery import find_policy_files, read_text
from policy_engine.model.kinds import KNOWN_KINDS
from policy_engine.pricing.catalog import Catalog
from policy_engine.records import record
from policy_engine.syntax import ast

if TYPE_CHECKING:
    from policy_engine.cache import DiskCache

__all__ = ["CompileResult", "FrontEnd", "compile_policies", "compile_sources", "compile_text"]


@record
class CompileResult:
    """What compiling a set of policy files gives: the policy set, or every diagnostic."""

    policy_set: PolicySet | None  # None when any error
    diagnostics: list[Diagnostic] = field(default_factory=list)  # errors and warnings, sorted by location
    sources: dict[str, str] = field(default_factory=dict)
    asts: dict[str, ast.Module] = field(default_factory=dict)  # every parsed file, for fmt/explain/validate
    checked: list[CheckedPolicy] = field(default_factory=list)
    timings: list[tuple[str, float]] = field(default_factory=list)  # (compiler pass, seconds), in order

    @property
    def ok(self) -> bool:
        return self.policy_set is not None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


def compile_policies(paths: Sequence[str | Path], *, catalog: Catalog | None = None,
                     known_kinds: frozenset[str] = KNOWN_KINDS, cache: DiskCache | None = None) -> CompileResult:
    """Compile policy files; with ``cache``, an unchanged set skips parsing and checking (see ``frontend``)."""
    files, problems = find_policy_files(paths)
    sources: dict[str, str] = {}
    for f in files:
        text, problem = read_text(f)
        if text is None:
            problems.append(problem or Diagnostic(Span(f, 1, 1), "E401", "cannot read policy file"))
        else:
            sources[f] = text
    result = compile_sources(sources, catalog=catalog, known_kinds=known_kinds, cache=None if problems else cache)
    if not problems and result.policy_set is not None and not result.policy_set.policies:
        problems.append(_no_policy(paths, files))
    if problems:
        result.diagnostics = sorted([*problems, *result.diagnostics], key=Diagnostic.sort_key)
        result.policy_set = None
    return result


def _no_policy(paths: Sequence[str | Path], files: Sequence[str]) -> Diagnostic:
    """A set that would enforce nothing is an error, never a silent pass (``check`` exits 2, ``serve``
    refuses to start, a reload keeps the running set)."""
    where = str(files[0]) if files else str(paths[0]) if paths else "<policies>"
    read = f"{len(files)} policy file(s) read, none defines a policy" if files else "no .policy file found"
    return Diagnostic(Span(where, 1, 1), "E311", "no policy to enforce (an empty set would admit everything): "
                      f"{read} under "
                      f"{', '.join(str(p) for p in paths) or '(nothing)'}",
                      hint="point --policies at .policy files, or leave it out for the bundled library")


def compile_text(text: str, file: str = "<string>", *, catalog: Catalog | None = None,
                 known_kinds: frozenset[str] = KNOWN_KINDS) -> CompileResult:
    return compile_sources({file: text}, catalog=catalog, known_kinds=known_kinds)


def compile_sources(sources: dict[str, str], *, catalog: Catalog | None = None,
                    known_kinds: frozenset[str] = KNOWN_KINDS, cache: DiskCache | None = None) -> CompileResult:
    """Compile texts already read (file → text) with everything they import.

    Every pass walks expressions recursively: the parser refuses an expression nested past its
    ``MAX_NESTING`` (E310 where the level too many opens), which leaves the passes hundreds of frames to
    spare. Should the stack still run out (a caller already deep in its own), the set is refused with an
    E310 at the most deeply nested line, never a traceback.
    """
    try:
        return _compile_sources(sources, catalog=catalog, known_kinds=known_kinds, cache=cache)
    except RecursionError:
        return CompileResult(None, [too_deep(sources)], dict(sources))


def too_deep(sources: dict[str, str]) -> Diagnostic:
    """E310 at the most deeply nested line of ``sources`` (brackets open plus ``not``s and operators on it)."""
    best = (-1, "<string>", 1)
    for file, text in sources.items():
        depth = 0
        for number, line in enumerate(text.splitlines(), 1):
            code = _NESTING_NOISE.sub("", line)
            depth = max(depth + code.count("(") + code.count("[") - code.count(")") - code.count("]"), 0)
            score = depth + len(_NESTING_WORDS.findall(code))
            if score > best[0]:
                best = (score, file, number)
    return Diagnostic(Span(best[1], best[2], 1), "E310",
                      "expression nested too deeply to compile; split it into smaller conditions or parameters")


_NESTING_NOISE = re.compile(r'"(?:[^"\\]|\\.)*"|#.*$')  # strings and comments
_NESTING_WORDS = re.compile(r"\bnot\b|\band\b|\bor\b|[-+*/]")


def _compile_sources(sources: dict[str, str], *, catalog: Catalog | None,
                     known_kinds: frozenset[str], cache: DiskCache | None) -> CompileResult:
    timings: list[tuple[str, float]] = []
    front = front_end(sources, known_kinds, cache, timings)
    c = Compilation(sources, known_kinds, catalog, list(front.diagnostics), front=front, timings=timings)
    if not front.has_errors:
        run(BACK_END, c)
    result = CompileResult(c.policy_set, [], front.sources, front.modules, front.checked, timings=c.timings)
    unique = {(d.span, d.code, d.message): d for d in c.diagnostics}
    result.diagnostics = sorted(unique.values(), key=Diagnostic.sort_key)
    return result
