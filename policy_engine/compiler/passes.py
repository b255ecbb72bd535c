"""The compiler as a declared list of named passes, each timed (``policy-engine validate --timings``).

    front end (cached, ``frontend``):  resolve → typecheck → fold
    back end (every compile):           estimates → codegen → index

``resolve`` parses every file and what it imports, binds parameters and finds cycles; ``typecheck`` checks
names, types and settings; ``fold`` folds constants and finds unreachable rules; ``estimates`` binds the
pricing catalog's saving estimates; ``codegen`` builds each policy's closures; ``index`` indexes them by
kind into the ``PolicySet``. A pass reads and writes one ``Compilation``; a pass after an error still
runs when it can add diagnostics (typecheck, fold), and the back end runs only on an error-free front end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import TYPE_CHECKING

from policy_engine.diagnostics import Diagnostic
from policy_engine.records import record

if TYPE_CHECKING:
    from policy_engine.compiler.checked import CheckedPolicy, FrontEnd
    from policy_engine.compiler.estimates import SavingFns
    from policy_engine.compiler.program import CompiledPolicy, PolicySet
    from policy_engine.compiler.resolve import Resolution
    from policy_engine.pricing.catalog import Catalog
    from policy_engine.syntax import ast


@record
class Compilation:
    """What the passes read and write, from the texts to the ``PolicySet``."""

    sources: Mapping[str, str]
    known_kinds: frozenset[str]
    catalog: Catalog | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    resolution: Resolution | None = None
    checked: list[CheckedPolicy] = field(default_factory=list)
    folded: list[ast.Policy] = field(default_factory=list)
    front: FrontEnd | None = None
    savings: SavingFns | None = None
    compiled: list[CompiledPolicy] = field(default_factory=list)
    policy_set: PolicySet | None = None
    timings: list[tuple[str, float]] = field(default_factory=list)  # (pass, seconds), in the order run

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)


Pass = tuple[str, Callable[[Compilation], None]]


def _resolve(c: Compilation) -> None:
    from policy_engine.compiler.resolve import resolve  # lark: only when the front end really runs

    c.resolution = resolve(dict(c.sources))
    c.diagnostics = c.resolution.diagnostics


def _typecheck(c: Compilation) -> None:
    from policy_engine.compiler.typecheck import typecheck_policies

    assert c.resolution is not None
    c.checked = typecheck_policies(c.resolution.instances, c.known_kinds, c.diagnostics)


def _fold(c: Compilation) -> None:
    from policy_engine.compiler.fold import fold_policy

    c.folded = [fold_policy(k.instance.policy, k.instance.params, k.types, c.diagnostics) if k.ok
                else k.instance.policy for k in c.checked]


def _estimates(c: Compilation) -> None:
    from policy_engine.compiler.estimates import SavingFns, bind_savings, needs_savings

    assert c.front is not None
    c.savings = bind_savings(c.catalog) if needs_savings(c.front.folded) else SavingFns()


def _codegen(c: Compilation) -> None:
    from policy_engine.compiler.codegen import generate
    from policy_engine.compiler.index import policy_kinds

    assert c.front is not None and c.savings is not None
    c.compiled = [generate(k, policy, policy_kinds(policy, c.known_kinds), c.known_kinds, c.savings)
                  for k, policy in zip(c.front.checked, c.front.folded, strict=True)]


def _index(c: Compilation) -> None:
    from policy_engine.compiler.index import build_index

    assert c.front is not None
    warnings = sorted((d for d in c.diagnostics if not d.is_error), key=Diagnostic.sort_key)
    c.policy_set = build_index(c.compiled, c.known_kinds, warnings, c.front.sources)


FRONT_END: tuple[Pass, ...] = (("resolve", _resolve), ("typecheck", _typecheck), ("fold", _fold))
BACK_END: tuple[Pass, ...] = (("estimates", _estimates), ("codegen", _codegen), ("index", _index))


def run(passes: tuple[Pass, ...], c: Compilation) -> Compilation:
    """Run ``passes`` in order on ``c``, timing each."""
    for name, run_pass in passes:
        started = time.perf_counter()
        run_pass(c)
        c.timings.append((name, time.perf_counter() - started))
    return c
