"""A local stand-in for kube-apiserver: discovery, OpenAPI v2, and list + watch of namespaces, nodes, pods.

There is no API server on the machines these tests run on, so this threaded ``http.server`` on 127.0.0.1
speaks the parts of the wire protocol the real clients use: ``*List`` bodies with
``metadata.resourceVersion`` (and ``limit``/``continue`` paging), ``?watch=true`` streams of
newline-delimited ``{"type": ..., "object": ...}`` events over chunked HTTP/1.1 starting after the
requested ``resourceVersion``, ``BOOKMARK`` events, ``410 Gone`` for a resourceVersion older than the
compacted history (as an ``ERROR`` event, like the real server, or as an HTTP status), streams that end
(server-side ``timeoutSeconds`` or a test closing them), and every request recorded for assertions.
"""

from __future__ import annotations

import json
import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

RESOURCES = {"namespaces": "Namespace", "nodes": "Node", "pods": "Pod"}
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cluster"

#: group/version -> (resource, kind, namespaced) served by discovery (what the webhook manifests use).
DISCOVERY: dict[str, list[tuple[str, str, bool]]] = {
    "v1": [("namespaces", "Namespace", False), ("nodes", "Node", False), ("pods", "Pod", True),
           ("serviceaccounts", "ServiceAccount", True), ("configmaps", "ConfigMap", True),
           ("secrets", "Secret", True), ("services", "Service", True)],
    "apps/v1": [("deployments", "Deployment", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "networking.k8s.io/v1": [("networkpolicies", "NetworkPolicy", True)],
    "scheduling.k8s.io/v1": [("priorityclasses", "PriorityClass", False)],
    "rbac.authorization.k8s.io/v1": [("clusterroles", "ClusterRole", False),
                                     ("clusterrolebindings", "ClusterRoleBinding", False)],
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

    @property
    def watch(self) -> bool:
        return self.query.get("watch", "").lower() in ("true", "1")


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj["metadata"]
    return (meta.get("namespace", ""), meta["name"])


class FakeApiServer:
    def __init__(self, openapi: bytes | None = None) -> None:
        self.openapi = openapi
        self.cond = threading.Condition()
        self.rv = 1000
        self.seq = 0
        self.objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {r: {} for r in RESOURCES}
        self.events: list[Event] = []
        self.compacted_rv = 0  # a watch from a resourceVersion below this gets 410 Gone
        self.generation: dict[str, int] = dict.fromkeys(RESOURCES, 0)  # bumped to end open watches
        self.requests: list[Request] = []
        self.gone_as_status = False  # answer a too-old watch with HTTP 410 instead of an ERROR event
        self.fail_next: dict[str, int] = {}  # resource -> HTTP status for its next request (once)
        self.stopping = False
        self._open: dict[str, int] = {}  # resource -> watch streams being served
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
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

    # -- what tests do to the cluster -----------------------------------------------------------------

    def load(self, resource: str, items: list[dict[str, Any]]) -> None:
        """Objects present before any client connects (no events)."""
        with self.cond:
            for obj in items:
                self.rv += 1
                obj = json.loads(json.dumps(obj))
                obj["metadata"]["resourceVersion"] = str(self.rv)
                self.objects[resource][_key(obj)] = obj
            self.compacted_rv = self.rv

    def apply(self, resource: str, type_: str, obj: dict[str, Any]) -> int:
        """An ADDED / MODIFIED / DELETED change, seen by lists and open watches; returns its resourceVersion."""
        with self.cond:
            self.rv += 1
            obj = json.loads(json.dumps(obj))
            obj["metadata"]["resourceVersion"] = str(self.rv)
            if type_ == "DELETED":
                self.objects[resource].pop(_key(obj), None)
            else:
                self.objects[resource][_key(obj)] = obj
            self._emit(resource, type_, obj)
            return self.rv

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
            obj = {"kind": RESOURCES[resource], "apiVersion": "v1",
                   "metadata": {"resourceVersion": str(self.rv)}}
            self._emit(resource, "BOOKMARK", obj)
            return self.rv

    def close_watches(self, resource: str | None = None) -> None:
        """End open watch streams cleanly, as the server does when ``timeoutSeconds`` runs out."""
        with self.cond:
            for r in [resource] if resource else list(RESOURCES):
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
        return [r for r in self.requests if r.path == f"/api/v1/{resource}" and not r.watch]

    def open_watches(self, resource: str) -> int:
        with self.cond:
            return self._open.get(resource, 0)

    def _emit(self, resource: str, type_: str, obj: dict[str, Any]) -> None:
        self.seq += 1
        self.events.append(Event(self.seq, resource, type_, obj, self.rv))
        self.cond.notify_all()


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
            self._json(code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": message, "reason": reason, "code": code})

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            path = parts.path.rstrip("/")
            with server.cond:
                server.requests.append(Request(path, query))
            resource = path.removeprefix("/api/v1/")
            if path.startswith("/api/v1/") and resource in RESOURCES:
                failure = server.fail_next.pop(resource, None)
                if failure is not None:
                    self._status(failure, "InternalError", "injected failure")
                elif query.get("watch", "").lower() in ("true", "1"):
                    self._watch(resource, query)
                else:
                    self._list(resource, query)
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

        def _list(self, resource: str, query: dict[str, str]) -> None:
            with server.cond:
                items = sorted(server.objects[resource].values(), key=_key)
                rv = server.rv
            start = int(query.get("continue") or 0)
            limit = int(query.get("limit") or 0) or len(items)
            page = items[start:start + limit]
            meta: dict[str, Any] = {"resourceVersion": str(rv)}
            if start + limit < len(items):
                meta["continue"] = str(start + limit)
            self._json(200, {"kind": f"{RESOURCES[resource]}List", "apiVersion": "v1", "metadata": meta,
                             "items": page})

        def _watch(self, resource: str, query: dict[str, str]) -> None:
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
                self._stream(resource, cursor, generation, timeout)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away (stop(), or a re-watch)
            finally:
                with server.cond:
                    server._open[resource] -= 1

        def _stream(self, resource: str, cursor: int, generation: int, timeout: float) -> None:
            import time

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
                    self._chunk({"type": event.type, "object": event.obj})
                    cursor = event.seq
                if ended and not pending:
                    self._end()
                    return

        def _client_gone(self) -> bool:
            """The client closed its end (a real server notices through TCP; an idle stream never writes)."""
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            try:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
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
