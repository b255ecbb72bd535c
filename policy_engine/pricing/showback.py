"""Showback: priced workloads summed per group (team, GPU model, namespace, cost centre, kind).

A group key is a showback dimension (``team``, ``cost-center``, ``environment``: the catalog's one
definition, model/dimensions.py), another label name read from ``Workload.labels`` (what every pod
carries), or one of the built-in dimensions ``model`` (GPU model), ``namespace`` and ``kind``. Workloads
that cannot be priced are kept apart with their reason: a total that silently dropped them would look
cheaper than the cluster is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from policy_engine.model.dimensions import UNTAGGED
from policy_engine.model.workload import Role, Workload
from policy_engine.pricing.catalog import Catalog
from policy_engine.pricing.cost import gpu_model_of

NO_VALUE = UNTAGGED  # the one name of untagged spend (model/dimensions.py)
CPU_ONLY = "(cpu)"
UNKNOWN_MODEL = "(unknown)"


@dataclass(slots=True)
class GroupTotal:
    key: tuple[str, ...]
    workloads: int = 0
    gpus: float = 0.0
    gpu_hours: float = 0.0
    monthly: float = 0.0
    on_demand_monthly: float = 0.0
    unpriced: int = 0


@dataclass(frozen=True, slots=True)
class UnpricedWorkload:
    ref: str
    file: str
    line: int
    key: tuple[str, ...]
    reason: str


@dataclass(slots=True)
class Showback:
    dimensions: tuple[str, ...]
    groups: list[GroupTotal] = field(default_factory=list)
    unpriced: list[UnpricedWorkload] = field(default_factory=list)
    total: GroupTotal = field(default_factory=lambda: GroupTotal(("total",)))
    currency: str = "USD"


def group_value(w: Workload, dimension: str, catalog: Catalog) -> str:
    """The value of one grouping dimension for a workload."""
    if dimension == "model":
        models = {gpu_model_of(r, catalog) or UNKNOWN_MODEL for r in w.roles if _holds_gpus(r, catalog)}
        return "+".join(sorted(models)) if models else CPU_ONLY
    if dimension == "namespace":
        return w.namespace or NO_VALUE
    if dimension == "kind":
        return w.kind
    defined = catalog.assumptions.dimensions().get(dimension)
    if defined is not None:  # team, cost-center, environment: their configured keys, in order
        return defined.display(w.labels)
    return w.labels.get(dimension) or NO_VALUE


def _holds_gpus(role: Role, catalog: Catalog) -> bool:
    """GPUs requested, or a whole GPU instance held by a role without a pod template (KAITO preset)."""
    if role.gpus_per_pod > 0:
        return True
    inst = catalog.instance_types.get(role.instance_type) if role.instance_type and not role.containers else None
    return inst is not None and inst.gpus > 0


def showback(workloads: Iterable[Workload], dimensions: Sequence[str], catalog: Catalog) -> Showback:
    """Sum spend and GPU-hours of priced workloads per group; list unpriced ones apart."""
    dims = tuple(dimensions)
    out = Showback(dims, currency=catalog.currency)
    groups: dict[tuple[str, ...], GroupTotal] = {}
    for w in workloads:
        key = tuple(group_value(w, d, catalog) for d in dims)
        group = groups.get(key)
        if group is None:
            group = groups[key] = GroupTotal(key)
        for target in (group, out.total):
            _add(target, w)
        cost = w.cost
        if cost is None or not cost.priced:
            reason = cost.unpriced_reason if cost is not None and cost.unpriced_reason else "not priced"
            out.unpriced.append(UnpricedWorkload(w.ref(), w.file, w.line, key, reason))
    out.groups = sorted(groups.values(), key=lambda g: (-g.monthly, g.key))
    return out


def _add(target: GroupTotal, w: Workload) -> None:
    target.workloads += 1
    target.gpus += w.gpus
    cost = w.cost
    if cost is None or not cost.priced or cost.monthly is None:
        target.unpriced += 1
        return
    target.gpu_hours += cost.gpu_hours if cost.gpu_hours is not None else (w.gpu_hours_per_month or 0.0)
    target.monthly += cost.monthly
    target.on_demand_monthly += cost.on_demand_monthly or 0.0
