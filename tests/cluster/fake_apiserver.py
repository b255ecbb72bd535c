"""A local stand-in for kube-apiserver: discovery, OpenAPI v2, and list + watch of namespaces, nodes, pods.

There is no API server on the machines these tests run on, so this threaded ``http.server`` on 127.0.0.1
speaks the parts of the wire protocol the real clients use: ``*List`` bodies with
``metadata.resourceVersion`` (and ``limit``/``continue`` paging), ``?watch=true`` streams of
newline-delimited ``{"type": ..., "object": ...}`` events over chunked HTTP/1.1 starting after the
requested ``resourceVersion``, ``BOOKMARK`` events, ``410 Gone`` for a resourceVersion older than the
compacted history (as an ``ERROR`` event, like the real server, or as an HTTP status), streams that end
(server-side ``timeoutSeconds`` or a test closing them), and every request recorded for assertions.

Beyond namespaces, nodes and pods, any resource a test registers (``register("apps/v1/deployments", ...)``;
the controller's workload kinds, Leases, Events, PolicyReports are registered by default) is served at
its real paths, cluster-wide and per namespace: list and watch, GET, POST (409 when it exists), PUT with
optimistic concurrency (409 on a stale ``metadata.resourceVersion``, which is what makes Lease leader
election safe), DELETE, PATCH as ``application/merge-patch+json`` (RFC 7386) and as server-side apply
``application/apply-patch+yaml`` (create or merge; a list in the applied object replaces the stored one,
which is what happens to fields one manager owns whole), and the ``scale`` subresource
(``autoscaling/v1`` Scale over ``spec.replicas``). Deleting a namespace deletes every object in it, as
the namespace controller does.
"""

from __future__ import annotations

import copy
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

RESOURCES = {"namespaces": "Namespace", "nodes": "Node", "pods": "Pod"}
#: group/version/plural -> (kind, namespaced, has a scale subresource): served besides the core three.
EXTRA_RESOURCES: dict[str, tuple[str, bool, bool]] = {
    "v1/events": ("Event", True, False),
    "events.k8s.io/v1/events": ("Event", True, False),
    "coordination.k8s.io/v1/leases": ("Lease", True, False),
    "wgpolicyk8s.io/v1alpha2/policyreports": ("PolicyReport", True, False),
    "wgpolicyk8s.io/v1alpha2/clusterpolicyreports": ("ClusterPolicyReport", False, False),
    "openreports.io/v1alpha1/reports": ("Report", True, False),
    "openreports.io/v1alpha1/clusterreports": ("ClusterReport", False, False),
    "apps/v1/deployments": ("Deployment", True, True),
    "apps/v1/statefulsets": ("StatefulSet", True, True),
    "apps/v1/replicasets": ("ReplicaSet", True, True),
    "apps/v1/daemonsets": ("DaemonSet", True, False),
    "batch/v1/jobs": ("Job", True, False),
    "batch/v1/cronjobs": ("CronJob", True, False),
    "kubeflow.org/v1/notebooks": ("Notebook", True, False),
    "kubeflow.org/v1/pytorchjobs": ("PyTorchJob", True, False),
    "serving.kserve.io/v1beta1/inferenceservices": ("InferenceService", True, False),
    "ray.io/v1/rayclusters": ("RayCluster", True, False),
    "ray.io/v1/rayjobs": ("RayJob", True, False),
    "jobset.x-k8s.io/v1alpha2/jobsets": ("JobSet", True, False),
    "leaderworkerset.x-k8s.io/v1/leaderworkersets": ("LeaderWorkerSet", True, True),
}
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cluster"

