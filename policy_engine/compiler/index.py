"""Pass 4, index: which kinds each policy can match, so the engine meets only the policies that apply."""

from __future__ import annotations

from collections.abc import Sequence

from policy_engine.compiler.checked import WORKLOADS, expand_kinds
from policy_engine.compiler.program import CompiledPolicy, PolicySet
from policy_engine.diagnostics import Diagnostic
from policy_engine.syntax import ast


def policy_kinds(policy: ast.Policy, known_kinds: frozenset[str]) -> frozenset[str] | None:
    """The kinds a policy's ``match`` blocks name; None when it matches every kind.

    Several ``match`` blocks are alternatives, so the union of their kinds; a block without ``kinds``
    matches any kind. ``kinds workloads`` means every kind the workload model knows, which includes
    the unregistered kinds it reads through a conventional pod template, so it does not narrow at all.
    """
    matches = [b for b in policy.blocks if not b.exclude]
    if not matches:
        return None
    kinds: set[str] = set()
    for block in matches:
        selectors = [s for s in block.selectors if isinstance(s, ast.KindsSelector)]
        if not selectors:
            return None
        for selector in selectors:
            if any(kind.name == WORKLOADS for kind in selector.kinds):
                return None
            kinds.update(expand_kinds(kind.name for kind in selector.kinds))
    return frozenset(kinds)


def build_index(policies: Sequence[CompiledPolicy], known_kinds: frozenset[str],
                diagnostics: Sequence[Diagnostic], sources: dict[str, str]) -> PolicySet:
    return PolicySet.build(tuple(policies), known_kinds, tuple(diagnostics), sources)
