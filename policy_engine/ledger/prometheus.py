"""Usage history from Prometheus: kube-state-metrics series, summed with PromQL, priced with the catalog.

When the cluster outgrows one process the history is the store the cluster already runs: every webhook
replica and every restart reads the same numbers. GPUs held per pod come from
``kube_pod_container_resource_requests{resource="nvidia_com_gpu"}`` while ``kube_pod_status_phase{phase=
"Running"}`` is 1; the group key from ``kube_pod_labels`` (``labels["team"]`` is ``label_team``) or the
``namespace`` label; the price that applied from the node's ``kube_node_labels`` (instance type and
capacity type) and the pricing catalog. DCGM's ``DCGM_FI_DEV_GPU_UTIL`` gives the utilisation that splits
actual cost into used and idle. docs/usage.md lists what kube-state-metrics must allow-list.

GPU-hours used = Σ over the subquery's evaluation points (one per ``step``) in the period up to now of
the GPUs held then × step / 3600: exact for pods whose lifetimes fall on step boundaries, otherwise
within one step per pod start and end.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import httpx

from policy_engine.compiler.program import Period
from policy_engine.engine.aggregate import period_bounds
from policy_engine.ledger.db import LedgerError
from policy_engine.ledger.observe import LedgerRule
from policy_engine.ledger.report import PodFigures, UnknownRule
from policy_engine.ledger.store import NO_VALUE, Figures
from policy_engine.model.workload import CapacityType, Role
from policy_engine.pricing.catalog import Catalog
from policy_engine.pricing.cost import Unpriced, price_pod

INSTANCE_TYPE = "label_node_kubernetes_io_instance_type"
CAPACITY_TYPE = "label_karpenter_sh_capacity_type"
NODE_DIMENSIONS = {"instance_type": INSTANCE_TYPE, "capacity_type": CAPACITY_TYPE, "node": "node"}
GPU_REQUESTS = 'kube_pod_container_resource_requests{resource="nvidia_com_gpu"}'
UTILISATION = "DCGM_FI_DEV_GPU_UTIL"


class PrometheusError(LedgerError):
    """Prometheus could not answer (unreachable, an error status, a query error)."""


def ksm_label(name: str) -> str:
    """kube-state-metrics' name for a pod label: ``cost-center`` -> ``label_cost_center``."""
    return "label_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def key_label_of(key_label: str) -> str:
    """The series label a rule's group key reads, or UnknownRule when PromQL cannot group by it."""
    m = re.fullmatch(r'labels\["([^"\\]+)"\]', key_label)
    if m:
        return ksm_label(m.group(1))
    if key_label == "namespace":
        return "namespace"
    raise UnknownRule(f"Prometheus history groups by pod labels (labels[\"...\"]) or namespace, not by {key_label}")


def dimension_label(dimension: str) -> str:
    if dimension in NODE_DIMENSIONS:
        return NODE_DIMENSIONS[dimension]
    if dimension == "namespace":
        return "namespace"
    if dimension in ("model", "kind", "workload"):
        raise UnknownRule(f"--by {dimension} needs the ledger (Prometheus history has pod and node labels only)")
    return ksm_label(dimension)


def held(labels: Sequence[str]) -> str:
    """GPUs held per running pod, with the pod labels and node labels asked for."""
    pod_labels = [lb for lb in labels if lb.startswith("label_") and lb not in (INSTANCE_TYPE, CAPACITY_TYPE)]
    expr = (f"(sum by (namespace, pod, node) ({GPU_REQUESTS}) * on (namespace, pod) group_left () "
            f"(max by (namespace, pod) (kube_pod_status_phase{{phase=\"Running\"}}) == 1))")
    if pod_labels:
        joined = ", ".join(pod_labels)
        expr = (f"({expr} * on (namespace, pod) group_left ({joined}) "
                f"max by (namespace, pod, {joined}) (kube_pod_labels))")
    node = ", ".join((INSTANCE_TYPE, CAPACITY_TYPE))
    return (f"(({expr} * on (node) group_left ({node}) max by (node, {node}) (kube_node_labels)) "
            f"or on (namespace, pod) {expr})")