#: group/version -> (resource, kind, namespaced) served by discovery (what the webhook manifests use).
DISCOVERY: dict[str, list[tuple[str, str, bool]]] = {
    "v1": [("namespaces", "Namespace", False), ("nodes", "Node", False), ("pods", "Pod", True),
           ("serviceaccounts", "ServiceAccount", True), ("configmaps", "ConfigMap", True),
           ("secrets", "Secret", True), ("services", "Service", True),
           ("persistentvolumeclaims", "PersistentVolumeClaim", True)],
    "apps/v1": [("deployments", "Deployment", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "networking.k8s.io/v1": [("networkpolicies", "NetworkPolicy", True)],
    "scheduling.k8s.io/v1": [("priorityclasses", "PriorityClass", False)],
    "rbac.authorization.k8s.io/v1": [("clusterroles", "ClusterRole", False),
                                     ("clusterrolebindings", "ClusterRoleBinding", False),
                                     ("roles", "Role", True), ("rolebindings", "RoleBinding", True)],
    "admissionregistration.k8s.io/v1": [("validatingwebhookconfigurations", "ValidatingWebhookConfiguration",
                                         False)],
}


@dataclass(frozen=True)
class Event:
    seq: int
    resource: str
    type: str
    obj: dict[str, Any]
    rv: int


@dataclass(frozen=True)
class Request:
    path: str
    query: dict[str, str]
    method: str = "GET"
    content_type: str = ""
    body: Any = None

    @property
    def watch(self) -> bool:
        return self.query.get("watch", "").lower() in ("true", "1")


@dataclass(frozen=True)
class Target:
    """What a request path names: a resource, maybe a namespace, maybe one object and its subresource."""

    resource: str
    namespace: str | None
    name: str | None
    sub: str | None


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj["metadata"]
    return (meta.get("namespace", ""), meta["name"])


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: mappings merge, null deletes, anything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def api_version_of(resource: str) -> str:
    if resource in RESOURCES:
        return "v1"
    return resource.rsplit("/", 1)[0]


class FakeApiServer:
    def __init__(self, openapi: bytes | None = None) -> None:
        self.openapi = openapi
        self.cond = threading.Condition()
        self.rv = 1000
        self.seq = 0
        self.uid = 0
        self.kinds: dict[str, tuple[str, bool, bool]] = {
            "namespaces": ("Namespace", False, False), "nodes": ("Node", False, False),
            "pods": ("Pod", True, False), **EXTRA_RESOURCES}
        self.objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {r: {} for r in self.kinds}
        self.events: list[Event] = []
        self.compacted_rv = 0  # a watch from a resourceVersion below this gets 410 Gone
        self.generation: dict[str, int] = dict.fromkeys(self.kinds, 0)  # bumped to end open watches
        self.requests: list[Request] = []
        self.gone_as_status = False  # answer a too-old watch with HTTP 410 instead of an ERROR event
        self.fail_next: dict[str, int] = {}  # resource -> HTTP status for its next request (once)
        self.stopping = False
        self._open: dict[str, int] = {}  # resource -> watch streams being served
        self._http = _Server(("127.0.0.1", 0), _handler(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def start(self) -> FakeApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        self._http.shutdown()
        self._http.server_close()

    def register(self, resource: str, kind: str, namespaced: bool = True, scale: bool = False) -> None:
        """Serve another resource, e.g. ``register("example.com/v1/widgets", "Widget")``."""
        with self.cond:
            self.kinds[resource] = (kind, namespaced, scale)
            self.objects.setdefault(resource, {})
            self.generation.setdefault(resource, 0)

    # -- what tests do to the cluster -----------------------------------------------------------------

    def load(self, resource: str, items: list[dict[str, Any]]) -> None:
        """Objects present before any client connects (no events)."""
        with self.cond:
            for obj in items:
                self.rv += 1
                obj = self._stamp(resource, json.loads(json.dumps(obj)))
                self.objects[resource][_key(obj)] = obj
            self.compacted_rv = self.rv

    def apply(self, resource: str, type_: str, obj: dict[str, Any]) -> int:
        """An ADDED / MODIFIED / DELETED change, seen by lists and open watches; returns its resourceVersion."""
        with self.cond:
            self.rv += 1
            obj = self._stamp(resource, json.loads(json.dumps(obj)))
            if type_ == "DELETED":
                self.objects[resource].pop(_key(obj), None)
            else:
                self.objects[resource][_key(obj)] = obj
            self._emit(resource, type_, obj)
            if type_ == "DELETED" and resource == "namespaces":
                self._delete_namespace_contents(obj["metadata"]["name"])
            return self.rv

    def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        with self.cond:
            obj = self.objects.get(resource, {}).get((namespace or "", name))
            return copy.deepcopy(obj) if obj is not None else None

    def items(self, resource: str) -> list[dict[str, Any]]:
        with self.cond:
            return [copy.deepcopy(o) for o in self.objects.get(resource, {}).values()]

    def apply_unseen(self, resource: str, type_: str, obj: dict[str, Any]) -> int:
        """A change no watcher will ever be told about: its history is compacted away at once (etcd
        compaction while the client was disconnected), so a client resuming from before it gets 410."""
        with self.cond:
            rv = self.apply(resource, type_, obj)
            self.compact()
            return rv

    def replay(self, resource: str, line: str) -> int:
        """One recorded watch event (a line of a ``*.watch.jsonl`` fixture); the recorded resourceVersion is
        replaced by this server's next one, as the cluster it was recorded on counted differently."""
        event = json.loads(line)
        if event["type"] == "BOOKMARK":
            return self.bookmark(resource)
        return self.apply(resource, event["type"], event["object"])

    def bookmark(self, resource: str) -> int:
        with self.cond:
            obj = {"kind": self.kinds[resource][0], "apiVersion": api_version_of(resource),
                   "metadata": {"resourceVersion": str(self.rv)}}
            self._emit(resource, "BOOKMARK", obj)
            return self.rv

    def close_watches(self, resource: str | None = None) -> None:
        """End open watch streams cleanly, as the server does when ``timeoutSeconds`` runs out."""
        with self.cond:
            for r in [resource] if resource else list(self.kinds):
                self.generation[r] += 1
            self.cond.notify_all()

    def compact(self) -> None:
        """Forget the event history: a watch resuming from an older resourceVersion gets 410 Gone."""
        with self.cond:
            self.compacted_rv = self.rv
            self.events.clear()

    def watch_requests(self, resource: str) -> list[Request]:
        return [r for r in self.requests if r.path == f"/api/v1/{resource}" and r.watch]

    def list_requests(self, resource: str) -> list[Request]:
        return [r for r in self.requests if r.path == f"/api/v1/{resource}" and not r.watch and r.method == "GET"]

    def writes(self, resource: str | None = None) -> list[Request]:
        """Every POST/PUT/PATCH/DELETE received (to paths under ``resource``'s group/version/plural)."""
        with self.cond:
            out = [r for r in self.requests if r.method != "GET"]
        if resource is None:
            return out
        return [r for r in out if _target(r.path) is not None and _target(r.path).resource == resource]  # type: ignore[union-attr]

    def open_watches(self, resource: str) -> int:
        with self.cond:
            return self._open.get(resource, 0)

    # -- internals (call with the lock held) ----------------------------------------------------------

    def _stamp(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(self.rv)
        if resource in self.kinds:
            obj.setdefault("kind", self.kinds[resource][0])
            obj.setdefault("apiVersion", api_version_of(resource))
        return obj

    def _emit(self, resource: str, type_: str, obj: dict[str, Any]) -> None:
        self.seq += 1
        self.events.append(Event(self.seq, resource, type_, obj, self.rv))
        self.cond.notify_all()

    def _delete_namespace_contents(self, namespace: str) -> None:
        for resource, (_, namespaced, _) in self.kinds.items():
            if not namespaced:
                continue
            for key in [k for k in self.objects[resource] if k[0] == namespace]:
                obj = self.objects[resource].pop(key)
                self.rv += 1
                obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.rv)}}
                self._emit(resource, "DELETED", obj)

    def _write(self, method: str, t: Target, content_type: str, body: Any) -> tuple[int, dict[str, Any]]:
        """One write, as the API server does it; (HTTP status, object or Status)."""
        _kind, namespaced, has_scale = self.kinds[t.resource]
        store = self.objects[t.resource]
        ns = (t.namespace or "") if namespaced else ""
        if method == "POST":
            if not isinstance(body, dict) or not (body.get("metadata") or {}).get("name"):
                if isinstance(body, dict) and (body.get("metadata") or {}).get("generateName"):
                    body["metadata"]["name"] = body["metadata"]["generateName"] + f"{self.uid + 1:05d}"
                else:
                    return 422, _status(422, "Invalid", "metadata.name: Required value")
            name = body["metadata"]["name"]
            if (ns, name) in store:
                return 409, _status(409, "AlreadyExists", f'{t.resource} "{name}" already exists')
            return 201, self._create(t.resource, ns, body)
        assert t.name is not None
        current = store.get((ns, t.name))
        if method == "DELETE":
            if current is None:
                return 404, _status(404, "NotFound", f'{t.resource} "{t.name}" not found')
            self.rv += 1
            store.pop((ns, t.name))
            gone = {**current, "metadata": {**current["metadata"], "resourceVersion": str(self.rv)}}
            self._emit(t.resource, "DELETED", gone)
            if t.resource == "namespaces":
                self._delete_namespace_contents(t.name)
            return 200, gone
        if t.sub == "scale":
            if not has_scale:
                return 404, _status(404, "NotFound", f"{t.resource} has no scale subresource")
            if current is None:
                return 404, _status(404, "NotFound", f'{t.resource} "{t.name}" not found')
            if method == "PATCH":
                replicas = merge_patch(_scale(current), body)["spec"].get("replicas")
            else:
                replicas = (body.get("spec") or {}).get("replicas")
            updated = merge_patch(current, {"spec": {"replicas": int(replicas or 0)}})
            self._replace(t.resource, updated)
            return 200, _scale(updated)
        if method == "PUT":
            if current is None:
                return 404, _status(404, "NotFound", f'{t.resource} "{t.name}" not found')
            sent_rv = (body.get("metadata") or {}).get("resourceVersion")
            if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
                return 409, _status(409, "Conflict", f'Operation cannot be fulfilled on {t.resource} "{t.name}": '
                                    "the object has been modified; please apply your changes to the latest "
                                    "version and try again")
            body = {**body, "metadata": {**body.get("metadata", {}), "uid": current["metadata"].get("uid"),
                                         "creationTimestamp": current["metadata"].get("creationTimestamp")}}
            return 200, self._replace(t.resource, body)
        # PATCH
        if "apply-patch" in content_type:
            if current is None:
                return 201, self._create(t.resource, ns, body)
            return 200, self._replace(t.resource, merge_patch(current, _without_meta_noise(body)))
        if current is None:
            return 404, _status(404, "NotFound", f'{t.resource} "{t.name}" not found')
        if "merge-patch" not in content_type and "strategic-merge-patch" not in content_type:
            return 415, _status(415, "UnsupportedMediaType", f"the fake server does not take {content_type}")
        return 200, self._replace(t.resource, merge_patch(current, body))

    def _create(self, resource: str, ns: str, body: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        self.uid += 1
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if ns:
            meta["namespace"] = ns
        meta.setdefault("uid", f"00000000-0000-4000-8000-{self.uid:012d}")
        meta.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        meta["generation"] = 1
        obj = self._stamp(resource, obj)
        self.objects[resource][_key(obj)] = obj
        self._emit(resource, "ADDED", obj)
        return copy.deepcopy(obj)

    def _replace(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta["generation"] = int(meta.get("generation") or 1) + 1
        obj = self._stamp(resource, obj)
        self.objects[resource][_key(obj)] = obj
        self._emit(resource, "MODIFIED", obj)
        return copy.deepcopy(obj)


def _without_meta_noise(body: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k not in ("resourceVersion", "uid")}
    return {**body, "metadata": meta}


def _scale(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    replicas = (obj.get("spec") or {}).get("replicas", 1)
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": meta["name"], "namespace": meta.get("namespace"),
                         "resourceVersion": meta.get("resourceVersion")},
            "spec": {"replicas": replicas}, "status": {"replicas": (obj.get("status") or {}).get("replicas", 0)}}


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def _target(path: str, kinds: dict[str, tuple[str, bool, bool]] | None = None) -> Target | None:
    """``/api/v1/namespaces/ns/pods/name`` → Target("pods", "ns", "name", None); None: not a resource path."""
    kinds = kinds if kinds is not None else {**{r: (k, r == "pods", False) for r, k in RESOURCES.items()},
                                             **EXTRA_RESOURCES}
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        prefix, rest = "", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        prefix, rest = f"{parts[1]}/{parts[2]}/", parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    elif len(rest) == 2 and rest[0] == "namespaces" and not prefix:
        return Target("namespaces", None, rest[1], None)  # one namespace
    if not rest:
        return None
    plural = rest[0]
    resource = plural if not prefix and plural in RESOURCES else f"{prefix or 'v1/'}{plural}"
    if resource not in kinds:
        return None
    return Target(resource, namespace, rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a reflector stopping its watch) is normal, not an error to print."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            return
        super().handle_error(request, client_address)


@contextmanager
def running(openapi: bytes | None = None) -> Iterator[FakeApiServer]:
    server = FakeApiServer(openapi).start()
    try:
        yield server
    finally:
        server.stop()


def _handler(server: FakeApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            return

        def _json(self, status: int, body: Any, content_type: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _status(self, code: int, reason: str, message: str) -> None:
            self._json(code, _status(code, reason, message))

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not raw:
                return None
            if "yaml" in (self.headers.get("Content-Type") or ""):
                import yaml

                return yaml.safe_load(raw)
            return json.loads(raw)

        def _write_request(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            path = parts.path.rstrip("/")
            content_type = self.headers.get("Content-Type") or ""
            try:
                body = self._body()
            except ValueError as exc:
                self._status(400, "BadRequest", f"cannot decode the body: {exc}")
                return
            with server.cond:
                server.requests.append(Request(path, query, method, content_type, body))
                target = _target(path, server.kinds)
                if target is None or (method != "POST" and target.name is None):
                    status, out = 404, _status(404, "NotFound", f"the server could not find {path}")
                else:
                    failure = server.fail_next.pop(target.resource, None)
                    if failure is not None:
                        status, out = failure, _status(failure, "InternalError", "injected failure")
                    elif query.get("dryRun") == "All":
                        status, out = 200, body or {}
                    else:
                        status, out = server._write(method, target, content_type, body)
            self._json(status, out)

        def do_POST(self) -> None:
            self._write_request("POST")

        def do_PUT(self) -> None:
            self._write_request("PUT")

        def do_PATCH(self) -> None:
            self._write_request("PATCH")

        def do_DELETE(self) -> None:
            self._write_request("DELETE")

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            path = parts.path.rstrip("/")
            with server.cond:
                server.requests.append(Request(path, query))
                target = _target(path, server.kinds)
            if target is not None:
                failure = server.fail_next.pop(target.resource, None)
                if failure is not None:
                    self._status(failure, "InternalError", "injected failure")
                elif target.name is not None:
                    self._get(target)
                elif query.get("watch", "").lower() in ("true", "1"):
                    self._watch(target.resource, query, target.namespace)
                else:
                    self._list(target.resource, query, target.namespace)
            elif path == "/api":
                self._json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": self.headers.get("Host", "")}]})
            elif path == "/apis":
                self._json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                    {"name": gv.split("/")[0], "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
                     "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]}}
                    for gv in DISCOVERY if "/" in gv]})
            elif path in ("/api/v1", *(f"/apis/{gv}" for gv in DISCOVERY)):
                gv = path.removeprefix("/apis/").removeprefix("/api/")
                self._json(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": [
                    {"name": r, "singularName": k.lower(), "namespaced": ns, "kind": k,
                     "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}
                    for r, k, ns in DISCOVERY[gv]]})
            elif path == "/version":
                self._json(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "platform": "linux/amd64"})
            elif path == "/openapi/v2" and server.openapi is not None:
                from .openapi_proto import PROTOBUF_TYPE

                self._json(200, server.openapi, PROTOBUF_TYPE)
            else:
                self._status(404, "NotFound", f"the server could not find the requested resource ({path})")

        def _get(self, t: Target) -> None:
            _kind, namespaced, has_scale = server.kinds[t.resource]
            obj = server.get(t.resource, t.namespace if namespaced else None, t.name or "")
            if obj is None:
                self._status(404, "NotFound", f'{t.resource} "{t.name}" not found')
            elif t.sub == "scale" and has_scale:
                self._json(200, _scale(obj))
            elif t.sub:
                self._status(404, "NotFound", f"{t.resource} has no {t.sub} subresource")
            else:
                self._json(200, obj)

        def _list(self, resource: str, query: dict[str, str], namespace: str | None = None) -> None:
            with server.cond:
                items = sorted((o for o in server.objects[resource].values()
                                if namespace is None or o["metadata"].get("namespace") == namespace), key=_key)
                rv = server.rv
            start = int(query.get("continue") or 0)
            limit = int(query.get("limit") or 0) or len(items)
            page = items[start:start + limit]
            meta: dict[str, Any] = {"resourceVersion": str(rv)}
            if start + limit < len(items):
                meta["continue"] = str(start + limit)
            self._json(200, {"kind": f"{server.kinds[resource][0]}List", "apiVersion": api_version_of(resource),
                             "metadata": meta, "items": page})

        def _watch(self, resource: str, query: dict[str, str], namespace: str | None = None) -> None:
            since = int(query.get("resourceVersion") or server.rv)
            timeout = float(query.get("timeoutSeconds") or 3600)
            with server.cond:
                too_old = since < server.compacted_rv
                generation = server.generation[resource]
                cursor = next((e.seq - 1 for e in server.events if e.rv > since or (e.type == "BOOKMARK"
                               and e.rv >= since)), server.seq)
            gone = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": f"too old resource version: {since} ({server.compacted_rv})",
                    "reason": "Expired", "code": 410}
            if too_old and server.gone_as_status:
                self._json(410, gone)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if too_old:
                self._chunk({"type": "ERROR", "object": gone})
                self._end()
                return
            with server.cond:
                server._open[resource] = server._open.get(resource, 0) + 1
            try:
                self._stream(resource, cursor, generation, timeout, namespace)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away (stop(), or a re-watch)
            finally:
                with server.cond:
                    server._open[resource] -= 1

        def _stream(self, resource: str, cursor: int, generation: int, timeout: float,
                    namespace: str | None = None) -> None:
            deadline = time.monotonic() + timeout
            while True:
                with server.cond:
                    pending = [e for e in server.events if e.seq > cursor and e.resource == resource]
                    ended = (server.stopping or server.generation[resource] != generation
                             or time.monotonic() >= deadline)
                    if not pending and not ended:
                        server.cond.wait(min(0.1, max(deadline - time.monotonic(), 0.01)))
                        if self._client_gone():
                            return
                        continue
                for event in pending:
                    cursor = event.seq
                    if namespace is not None and event.obj.get("metadata", {}).get("namespace") != namespace \
                            and event.type != "BOOKMARK":
                        continue
                    self._chunk({"type": event.type, "object": event.obj})
                if ended and not pending:
                    self._end()
                    return

        def _client_gone(self) -> bool:
            """The client closed its end (a real server notices through TCP; an idle stream never writes)."""
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            try:
                return bool(self.connection.recv(1, socket.MSG_PEEK) == b"")
            except OSError:
                return True

        def _chunk(self, event: dict[str, Any]) -> None:
            data = json.dumps(event).encode() + b"\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _end(self) -> None:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler
