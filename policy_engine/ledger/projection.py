"""What the manifests project for this period, beside what the ledger says was used (``usage --manifests``).

The manifests go through the one document → priced-workload path and the engine's quota and budget
contributions (``engine/aggregate.py``), so a group's projection here is the figure ``check`` flags for the
same group. Rows of ``usage --by`` are keyed by the pods' labels (the one definition: what every pod carries),
the namespace or the kind; other dimensions (model, node, …) are facts of running pods only, and say so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from policy_engine.compiler.program import Period
from policy_engine.engine import Engine, Options
from policy_engine.engine.aggregate import period_hours
from policy_engine.model.dimensions import UNTAGGED
from policy_engine.model.documents import Document, LoadError
from policy_engine.model.workload import Workload

#: Dimensions of ``usage --by`` a manifest decides; the others are known only once pods run.
MANIFEST_DIMENSIONS = ("namespace", "kind")
_NO_MANIFEST_VALUE = ("model", "workload", "instance_type", "capacity_type", "node")


@dataclass(slots=True)
class Projection:
    """The manifests' projected figure for the period: per (rule, group key) in the rule's metric, and per
    ``--by`` row key in spend. ``unpriced``: workloads whose cost is not known (not in spend figures)."""

    groups: dict[tuple[str, str], float] = field(default_factory=dict)
    rows: dict[tuple[str, ...], float] = field(default_factory=dict)
    workloads: int = 0
    unpriced: int = 0
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def project(engine: Engine, items: Iterable[Document | LoadError], period: Period, by: Sequence[str] = ()
            ) -> Projection:
    options = Options(workloads=True, evaluations=False, summaries=False, sort=False)
    partials = engine.settle([engine.evaluate_partial(items, options)], options)
    out = Projection()
    groups: dict[tuple[str, str], float] = defaultdict(float)
    for p in partials:
        out.errors += [str(e.diagnostic if isinstance(e, LoadError) else e) for e in p.result.errors]
        for c in p.contributions:
            if c.amount is not None:
                groups[(f"{c.policy}#{c.rule_index}", c.key)] += c.amount
    out.groups = dict(groups)
    hours = period_hours(period, float(engine.catalog.hours_per_month))
    share = hours / float(engine.catalog.hours_per_month)
    skipped = [d for d in by if d in _NO_MANIFEST_VALUE]
    if skipped:
        out.notes.append(f"manifests: no projection by {', '.join(skipped)} (known only for running pods)")
    rows: dict[tuple[str, ...], float] = defaultdict(float)
    for p in partials:
        for w in p.result.workloads:
            if not isinstance(w, Workload) or w.gpus <= 0:
                continue
            out.workloads += 1
            monthly = w.cost.monthly if w.cost is not None and w.cost.priced else None
            if monthly is None:
                out.unpriced += 1
                continue
            if by and not skipped:
                rows[_row_key(w, by)] += monthly * share
    out.rows = dict(rows)
    return out


def _row_key(w: Workload, by: Sequence[str]) -> tuple[str, ...]:
    def value(dim: str) -> str:
        if dim == "namespace":
            return w.namespace or UNTAGGED
        if dim == "kind":
            return w.kind
        return w.labels.get(dim) or UNTAGGED

    return tuple(value(d) for d in by)
