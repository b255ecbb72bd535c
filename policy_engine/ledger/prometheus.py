"""Usage history from Prometheus: kube-state-metrics series, summed with PromQL, grouped and priced here.

When the cluster outgrows one process the history is the store the cluster already runs: every webhook
replica and every restart reads the same numbers. Queries go through the one Prometheus client
(``policy_engine.prometheus``: TLS, basic auth or bearer token, timeouts, ``PrometheusError``).

GPUs held per pod come from ``kube_pod_container_resource_requests{resource="nvidia_com_gpu"}`` while
``kube_pod_status_phase{phase="Running"}`` is 1, joined at every step with the pod's ``kube_pod_labels``
and its node's ``kube_node_labels`` (instance type and capacity type: the price that applied, from the
pricing catalog). The namespace's ``kube_namespace_labels`` are then applied with the ONE inheritance rule
(``model/inherit.py``, the rule the cluster-state cache and so the ledger apply): an empty label is a
missing one, a missing one is taken from the namespace, and an authoritative key takes the namespace's
value over the pod's. So a pod counts in the same group here as in the ledger. DCGM's
``DCGM_FI_DEV_GPU_UTIL`` gives the utilisation that splits actual cost into used and idle. docs/usage.md
lists what kube-state-metrics must allow-list.

GPU-hours used = Σ over the subquery's evaluation points (one per ``step``) in the period up to now of
the GPUs held then × step / 3600: exact for pods whose lifetimes fall on step boundaries, otherwise
within one step per pod start and end. Bounds: the kubelet ends a pod at its ``activeDeadlineSeconds``
(phase Failed, reason DeadlineExceeded), and ``kube_pod_status_phase`` follows, so used hours stop there
as the ledger's do; kube-state-metrics exports no pod deadline, so a running pod is projected to the
period's end (the ledger stops the projection at the deadline).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from policy_engine.compiler.program import Period
from policy_engine.engine.aggregate import period_bounds
from policy_engine.ledger.observe import LedgerRule
from policy_engine.ledger.report import PodFigures, UnknownRule
from policy_engine.ledger.store import NO_VALUE, Figures
from policy_engine.model.inherit import inherited
from policy_engine.model.workload import CapacityType, Role
from policy_engine.pricing.catalog import Catalog
from policy_engine.pricing.cost import Unpriced, price_pod
from policy_engine.prometheus import Endpoint, Prometheus, PrometheusError

__all__ = ["PrometheusError", "PrometheusHistory", "mean_utilisation"]

INSTANCE_TYPE = "label_node_kubernetes_io_instance_type"
CAPACITY_TYPE = "label_karpenter_sh_capacity_type"
NODE_DIMENSIONS = {"instance_type": INSTANCE_TYPE, "capacity_type": CAPACITY_TYPE, "node": "node"}
GPU_REQUESTS = 'kube_pod_container_resource_requests{resource="nvidia_com_gpu"}'
UTILISATION = "DCGM_FI_DEV_GPU_UTIL"
POD_SERIES = "namespace, pod, exported_namespace, exported_pod"  # dcgm-exporter's pod labels, as telemetry reads
#: the webhook's and the controller's defaults (``inherit_labels``, ``authoritative_labels``)
DEFAULT_INHERIT = ("team", "cost-center")


def ksm_label(name: str) -> str:
    """kube-state-metrics' name for a Kubernetes label: ``cost-center`` -> ``label_cost_center``."""
    return "label_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def key_label_of(key_label: str) -> str:
    """The Kubernetes label (or ``namespace``) a rule's group key reads; UnknownRule when it reads another."""
    m = re.fullmatch(r'labels\["([^"\\]+)"\]', key_label)
    if m:
        return m.group(1)
    if key_label == "namespace":
        return "namespace"
    raise UnknownRule(f"Prometheus history groups by pod labels (labels[\"...\"]) or namespace, not by {key_label}")


def _dimension(dimension: str) -> str:
    if dimension in ("model", "kind", "workload"):
        raise UnknownRule(f"--by {dimension} needs the ledger (Prometheus history has pod and node labels only)")
    return dimension


def held(pod_labels: Sequence[str]) -> str:
    """GPUs held per running pod, with the pod labels (kube-state-metrics names) and node labels."""
    expr = (f"(sum by (namespace, pod, node) ({GPU_REQUESTS}) * on (namespace, pod) group_left () "
            f"(max by (namespace, pod) (kube_pod_status_phase{{phase=\"Running\"}}) == 1))")
    if pod_labels:
        joined = ", ".join(pod_labels)
        expr = (f"({expr} * on (namespace, pod) group_left ({joined}) "
                f"max by (namespace, pod, {joined}) (kube_pod_labels))")
    node = ", ".join((INSTANCE_TYPE, CAPACITY_TYPE))
    return (f"(({expr} * on (node) group_left ({node}) max by (node, {node}) (kube_node_labels)) "
            f"or on (namespace, pod) {expr})")


@dataclass(slots=True)
class PodUse:
    """One pod (under one set of labels) in the period: its labels after inheritance, use and rate now."""

    namespace: str
    pod: str
    labels: dict[str, str]  # Kubernetes label -> value, after the namespace rule
    metric: dict[str, str]  # the series' own labels (node, instance and capacity type)
    used: float  # GPU-hours in the period so far
    gpus_now: float  # GPUs held now

    def value(self, name: str) -> str | None:
        """A dimension's value: ``namespace``, a node dimension, or a label."""
        if name == "namespace":
            return self.namespace
        if name in NODE_DIMENSIONS:
            return self.metric.get(NODE_DIMENSIONS[name]) or None
        return self.labels.get(name) or None


def mean_utilisation(prometheus: Prometheus, start: datetime, now: datetime, step: float = 300.0
                     ) -> dict[tuple[str, str], float]:
    """Mean GPU utilisation (0..1) per pod over ``[start, now]``, from dcgm-exporter's series; a series
    carrying ``exported_namespace``/``exported_pod`` belongs to that pod (as the controller's telemetry reads)."""
    span = max(int((now - start).total_seconds()), int(step))
    rows = prometheus.query(f"avg by ({POD_SERIES}) (avg_over_time({UTILISATION}[{span}s]))", now.timestamp())
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for m, v in rows:
        if math.isnan(v):
            continue
        ns, pod = m.get("exported_namespace") or m.get("namespace"), m.get("exported_pod") or m.get("pod")
        if ns and pod:
            s = sums[(ns, pod)]
            s[0] += v / 100.0
            s[1] += 1
    return {k: total / n for k, (total, n) in sums.items()}


