"""The pricing engineer's saving estimates, bound to a catalog once per compile.

Violations carry ``saving`` (monthly, if fixed). The estimates live in ``policy_engine.pricing.savings``;
if the catalog cannot be loaded, or an estimate fails on one workload, the saving is unknown (None),
never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from policy_engine.model.workload import Workload
from policy_engine.pricing import savings
from policy_engine.pricing.catalog import Catalog, default_catalog
from policy_engine.records import frozen_record
from policy_engine.syntax import ast


def _none(*_args: Any) -> float | None:
    return None


@frozen_record
class SavingFns:
    """The saving estimates codegen binds to rules, each bound to the pricing catalog."""

    spot: Callable[[Workload], float | None] = _none
    allowlist: Callable[[Workload, Sequence[str]], float | None] = _none
    idle: Callable[[Workload], float | None] = _none


def _safe(fn: Callable[..., float | None]) -> Callable[..., float | None]:
    """A saving estimate must never fail a policy: an error in the estimate means 'unknown'."""

    def call(*args: Any) -> float | None:
        try:
            return fn(*args)
        except Exception:
            return None

    return call


def needs_savings(policies: list[ast.Policy]) -> bool:
    """Whether any rule has a saving estimate (allow/deny lists, spot, idle shutdown)."""
    return any(isinstance(r.body, ast.PatternList | ast.RequireSpot | ast.RequireIdle)
               for p in policies for r in p.rules)


def bind_savings(catalog: Catalog | None) -> SavingFns:
    """The estimates under ``catalog`` (None: the bundled catalog)."""
    try:
        cat = catalog if catalog is not None else default_catalog()
    except Exception:
        return SavingFns()
    spot = _safe(savings.spot_saving)
    allow = _safe(savings.allowlist_saving)
    idle = _safe(savings.idle_saving)
    return SavingFns(
        spot=spot,
        allowlist=lambda w, patterns: allow(w, cat, patterns),
        idle=lambda w: idle(w, cat),
    )