class PrometheusHistory:
    def __init__(self, url: str, *, catalog: Catalog | Callable[[], Catalog], step: float = 300.0,
                 timeout: float = 10.0, client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self._catalog = catalog
        self.step = int(step)
        self.client = client or httpx.Client(timeout=timeout)

    def close(self) -> None:
        """Close the HTTP client (its kept-alive connections)."""
        self.client.close()

    def __enter__(self) -> PrometheusHistory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def catalog(self) -> Catalog:
        return self._catalog() if callable(self._catalog) else self._catalog

    def query(self, promql: str, at: datetime) -> list[tuple[dict[str, str], float]]:
        try:
            response = self.client.post(f"{self.url}/api/v1/query", data={"query": promql, "time": at.timestamp()})
        except httpx.HTTPError as exc:
            raise PrometheusError(f"{self.url}: {exc}") from exc
        try:
            body: dict[str, Any] = response.json()
        except ValueError as exc:
            raise PrometheusError(f"{self.url}: HTTP {response.status_code}, not JSON") from exc
        if body.get("status") != "success":
            raise PrometheusError(f"{self.url}: {body.get('errorType')}: {body.get('error')}")
        return [(dict(r["metric"]), float(r["value"][1])) for r in body["data"]["result"]]

    # -- per pod: GPU-hours used, GPUs held now, and the labels asked for --------------------------------

    def _pods(self, labels: Sequence[str], period: Period, now: datetime
              ) -> dict[tuple[str, str], tuple[dict[str, str], float, float]]:
        start, _ = period_bounds(period, now)
        wanted = sorted({*labels, INSTANCE_TYPE, CAPACITY_TYPE})
        by = ", ".join(["namespace", "pod", *wanted])
        expr = held(wanted)
        out: dict[tuple[str, str], tuple[dict[str, str], float, float]] = {}
        # evaluated one step before now: the point at ``now`` would count the step after it
        until = now.timestamp() - self.step
        span = int(until - start.timestamp())
        if span > 0:
            used_q = f"sum by ({by}) (sum_over_time({expr}[{span}s:{self.step}s]))"
            for metric, value in self.query(used_q, datetime.fromtimestamp(until, now.tzinfo)):
                out[(metric.get("namespace", ""), metric.get("pod", ""))] = (metric, value * self.step / 3600.0, 0.0)
        for metric, value in self.query(f"sum by ({by}) ({expr})", now):
            pod = (metric.get("namespace", ""), metric.get("pod", ""))
            labels_, used, _ = out.get(pod, (metric, 0.0, 0.0))
            out[pod] = (labels_, used, value)
        return out

    def _per_gpu(self, metric: dict[str, str]) -> float | None:
        itype = metric.get(INSTANCE_TYPE)
        if not itype:
            return None
        capacity = {"spot": CapacityType.SPOT, "on-demand": CapacityType.ON_DEMAND}.get(
            metric.get(CAPACITY_TYPE, ""), CapacityType.UNKNOWN)
        priced = price_pod(Role("gpu", 1, gpus_per_pod=1.0, instance_type=itype, capacity_type=capacity),
                           self.catalog)
        return None if isinstance(priced, Unpriced) else priced.effective

    def _figures(self, groups: dict[tuple[str, ...], list[tuple[dict[str, str], float, float]]],
                 period: Period, now: datetime) -> list[Figures]:
        _, end = period_bounds(period, now)
        left = max((end - now).total_seconds(), 0.0) / 3600.0
        out = []
        for key, pods in groups.items():
            gh = gr = cost = cost_rate = 0.0
            unpriced = 0
            for metric, used, gpus_now in pods:
                gh += used
                gr += gpus_now
                per_gpu = self._per_gpu(metric)
                if per_gpu is None:
                    unpriced += 1
                else:
                    cost += used * per_gpu
                    cost_rate += gpus_now * per_gpu
            out.append(Figures(key, len(pods), gh, gr * left, cost, cost_rate * left, unpriced, gr, cost_rate))
        return out

    # -- the History protocol --------------------------------------------------------------------------

    def group_figures(self, rule: LedgerRule, now: datetime) -> dict[str, Figures]:
        label = key_label_of(rule.key_label)
        groups: dict[tuple[str, ...], list[tuple[dict[str, str], float, float]]] = defaultdict(list)
        for metric, used, gpus_now in self._pods([label], rule.rule.period, now).values():
            key = metric.get(label, "")
            if key:  # no label: not grouped, as a workload whose key is empty
                groups[(key,)].append((metric, used, gpus_now))
        return {f.key[0]: f for f in self._figures(groups, rule.rule.period, now)}

    def usage_by(self, dimensions: Sequence[str], period: Period, now: datetime) -> list[Figures]:
        labels = [dimension_label(d) for d in dimensions]
        groups: dict[tuple[str, ...], list[tuple[dict[str, str], float, float]]] = defaultdict(list)
        for metric, used, gpus_now in self._pods(labels, period, now).values():
            groups[tuple(metric.get(lb) or NO_VALUE for lb in labels) or ("total",)].append((metric, used, gpus_now))
        return self._figures(groups, period, now)

    def pod_figures(self, period: Period, now: datetime, *, rule: str | None = None,
                    dimensions: Sequence[str] = ()) -> list[PodFigures]:
        labels = [key_label_of(rule)] if rule is not None else [dimension_label(d) for d in dimensions]
        out: list[PodFigures] = []
        for (namespace, pod), (metric, used, _) in self._pods(labels, period, now).items():
            per_gpu = self._per_gpu(metric)
            group = tuple(metric.get(lb) or NO_VALUE for lb in labels) or ("total",)
            out.append((namespace, pod, group, used, used * per_gpu if per_gpu is not None else 0.0))
        return out

    def utilisation(self, period: Period, now: datetime) -> dict[tuple[str, str], float]:
        """Mean GPU utilisation (0..1) per pod over the period so far, from dcgm-exporter's series."""
        start, _ = period_bounds(period, now)
        span = max(int((now - start).total_seconds()), self.step)
        rows = self.query(f"avg by (namespace, pod) (avg_over_time({UTILISATION}[{span}s]))", now)
        return {(m.get("namespace", ""), m.get("pod", "")): v / 100.0 for m, v in rows if not math.isnan(v)}
