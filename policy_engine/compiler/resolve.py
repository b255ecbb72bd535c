"""Pass 1, resolve: files are parsed, imports followed, parameters evaluated and policies instantiated.

An ``import "base.policy" [as team] with { p = v }`` instantiates every policy of ``base.policy`` with its
parameters overridden (names prefixed ``team/`` when an alias is given). Imports resolve relative to the
importing file. A file imported by another file of the same compile is a library: its policies are
compiled through its importers only, so they are not compiled twice. Import cycles are reported with the
whole cycle named (found with networkx).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from policy_engine.compiler import types as t
from policy_engine.compiler.attributes import ATTRIBUTES
from policy_engine.compiler.checked import Constant, Instance
from policy_engine.compiler.codegen_expr import compile_expr, uses_workload
from policy_engine.compiler.fold import fold
from policy_engine.compiler.typecheck_expr import ExprChecker, error, suggest
from policy_engine.diagnostics import Diagnostic, Span
from policy_engine.syntax import ast
from policy_engine.syntax.parser import parse
from policy_engine.syntax.unparse import unparse

#: At most this many import cycles are named (a dense graph has exponentially many).
MAX_CYCLES = 10


@dataclass(slots=True)
class Resolution:
    instances: list[Instance] = field(default_factory=list)
    modules: dict[str, ast.Module] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)


class _Resolver:
    def __init__(self) -> None:
        self.out = Resolution()
        self.imports: dict[tuple[str, str], Span] = {}  # (importer, imported) -> the import's span
        self.targets: dict[tuple[str, int], str] = {}  # (file, import index) -> imported file
        self.cyclic: set[tuple[str, str]] = set()

    # ---- loading ----
    def load(self, file: str, text: str) -> None:
        if file in self.out.sources:
            return
        self.out.sources[file] = text
        result = parse(text, file)
        self.out.diagnostics.extend(result.diagnostics)
        if result.module is None:
            return
        self.out.modules[file] = result.module
        for index, imp in enumerate(result.module.imports):
            base = Path(file).parent if not file.startswith("<") else Path.cwd()
            target = os.path.normpath(base / imp.path.value)
            if not imp.path.value.endswith(".policy"):
                self.out.diagnostics.append(error(imp.path.span, "E401", f"cannot import {imp.path.value!r}: "
                                                  "only .policy files can be imported"))
                continue
            try:
                imported = Path(target).read_text(encoding="utf-8")
            except OSError as exc:
                self.out.diagnostics.append(error(
                    imp.path.span, "E401", f"cannot read imported file {imp.path.value!r}: "
                    f"{exc.strerror or exc}", f"imports are relative to this file's folder ({target})"))
                continue
            self.targets[(file, index)] = target
            self.imports.setdefault((file, target), imp.span)
            self.load(target, imported)

    def find_cycles(self) -> None:
        if not self.imports:
            return
        import networkx as nx  # only a file that imports another pays for it

        graph = nx.DiGraph(list(self.imports))
        for cycle in itertools.islice(nx.simple_cycles(graph), MAX_CYCLES):
            start = min(range(len(cycle)), key=lambda i: cycle[i])
            ordered = cycle[start:] + cycle[:start]
            names = " -> ".join([*ordered, ordered[0]])
            span = self.imports[(ordered[0], ordered[1 % len(ordered)])]
            self.out.diagnostics.append(error(span, "E402", f"import cycle: {names}",
                                              "move what both files need into a third file they both import"))
            for a, b in zip(ordered, ordered[1:] + ordered[:1], strict=True):
                self.cyclic.add((a, b))

    # ---- instantiating ----
    def instantiate(self, file: str, overrides: Mapping[str, Constant], prefix: str, via: Span | None,
                    depth: int = 0) -> None:
        module = self.out.modules.get(file)
        if module is None or depth > 50:
            return
        params = self.parameters(module, overrides)
        for index, imp in enumerate(module.imports):
            target = self.targets.get((file, index))
            if target is None or (file, target) in self.cyclic:
                continue
            values = self.override_values(imp, params, self.out.modules.get(target))
            alias = f"{prefix}{imp.alias.name}/" if imp.alias else prefix
            self.instantiate(target, values, alias, via or imp.span, depth + 1)
        for policy in module.policies:
            self.out.instances.append(Instance(policy, module, prefix + policy.name.value, params, via))

    def parameters(self, module: ast.Module, overrides: Mapping[str, Constant]) -> dict[str, Constant]:
        params: dict[str, Constant] = {}
        for p in module.params:
            name = p.name.name
            if name in params:
                self.out.diagnostics.append(error(p.name.span, "E302", f"parameter {name!r} is defined twice",
                                                  f"the first definition is at {params[name].span}"))
                continue
            if name in ATTRIBUTES:
                self.out.diagnostics.append(error(p.name.span, "E308",
                                                  f"parameter {name!r} hides the attribute of the same name",
                                                  "choose another name, e.g. max_" + name))
                continue
            default = self.constant(p.value, params, "a parameter's value")
            given = overrides.get(name)
            if given is not None and default is not None and t.unify(default.type, given.type) is None:
                self.out.diagnostics.append(error(
                    given.span, "E201", f"parameter {name!r} is {t.describe(default.type)}, "
                    f"but the import sets it to {t.describe(given.type)}"))
                given = None
            chosen = given or default
            if chosen is not None:
                params[name] = chosen
        return params

    def override_values(self, imp: ast.Import, params: Mapping[str, Constant],
                        target: ast.Module | None) -> dict[str, Constant]:
        known = {p.name.name for p in target.params} if target else set()
        values: dict[str, Constant] = {}
        for assign in imp.overrides:
            name = assign.name.name
            if target is not None and name not in known:
                hint = suggest(name, known) or (
                    f"{imp.path.value} declares: {', '.join(sorted(known))}" if known else
                    f"{imp.path.value} declares no parameters")
                self.out.diagnostics.append(error(assign.name.span, "E107",
                                                  f"{imp.path.value} has no parameter {name!r}", hint))
                continue
            value = self.constant(assign.value, params, "a parameter override")
            if value is not None:
                values[name] = value
        return values

    def constant(self, e: ast.Expr, params: Mapping[str, Constant], what: str) -> Constant | None:
        checker = ExprChecker(params, self.out.diagnostics)
        type_ = checker.check(e)
        if type_ == t.ERROR:
            return None
        folded = fold(e, params, checker.types)
        if uses_workload(folded):
            self.out.diagnostics.append(error(e.span, "E204", f"{what} must be a constant",
                                              "use literals, lists and other parameters only"))
            return None
        value: object
        if isinstance(folded, ast.Literal):
            value, raw = folded.value, folded.raw
        else:  # a list of constants
            value, raw = compile_expr(folded)(None), unparse(e)
        return Constant(type_, value, raw, e.span)


def resolve(sources: Mapping[str, str]) -> Resolution:
    """Parse ``sources`` (file → text) and what they import; instantiate their policies."""
    resolver = _Resolver()
    for file, text in sources.items():
        resolver.load(file, text)
    resolver.find_cycles()
    imported = {target for target in resolver.targets.values()}
    for file in sources:
        if file not in imported:
            resolver.instantiate(file, {}, "", None)
    # a root imported only by files in a cycle must still be compiled once
    compiled = {i.module.file for i in resolver.out.instances}
    for file in sources:
        in_cycle_only = all((a, file) in resolver.cyclic for a, b in resolver.imports if b == file)
        if file in imported and in_cycle_only and file not in compiled:
            resolver.instantiate(file, {}, "", None)
    unique = {(d.span, d.code, d.message): d for d in resolver.out.diagnostics}
    resolver.out.diagnostics = list(unique.values())
    return resolver.out
