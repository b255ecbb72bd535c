"""The pricing engineer's saving estimates, bound to a catalog once per compile.

Violations carry ``saving`` (monthly, if fixed). The estimates live in ``policy_engine.pricing.savings``;
if that module or the catalog cannot be loaded the savings are simply unknown (None), never guessed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from policy_engine.model.workload import Workload


def _none(*_args: Any) -> float | None:
    return None


@dataclass(frozen=True, slots=True)
class SavingFns:
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


def bind_savings(catalog: object | None) -> SavingFns:
    try:  # imported by name: the pricing package is written in parallel and may not be there yet
        savings = importlib.import_module("policy_engine.pricing.savings")
        catalogs = importlib.import_module("policy_engine.pricing.catalog")
    except ImportError:
        return SavingFns()
    try:
        cat = catalog if catalog is not None else catalogs.default_catalog()
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
