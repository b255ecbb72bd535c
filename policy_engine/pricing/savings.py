"""What fixing a finding would save per month: the figure each policy summary adds up.

Every function returns ``None`` when the saving cannot be known (the workload is unpriced, nothing cheaper
fits) and never a negative figure: a policy that would make a workload dearer saves nothing.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Sequence

from policy_engine.model.workload import RunKind, Workload
from policy_engine.pricing.catalog import Catalog, InstanceType
from policy_engine.pricing.cost import price


def spot_saving(w: Workload) -> float | None:
    """Current monthly spend minus the same workload on spot (0 when it already runs on spot).

    For a workload on on-demand or unknown capacity this is on-demand minus spot monthly.
    """
    cost = w.cost
    if cost is None or not cost.priced or cost.monthly is None or cost.spot_monthly is None:
        return None
    return max(cost.monthly - cost.spot_monthly, 0.0)


def allowlist_saving(w: Workload, catalog: Catalog, allowed_patterns: Sequence[str]) -> float | None:
    """Current monthly spend minus the same workload on the cheapest allowed instance type that fits.

    Each GPU role moves to the cheapest instance type matching one of ``allowed_patterns`` (fnmatch globs)
    with at least the pod's GPUs, priced like ``price()`` prices (share of the instance, same capacity);
    CPU-only roles stay where they are. ``None`` when the workload is unpriced or no allowed type fits a role.
    """
    cost = w.cost if w.cost is not None else price(w, catalog)
    if not cost.priced or cost.monthly is None:
        return None
    allowed = _allowed(catalog, tuple(allowed_patterns))
    roles = []
    for role in w.roles:
        if role.gpus_per_pod <= 0:
            roles.append(role)
            continue
        fitting = [(n, i) for n, i in allowed if i.gpus + 1e-9 >= role.gpus_per_pod]
        if not fitting:
            return None
        best = min(fitting, key=lambda item: _per_gpu(item[1], role.capacity_type.value == "spot"))[0]
        roles.append(dataclasses.replace(role, instance_type=best, instance_type_candidates=()))
    moved = price(dataclasses.replace(w, roles=roles, cost=None), catalog)
    if not moved.priced or moved.monthly is None:
        return None
    return max(cost.monthly - moved.monthly, 0.0)


def idle_saving(w: Workload, catalog: Catalog) -> float | None:
    """Monthly spend x ``assumptions.idle_fraction`` for a long-running workload without idle shutdown.

    The assumption (an interactive notebook or endpoint sits idle that fraction of the month) and its
    rationale are in the catalog. A workload that already declares idle shutdown, or runs to completion
    (a job is not idle by assumption), saves 0.
    """
    cost = w.cost if w.cost is not None else price(w, catalog)
    if not cost.priced or cost.monthly is None:
        return None
    if w.idle_timeout_seconds is not None or w.run_time.kind is not RunKind.CONTINUOUS:
        return 0.0
    return cost.monthly * catalog.assumptions.idle_fraction


def _allowed(catalog: Catalog, patterns: tuple[str, ...]) -> list[tuple[str, InstanceType]]:
    """GPU instance types matching any pattern, indexed once per catalog and pattern set."""
    key = ("allowlist", patterns)
    cached = catalog.memo(key)
    if cached is None:
        cached = catalog.remember(key, [
            (n, i) for n, i in catalog.instance_types.items()
            if i.gpus > 0 and any(fnmatch.fnmatchcase(n, p) for p in patterns)
        ])
    return list(cached)


def _per_gpu(inst: InstanceType, spot: bool) -> float:
    hourly = inst.spot if spot and inst.spot is not None else inst.on_demand
    return hourly / inst.gpus
