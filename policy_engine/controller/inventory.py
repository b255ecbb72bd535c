"""The controller's view of the live cluster: every workload object, every bare pod, and who owns each pod.

It adds to the shared cluster-state cache (``policy_engine.cluster``: namespaces, nodes, GPU pods with
their prices) one reflector per workload resource (list + watch with the official client), and sees every
pod through a ``PodObserver`` to keep bare pods (pods no controller owns are workloads themselves).

A resource the API server does not serve (a CRD that is not installed: 404 on the probe) is not watched
and is probed again each cycle, so installing KServe later needs no restart. ``synced`` is True once the
cache and every watched resource finished its first list; until then the controller audits nothing.

Ownership: a pod's workload is found by following ``ownerReferences`` (controller=true) through the
watched objects to the top (Pod → ReplicaSet → Deployment; Pod → StatefulSet → Notebook; Pod → Job →
JobSet; Pod → RayCluster → RayJob); where the chain leaves what is watched, the labels the operators set
decide (``notebook-name``, ``serving.kserve.io/inferenceservice``, ``ray.io/cluster``,
``jobset.sigs.k8s.io/jobset-name``, ``leaderworkerset.sigs.k8s.io/name``, ``training.kubeflow.org/job-name``).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from policy_engine.cluster import ClusterState, Timing
from policy_engine.cluster.pods import trimmed
from policy_engine.cluster.reflector import Reflector
from policy_engine.controller.kinds import POD_RESOURCE, Resource, by_kind
from policy_engine.jsonlog import FIELDS

LOG = logging.getLogger("policy_engine.controller")
Key = tuple[str, str, str]  # (kind, namespace, name)

#: pod label -> the kind it names (where ownerReferences leave the watched objects, e.g. Knative revisions).
OWNER_LABELS: tuple[tuple[str, str], ...] = (
    ("notebook-name", "Notebook"),
    ("serving.kserve.io/inferenceservice", "InferenceService"),
    ("jobset.sigs.k8s.io/jobset-name", "JobSet"),
    ("leaderworkerset.sigs.k8s.io/name", "LeaderWorkerSet"),
    ("ray.io/cluster", "RayCluster"),
)


@dataclass(slots=True)
class Entry:
    """One live workload object (trimmed of managedFields) and what was derived from it."""

    resource: Resource
    obj: dict[str, Any]
    built: Any = None  # (cache key, Workload | None), set by the audit; rebuilt when the key changes

    @property
    def namespace(self) -> str:
        return str(self.obj.get("metadata", {}).get("namespace") or "")

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name") or "")

    @property
    def key(self) -> Key:
        return (self.resource.kind, self.namespace, self.name)


def controller_ref(obj: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, name) of the object's controlling owner, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if isinstance(ref, dict) and ref.get("controller") and ref.get("kind") and ref.get("name"):
            return str(ref["kind"]), str(ref["name"])
    return None


class Inventory:
    def __init__(self, api: client.ApiClient, state_factory: Callable[..., ClusterState],
                 resources: tuple[Resource, ...], timing: Timing) -> None:
        self.api = api
        self.timing = timing
        self.resources = resources
        self.by_kind = by_kind(resources)
        self.lock = threading.RLock()
        self.objects: dict[str, dict[tuple[str, str], Entry]] = {r.key: {} for r in resources}
        self.bare_pods: dict[tuple[str, str], Entry] = {}
        self.changed = threading.Event()  # set by every change; the controller audits on change
        self.reflectors: dict[str, Reflector] = {}
        self.missing: dict[str, str] = {}  # resource key -> why it is not watched (404: not installed)
        self.state = state_factory(pod_observer=self)
        self._custom = client.CustomObjectsApi(api)
        self._core = client.CoreV1Api(api)
        self._started = False

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.state.start()
        self.probe()

    def stop(self, timeout: float = 5.0) -> None:
        for reflector in list(self.reflectors.values()):
            reflector.stop(timeout)
        self.state.stop(timeout)

    def probe(self) -> list[str]:
        """Start a reflector for every resource the server serves and not yet watched; returns those started."""
        started = []
        for resource in self.resources:
            if resource.key in self.reflectors:
                continue
            problem = self._served(resource)
            if problem is not None:
                if self.missing.get(resource.key) != problem:
                    LOG.info(f"{resource.key}: not watched ({problem})",
                             extra={FIELDS: {"event": "resource_missing", "resource": resource.key}})
                self.missing[resource.key] = problem
                continue
            self.missing.pop(resource.key, None)
            reflector = Reflector(resource.key, self._list_func(resource),
                                  replace=functools.partial(self._replace, resource),
                                  handle=functools.partial(self._event, resource), timing=self.timing)
            self.reflectors[resource.key] = reflector
            reflector.start()
            started.append(resource.key)
        return started

    def _served(self, resource: Resource) -> str | None:
        try:
            response = self._list_func(resource)(limit=1, _preload_content=False,
                                                 _request_timeout=(self.timing.connect_timeout, 30.0))
            _ = response.data  # read it whole: a connection returned with a body unread corrupts the next reply
            response.release_conn()
        except ApiException as exc:
            if exc.status in (404, 403):
                return f"HTTP {exc.status}: {'not installed' if exc.status == 404 else 'forbidden'}"
            return f"HTTP {exc.status}: {exc.reason}"
        except (HTTPError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def _list_func(self, resource: Resource) -> Callable[..., Any]:
        if not resource.group:
            return self._core.list_replication_controller_for_all_namespaces
        return functools.partial(self._custom.list_cluster_custom_object, resource.group, resource.version,
                                 resource.plural)

    @property
    def synced(self) -> bool:
        return self.state.synced and all(r.stats.synced for r in self.reflectors.values())

    # -- writes (reflector threads) -----------------------------------------------------------------------

    def _replace(self, resource: Resource, items: list[dict[str, Any]]) -> None:
        fresh = {}
        for obj in items:
            entry = Entry(resource, trimmed(obj))
            fresh[(entry.namespace, entry.name)] = entry
        with self.lock:
            old = self.objects.get(resource.key, {})
            for k, e in fresh.items():  # keep what was derived from an unchanged object
                prev = old.get(k)
                if prev is not None and _rv(prev.obj) == _rv(e.obj):
                    e.built = prev.built
            self.objects[resource.key] = fresh
        self.changed.set()

    def _event(self, resource: Resource, event: str, obj: dict[str, Any]) -> None:
        entry = Entry(resource, trimmed(obj))
        with self.lock:
            table = self.objects.setdefault(resource.key, {})
            if event == "DELETED":
                table.pop((entry.namespace, entry.name), None)
            else:
                table[(entry.namespace, entry.name)] = entry
        self.changed.set()

    def replace_pods(self, objects: list[dict[str, Any]]) -> None:
        fresh = {}
        for obj in objects:
            if controller_ref(obj) is None and _running(obj):
                entry = Entry(POD_RESOURCE, trimmed(obj))
                fresh[(entry.namespace, entry.name)] = entry
        with self.lock:
            self.bare_pods = fresh
        self.changed.set()

    def pod_event(self, event: str, obj: dict[str, Any]) -> None:
        if controller_ref(obj) is not None:
            if event != "MODIFIED":
                self.changed.set()  # a pod came or went: idle state and pod counts move
            return
        entry = Entry(POD_RESOURCE, trimmed(obj))
        with self.lock:
            if event == "DELETED" or not _running(obj):
                self.bare_pods.pop((entry.namespace, entry.name), None)
            else:
                self.bare_pods[(entry.namespace, entry.name)] = entry
        self.changed.set()

    # -- reads (the audit and the idle checker) -----------------------------------------------------------

    def entry(self, kind: str, namespace: str, name: str) -> Entry | None:
        with self.lock:
            if kind == "Pod":
                return self.bare_pods.get((namespace, name))
            resource = self.by_kind.get(kind)
            if resource is None:
                return None
            return self.objects.get(resource.key, {}).get((namespace, name))

    def top_level(self) -> list[Entry]:
        """The workloads to audit: every watched object no other watched object controls, and bare pods."""
        with self.lock:
            out = []
            for table in self.objects.values():
                for e in table.values():
                    owner = controller_ref(e.obj)
                    if owner is not None and self.entry(owner[0], e.namespace, owner[1]) is not None:
                        continue
                    out.append(e)
            out.extend(self.bare_pods.values())
            return out

    def owner_of(self, pod: dict[str, Any]) -> Entry | None:
        """The top-level workload a pod belongs to (see the module docstring); None when it has none we watch."""
        meta = pod.get("metadata") or {}
        namespace = str(meta.get("namespace") or "")
        ref = controller_ref(pod)
        if ref is None:
            return self.entry("Pod", namespace, str(meta.get("name") or ""))
        found: Entry | None = None
        seen = 0
        while ref is not None and seen < 8:
            seen += 1
            entry = self.entry(ref[0], namespace, ref[1])
            if entry is None:
                break
            found = entry
            ref = controller_ref(entry.obj)
        if found is not None and ref is None:
            return found
        labels = meta.get("labels") or {}
        for label, kind in OWNER_LABELS:
            value = labels.get(label)
            if value:
                entry = self.entry(kind, namespace, str(value))
                if entry is not None:
                    top = self._top(entry)
                    return top
        return found

    def _top(self, entry: Entry) -> Entry:
        for _ in range(8):
            ref = controller_ref(entry.obj)
            parent = self.entry(ref[0], entry.namespace, ref[1]) if ref is not None else None
            if parent is None:
                return entry
            entry = parent
        return entry

    def counts(self) -> dict[str, int]:
        with self.lock:
            out = {key: len(table) for key, table in self.objects.items() if key in self.reflectors}
            out["v1/pods (bare)"] = len(self.bare_pods)
            return out


def _rv(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _running(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