class PrometheusHistory:
    def __init__(self, prometheus: Prometheus | Endpoint | str, *, catalog: Catalog | Callable[[], Catalog],
                 step: float = 300.0, inherit_labels: Sequence[str] = DEFAULT_INHERIT,
                 authoritative_labels: Collection[str] = DEFAULT_INHERIT) -> None:
        self.prometheus = prometheus if isinstance(prometheus, Prometheus) else Prometheus(prometheus)
        self._catalog = catalog
        self.step = int(step)
        self.inherit_labels = tuple(inherit_labels)
        self.authoritative_labels = frozenset(authoritative_labels)

    @property
    def catalog(self) -> Catalog:
        return self._catalog() if callable(self._catalog) else self._catalog

    def close(self) -> None:
        """Close the client's kept-alive connections."""
        self.prometheus.close()

    def __enter__(self) -> PrometheusHistory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, promql: str, at: datetime) -> list[tuple[dict[str, str], float]]:
        return self.prometheus.query(promql, at.timestamp())

    # -- per pod: GPU-hours used, GPUs held now, labels after the namespace rule -------------------------

    def _pods(self, labels: Iterable[str], period: Period, now: datetime) -> list[PodUse]:
        wanted = sorted({lb for lb in labels if lb != "namespace" and lb not in NODE_DIMENSIONS})
        ksm = {name: ksm_label(name) for name in wanted}
        series = sorted(set(ksm.values()))
        start, _ = period_bounds(period, now)
        by = ", ".join(["namespace", "pod", "node", INSTANCE_TYPE, CAPACITY_TYPE, *series])
        expr = held(series)
        out: dict[tuple[str, ...], PodUse] = {}

        def use(metric: dict[str, str]) -> PodUse:
            key = tuple(metric.get(n, "") for n in ("namespace", "pod", "node", INSTANCE_TYPE, CAPACITY_TYPE, *series))
            found = out.get(key)
            if found is None:
                own = {name: metric.get(label, "") for name, label in ksm.items()}
                found = out[key] = PodUse(metric.get("namespace", ""), metric.get("pod", ""), own, metric, 0.0, 0.0)
            return found

        # evaluated one step before now: the point at ``now`` would count the step after it
        until = now.timestamp() - self.step
        span = int(until - start.timestamp())
        if span > 0:
            used_q = f"sum by ({by}) (sum_over_time({expr}[{span}s:{self.step}s]))"
            for metric, value in self.prometheus.query(used_q, until):
                use(metric).used += value * self.step / 3600.0
        for metric, value in self.prometheus.query(f"sum by ({by}) ({expr})", now.timestamp()):
            use(metric).gpus_now += value
        pods = list(out.values())
        self._inherit(pods, ksm, max(int(now.timestamp() - start.timestamp()), self.step), now)
        return pods

    def _inherit(self, pods: list[PodUse], ksm: dict[str, str], span: int, now: datetime) -> None:
        """The namespace rule (``model/inherit.py``) with each namespace's latest labels in the period."""
        keys = [k for k in self.inherit_labels if k in ksm]
        if not keys or not pods:
            return
        series = ", ".join(sorted({ksm[k] for k in keys}))
        rows = self.prometheus.query(f"max by (namespace, {series}) (last_over_time(kube_namespace_labels[{span}s]))",
                                     now.timestamp())
        namespaces = {m.get("namespace", ""): {k: m.get(ksm[k], "") for k in keys} for m, _ in rows}
        for p in pods:
            p.labels.update(inherited(p.labels, namespaces.get(p.namespace), keys, self.authoritative_labels))

    def _per_gpu(self, metric: dict[str, str]) -> float | None:
        itype = metric.get(INSTANCE_TYPE)
        if not itype:
            return None
        capacity = {"spot": CapacityType.SPOT, "on-demand": CapacityType.ON_DEMAND}.get(
            metric.get(CAPACITY_TYPE, ""), CapacityType.UNKNOWN)
        priced = price_pod(Role("gpu", 1, gpus_per_pod=1.0, instance_type=itype, capacity_type=capacity),
                           self.catalog)
        return None if isinstance(priced, Unpriced) else priced.effective

    def _figures(self, groups: dict[tuple[str, ...], list[PodUse]], period: Period, now: datetime) -> list[Figures]:
        _, end = period_bounds(period, now)
        left = max((end - now).total_seconds(), 0.0) / 3600.0
        out = []
        for key, pods in groups.items():
            gh = gr = cost = cost_rate = 0.0
            unpriced = 0
            for p in pods:
                gh += p.used
                gr += p.gpus_now
                per_gpu = self._per_gpu(p.metric)
                if per_gpu is None:
                    unpriced += 1
                else:
                    cost += p.used * per_gpu
                    cost_rate += p.gpus_now * per_gpu
            count = len({(p.namespace, p.pod) for p in pods})
            out.append(Figures(key, count, gh, gr * left, cost, cost_rate * left, unpriced, gr, cost_rate))
        return out

    # -- the History protocol --------------------------------------------------------------------------

    def group_figures(self, rule: LedgerRule, now: datetime) -> dict[str, Figures]:
        label = key_label_of(rule.key_label)
        groups: dict[tuple[str, ...], list[PodUse]] = defaultdict(list)
        for p in self._pods([label], rule.rule.period, now):
            key = p.value(label)
            if key:  # no value: not grouped, as a workload whose key is empty
                groups[(key,)].append(p)
        return {f.key[0]: f for f in self._figures(groups, rule.rule.period, now)}

    def usage_by(self, dimensions: Sequence[str], period: Period, now: datetime) -> list[Figures]:
        names = [_dimension(d) for d in dimensions]
        groups: dict[tuple[str, ...], list[PodUse]] = defaultdict(list)
        for p in self._pods(names, period, now):
            groups[tuple(p.value(n) or NO_VALUE for n in names) or ("total",)].append(p)
        return self._figures(groups, period, now)

    def pod_figures(self, period: Period, now: datetime, *, rule: str | None = None,
                    dimensions: Sequence[str] = ()) -> list[PodFigures]:
        names = [key_label_of(rule)] if rule is not None else [_dimension(d) for d in dimensions]
        out: list[PodFigures] = []
        for p in self._pods(names, period, now):
            per_gpu = self._per_gpu(p.metric)
            group = tuple(p.value(n) or NO_VALUE for n in names) or ("total",)
            out.append((p.namespace, p.pod, group, p.used, p.used * per_gpu if per_gpu is not None else 0.0))
        return out

    def utilisation(self, period: Period, now: datetime) -> dict[tuple[str, str], float]:
        """Mean GPU utilisation (0..1) per pod over the period so far, from dcgm-exporter's series."""
        start, _ = period_bounds(period, now)
        return mean_utilisation(self.prometheus, start, now, self.step)
