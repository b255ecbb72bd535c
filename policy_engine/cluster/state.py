"""``ClusterState``: the webhook's view of the live cluster, and the engine's ``UsageProvider``.

Three reflectors (namespaces, nodes, pods) keep a ``Store`` current. Admission requests ask it for a
namespace's labels (label inheritance) and for a quota group's usage. Until every first list has
finished, ``synced`` is False and ``usage`` answers None, so each policy's failure mode decides rather
than a half-filled cache under-counting.

Grouping pods by a rule's key runs the rule's own ``key`` closure on a pod's workload once per version of
the pod (the key is kept on its record); the grouping is kept per rule until the store changes, so a
burst of admissions between two pod events costs one pass over the pods.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from kubernetes import client, config

from policy_engine.cluster.pods import PodRecord
from policy_engine.cluster.reflector import Reflector, ReflectorStats, Timing
from policy_engine.cluster.store import NAMESPACES, NODES, PODS, Store
from policy_engine.cluster.usage import group_usage, oldest_period_start
from policy_engine.compiler.program import AggregateRule
from policy_engine.engine import Usage
from policy_engine.pricing.catalog import Catalog, load_catalog

DEFAULT_INHERIT = ("team", "cost-center")
Clock = Callable[[], datetime]


class PodObserver(Protocol):
    """Sees every pod the cache lists or watches (the cache itself keeps GPU pods only): the controller
    keeps bare pods and maps pods to their workloads through one."""

    def replace_pods(self, objects: list[dict[str, Any]]) -> None: ...

    def pod_event(self, event: str, obj: dict[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class SyncInfo:
    """What the metrics endpoint and /readyz report about the cache."""

    synced: bool
    last_sync: datetime | None  # the oldest of the resources' last completed lists
    relists: int
    watch_restarts: int
    errors: int
    gpu_pods: int  # records held, live and ended this period
    resources: dict[str, ReflectorStats] = field(default_factory=dict)


@dataclass(slots=True)
class _Grouping:
    rule: AggregateRule
    generation: int
    groups: dict[str, list[PodRecord]]


class ClusterState:
    def __init__(self, api: client.ApiClient, *, catalog: Catalog | None = None,
                 inherit_labels: Sequence[str] = DEFAULT_INHERIT, timing: Timing | None = None,
                 clock: Clock | None = None, pod_observer: PodObserver | None = None) -> None:
        self.api = api
        self.pod_observer = pod_observer
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.store = Store(catalog if catalog is not None else load_catalog(None), inherit_labels)
        core = client.CoreV1Api(api)
        timing = timing or Timing()
        self.reflectors = {
            NAMESPACES: self._reflector(NAMESPACES, core.list_namespace, timing),
            NODES: self._reflector(NODES, core.list_node, timing),
            PODS: self._reflector(PODS, core.list_pod_for_all_namespaces, timing),
        }
        self._groupings: dict[int, _Grouping] = {}
        self._lock = threading.Lock()
        self._started = False
        self._pruned_to: datetime | None = None

    def _reflector(self, resource: str, func: Callable[..., Any], timing: Timing) -> Reflector:
        def replace(items: list[dict[str, Any]]) -> None:
            self.store.replace(resource, items, self.clock())
            if resource == PODS and self.pod_observer is not None:
                self.pod_observer.replace_pods(items)

        def handle(event: str, obj: dict[str, Any]) -> None:
            self.store.apply(resource, event, obj, self.clock())
            if resource == PODS and self.pod_observer is not None:
                self.pod_observer.pod_event(event, obj)

        return Reflector(resource, func, replace=replace, handle=handle, timing=timing)

    # -- factories ----------------------------------------------------------------------------------------

    @classmethod
    def from_kubeconfig(cls, path: str | None = None, context: str | None = None, **kwargs: Any) -> ClusterState:
        """Through a kubeconfig file (None: $KUBECONFIG or ~/.kube/config), as kubectl would connect."""
        return cls(config.new_client_from_config(config_file=path, context=context), **kwargs)

    @classmethod
    def in_cluster(cls, **kwargs: Any) -> ClusterState:
        """With the pod's service account token and the API server address Kubernetes injects."""
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        return cls(client.ApiClient(configuration), **kwargs)

    @classmethod
    def from_configuration(cls, configuration: client.Configuration, **kwargs: Any) -> ClusterState:
        return cls(client.ApiClient(configuration), **kwargs)

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        for reflector in self.reflectors.values():
            reflector.start()

    def stop(self, timeout: float = 5.0) -> None:
        for reflector in self.reflectors.values():
            reflector.stop(timeout)
        self.api.close()

    # -- what the webhook reads ---------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        return all(r.stats.synced for r in self.reflectors.values())

    def namespace_labels(self, namespace: str) -> dict[str, str] | None:
        if not self.synced:
            return None
        return self.store.namespace_labels(namespace)

    def usage(self, rule: AggregateRule, key: str) -> Usage | None:
        if not self.synced:
            return None
        now = self.clock()
        return group_usage(self._group(rule, now).get(key, ()), rule.metric, rule.period, now).usage

    def set_catalog(self, catalog: Catalog) -> int:
        """Use the catalog a policy reload brought (``--pricing`` is watched too); returns pods repriced."""
        if catalog is self.store.catalog or catalog == self.store.catalog:  # a reload that left prices alone
            return 0
        return self.store.reprice(catalog)

    def sync_info(self) -> SyncInfo:
        stats = {name: r.stats for name, r in self.reflectors.items()}
        lists = [s.last_list for s in stats.values()]
        return SyncInfo(
            synced=self.synced,
            last_sync=min(lists) if all(t is not None for t in lists) else None,  # type: ignore[type-var]
            relists=sum(s.relists for s in stats.values()),
            watch_restarts=sum(s.watch_restarts for s in stats.values()),
            errors=sum(s.errors for s in stats.values()),
            gpu_pods=len(self.store.pods),
            resources=stats,
        )

    def _group(self, rule: AggregateRule, now: datetime) -> dict[str, list[PodRecord]]:
        horizon = oldest_period_start(now)
        if horizon != self._pruned_to:  # a period rolled over: forget pods that ended before every period
            self.store.prune(horizon)
            self._pruned_to = horizon
        with self._lock:
            cached = self._groupings.get(id(rule))
            generation = self.store.generation
            if cached is not None and cached.rule is rule and cached.generation == generation:
                return cached.groups
            groups: dict[str, list[PodRecord]] = defaultdict(list)
            for record in self.store.records():
                known = record.keys.get(id(rule))
                if known is not None and known[0] is rule:
                    key = known[1]
                else:  # a record is new after every change to its pod: the key is computed once per version
                    key = rule.key(record.workload)
                    record.keys[id(rule)] = (rule, key)
                if key is not None:
                    groups[key].append(record)
            if len(self._groupings) > 256:  # policies reloaded many times: drop the old rules' groupings
                self._groupings.clear()
            self._groupings[id(rule)] = _Grouping(rule, generation, dict(groups))
            return self._groupings[id(rule)].groups


def connect(kubeconfig: str | None = None, in_cluster: bool = False, **kwargs: Any) -> ClusterState:
    """The cache ``serve --kubeconfig FILE`` / ``serve --in-cluster`` starts (not started yet)."""
    if in_cluster:
        return ClusterState.in_cluster(**kwargs)
    return ClusterState.from_kubeconfig(kubeconfig, **kwargs)
