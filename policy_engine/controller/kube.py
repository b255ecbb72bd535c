"""The controller's writes to the API server, as plain JSON objects, through the official client.

Every object is reached by its resource's path (``CustomObjectsApi`` serves any group, ``apps`` and
``batch`` included; the core group goes through ``CoreV1Api``). Patches name their content type
explicitly: ``application/merge-patch+json`` for annotations and fields, ``application/apply-patch+yaml``
(server-side apply, field manager ``policy-engine``) for the reports the controller owns whole.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from policy_engine.controller.kinds import Resource

MERGE = "application/merge-patch+json"
APPLY = "application/apply-patch+yaml"
FIELD_MANAGER = "policy-engine"
TIMEOUT = (10.0, 30.0)


def _json(response: Any) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(response.data or b"{}")
        return data
    finally:
        response.release_conn()


class Kube:
    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    # -- objects --------------------------------------------------------------------------------------------

    def get(self, r: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            if not r.group:
                return self._core_get(r, namespace or "", name)
            kw: dict[str, Any] = {"_preload_content": False, "_request_timeout": TIMEOUT}
            if namespace:
                return _json(self.custom.get_namespaced_custom_object(r.group, r.version, namespace, r.plural, name,
                                                                      **kw))
            return _json(self.custom.get_cluster_custom_object(r.group, r.version, r.plural, name, **kw))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _core_get(self, r: Resource, namespace: str, name: str) -> dict[str, Any]:
        kw: dict[str, Any] = {"_preload_content": False, "_request_timeout": TIMEOUT}
        if r.plural == "pods":
            return _json(self.core.read_namespaced_pod(name, namespace, **kw))
        return _json(self.core.read_namespaced_replication_controller(name, namespace, **kw))

    def merge(self, r: Resource, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        kw: dict[str, Any] = {"_preload_content": False, "_request_timeout": TIMEOUT, "_content_type": MERGE}
        if r.plural == "pods" and not r.group:
            return _json(self.core.patch_namespaced_pod(name, namespace, patch, **kw))
        if not r.group:
            return _json(self.core.patch_namespaced_replication_controller(name, namespace, patch, **kw))
        return _json(self.custom.patch_namespaced_custom_object(r.group, r.version, namespace, r.plural, name, patch,
                                                                **kw))

    def scale(self, r: Resource, namespace: str, name: str, replicas: int) -> dict[str, Any]:
        body = {"spec": {"replicas": replicas}}
        kw: dict[str, Any] = {"_preload_content": False, "_request_timeout": TIMEOUT, "_content_type": MERGE}
        if not r.group:
            return _json(self.core.patch_namespaced_replication_controller_scale(name, namespace, body, **kw))
        return _json(self.custom.patch_namespaced_custom_object_scale(r.group, r.version, namespace, r.plural, name,
                                                                      body, **kw))

    def delete_pod(self, namespace: str, name: str) -> None:
        _json(self.core.delete_namespaced_pod(name, namespace, _preload_content=False, _request_timeout=TIMEOUT))

    # -- objects the controller owns whole (reports, leases, events) -----------------------------------------

    def apply(self, group: str, version: str, plural: str, namespace: str | None, name: str,
              body: dict[str, Any]) -> dict[str, Any]:
        kw: dict[str, Any] = {"_preload_content": False, "_request_timeout": TIMEOUT, "_content_type": APPLY,
                              "field_manager": FIELD_MANAGER, "force": True}
        if namespace:
            return _json(self.custom.patch_namespaced_custom_object(group, version, namespace, plural, name, body,
                                                                    **kw))
        return _json(self.custom.patch_cluster_custom_object(group, version, plural, name, body, **kw))

    def list(self, group: str, version: str, plural: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        kw: dict[str, Any] = {"_preload_content": False, "_request_timeout": TIMEOUT}
        if label_selector:
            kw["label_selector"] = label_selector
        items: list[dict[str, Any]] = _json(self.custom.list_cluster_custom_object(group, version, plural,
                                                                                    **kw)).get("items") or []
        return items

    def delete(self, group: str, version: str, plural: str, namespace: str | None, name: str) -> None:
        kw: dict[str, Any] = {"_preload_content": False, "_request_timeout": TIMEOUT}
        try:
            if namespace:
                _json(self.custom.delete_namespaced_custom_object(group, version, namespace, plural, name, **kw))
            else:
                _json(self.custom.delete_cluster_custom_object(group, version, plural, name, **kw))
        except ApiException as exc:
            if exc.status != 404:
                raise

    def create(self, group: str, version: str, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return _json(self.custom.create_namespaced_custom_object(group, version, namespace, plural, body,
                                                                 _preload_content=False, _request_timeout=TIMEOUT))

    def get_custom(self, group: str, version: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return _json(self.custom.get_namespaced_custom_object(group, version, namespace, plural, name,
                                                                  _preload_content=False, _request_timeout=TIMEOUT))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def replace(self, group: str, version: str, plural: str, namespace: str, name: str,
                body: dict[str, Any]) -> dict[str, Any]:
        """PUT: refused with 409 when ``body.metadata.resourceVersion`` is no longer current."""
        return _json(self.custom.replace_namespaced_custom_object(group, version, namespace, plural, name, body,
                                                                  _preload_content=False, _request_timeout=TIMEOUT))
