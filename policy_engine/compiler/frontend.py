"""The compiler's front end (the passes resolve → typecheck → fold), run or taken from the on-disk cache.

Parsing and checking the bundled library costs ~15x what codegen from its checked form does, and needs
lark. Its output depends only on the policy texts (those given and those they import), the kinds the
workload model knows and this package's code, so a successful front end is cached under a key made of
exactly those (``policy_engine.cache``). A hit imports neither lark nor the checkers; codegen then builds
the closures afresh, so the catalog (bound at codegen) is never part of what is cached.

A hit is trusted only if every imported file still reads as it did: the key covers the texts passed in,
and imports are re-read and compared. Sets with errors are never cached: they are rare, and their
diagnostics must come from a real run.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from policy_engine.compiler.checked import FrontEnd
from policy_engine.compiler.passes import FRONT_END, Compilation, run

if TYPE_CHECKING:
    from policy_engine.cache import Codec, DiskCache

NAMESPACE = "frontend"


def front_end(sources: Mapping[str, str], known_kinds: frozenset[str], cache: DiskCache | None = None,
              timings: list[tuple[str, float]] | None = None) -> FrontEnd:
    """Parse, resolve, typecheck and fold ``sources`` (file → text) and what they import.

    ``timings`` receives each pass's (name, seconds), or ``("front end from the cache", seconds)``.
    """
    started = time.perf_counter()
    key = _key(sources, known_kinds) if cache is not None else ""
    if cache is not None:
        hit = cache.get(NAMESPACE, key, _codec())
        if isinstance(hit, FrontEnd) and _imports_unchanged(hit, sources):
            if timings is not None:
                timings.append(("front end from the cache", time.perf_counter() - started))
            return hit
    front = run_front_end(sources, known_kinds, timings)
    if cache is not None and not front.has_errors:
        cache.put(NAMESPACE, key, _without_types(front), _codec())
    return front


@functools.lru_cache(maxsize=1)
def _codec() -> Codec:
    """The records a cached front end is made of: the syntax tree, spans and diagnostics, checked policies."""
    from policy_engine import cache, diagnostics
    from policy_engine.compiler import checked, program
    from policy_engine.syntax import ast

    return cache.Codec(ast, diagnostics, checked, program)


def _without_types(front: FrontEnd) -> FrontEnd:
    """``types`` is keyed by the identity of tree nodes, which a decoded tree does not keep: not stored."""
    return replace(front, checked=[replace(c, types={}) for c in front.checked])


def run_front_end(sources: Mapping[str, str], known_kinds: frozenset[str],
                  timings: list[tuple[str, float]] | None = None) -> FrontEnd:
    c = run(FRONT_END, Compilation(sources, known_kinds))
    if timings is not None:
        timings.extend(c.timings)
    assert c.resolution is not None
    return FrontEnd(c.resolution.sources, c.resolution.modules, c.checked, c.folded, c.diagnostics)


def _key(sources: Mapping[str, str], known_kinds: frozenset[str]) -> str:
    from policy_engine.cache import code_fingerprint, digest

    parts: list[str] = [code_fingerprint(), *sorted(known_kinds), "\0"]
    for file, text in sources.items():  # in order: instances are compiled in the order files are given
        parts += [file, text]
    return digest(*parts)


def _imports_unchanged(front: FrontEnd, given: Mapping[str, str]) -> bool:
    """Files read through imports (outside the key) must still hold the text they were compiled from."""
    for file, text in front.sources.items():
        if file in given:
            continue
        try:
            if Path(file).read_text(encoding="utf-8") != text:
                return False
        except (OSError, UnicodeDecodeError):
            return False
    return True
