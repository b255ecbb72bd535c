"""The engine: one evaluation path for the CLI, the webhook and audit.

``load_engine`` compiles policies and loads pricing once; ``Engine.evaluate`` turns documents into a
``Result`` of findings. Everything above this package (CLI, webhook, reporters) only talks to this API.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from policy_engine.bundled import bundled_policies_dir
from policy_engine.engine.aggregate import Contribution, Usage, UsageProvider
from policy_engine.engine.evaluate import ADMISSION, Engine, Options, Partial, summarise
from policy_engine.engine.findings import Finding, PolicySummary, ResourceRef, Result, Stats
from policy_engine.errors import DiagnosticError

__all__ = [
    "ADMISSION", "Contribution", "Engine", "Finding", "Options", "Partial", "PolicySummary", "ResourceRef", "Result",
    "Stats",
    "Usage", "UsageProvider", "load_engine", "summarise",
]


def load_engine(policy_paths: Sequence[str | Path] | None = None, pricing: str | Path | None = None, *,
                use_cache: bool = True) -> Engine:
    """Compile policies (default: the bundled library) against a catalog (default: the bundled one).

    Unchanged policy sets and catalogs come from the start-up cache (``policy_engine.cache``) unless
    ``use_cache`` is false (``--no-cache``) or ``POLICY_ENGINE_NO_CACHE`` is set. Raises ``DiagnosticError``
    carrying every located error of the policy files or the pricing file.
    """
    from contextlib import nullcontext

    from policy_engine.cache import DiskCache, turned_off
    from policy_engine.compiler import compile_policies
    from policy_engine.pricing.catalog import load_catalog

    with nullcontext() if use_cache else turned_off():
        catalog = load_catalog(str(pricing) if pricing is not None else None)
        paths = list(policy_paths) if policy_paths else [bundled_policies_dir()]
        compiled = compile_policies(paths, catalog=catalog, cache=DiskCache.default())
    if compiled.policy_set is None:
        raise DiagnosticError(compiled.diagnostics, compiled.sources)
    return Engine(compiled.policy_set, catalog)
