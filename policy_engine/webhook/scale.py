"""Scale subresource requests (``kubectl scale``, an HPA): judged as an UPDATE of the workload they scale.

An UPDATE of ``deployments/scale`` carries an ``autoscaling/v1`` ``Scale`` (``spec.replicas``), not the
Deployment, so policies on GPUs or quotas cannot see what the new replica count costs. Without this, a
Deployment admitted at one replica could be scaled to fifty past every GPU limit. The endpoint reads the
scaled workload from the API server (``ScaleTargets``, a GET with a short timeout, off the event loop),
and the review judges that workload with the new replica count, with the current one as ``oldObject``.
When the workload cannot be read (no cluster connection, a timeout), the review cannot judge it and
``internal_error`` decides, as for any object it cannot read.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from policy_engine.webhook.admission import AdmissionRequest, GroupVersionKind

#: (API group, resource) whose ``scale`` subresource the webhook judges -> the workload's kind.
SCALABLE: dict[tuple[str, str], str] = {("apps", "deployments"): "Deployment",
                                         ("apps", "statefulsets"): "StatefulSet",
                                         ("apps", "replicasets"): "ReplicaSet"}
TIMEOUT_SECONDS = 2.0


def is_scale(request: AdmissionRequest) -> bool:
    return request.sub_resource == "scale"


def target_of(request: AdmissionRequest) -> tuple[str, str] | None:
    """(group, resource) of the scaled workload, when it is one the webhook judges."""
    key = (request.resource.group, request.resource.resource)
    return key if key in SCALABLE else None


def replicas_of(request: AdmissionRequest) -> int | None:
    spec = (request.object or {}).get("spec")
    replicas = spec.get("replicas") if isinstance(spec, dict) else None
    return replicas if isinstance(replicas, int) and not isinstance(replicas, bool) else None


def as_workload_update(request: AdmissionRequest, workload: dict[str, Any]) -> AdmissionRequest:
    """The request as an UPDATE of ``workload`` to the Scale's replica count."""
    scaled = copy.deepcopy(workload)
    spec = scaled.setdefault("spec", {})
    if isinstance(spec, dict):
        spec["replicas"] = replicas_of(request)
    target = target_of(request)
    kind = SCALABLE[target] if target else str(workload.get("kind") or "")
    return request.model_copy(update={
        "object": scaled, "old_object": workload, "sub_resource": "",
        "kind": GroupVersionKind(group=request.resource.group, version=request.resource.version, kind=kind)})


class ScaleTargets:
    """Reads the workload a scale request names, through the cluster connection ``serve`` was given."""

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client

    @staticmethod
    def connect(kubeconfig: str | None, in_cluster: bool) -> ScaleTargets:
        from kubernetes import client, config

        configuration = client.Configuration()
        if in_cluster:
            config.load_incluster_config(client_configuration=configuration)
        else:
            config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        return ScaleTargets(client.ApiClient(configuration))

    def get(self, group: str, version: str, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object as the API server serves it (raw JSON), or None; a failed read raises (the caller logs)."""
        from kubernetes import client

        if (group, resource) not in SCALABLE:
            return None
        apps = client.AppsV1Api(self.api_client)
        method = {"deployments": "read_namespaced_deployment", "statefulsets": "read_namespaced_stateful_set",
                  "replicasets": "read_namespaced_replica_set"}[resource]
        raw = getattr(apps, f"{method}_without_preload_content", None)  # kubernetes >= 35 (new generator)
        if raw is not None:
            response = raw(name, namespace, _request_timeout=TIMEOUT_SECONDS)
            response.read()
        else:
            response = getattr(apps, method)(name, namespace, _preload_content=False,
                                             _request_timeout=TIMEOUT_SECONDS)
        found = json.loads(response.data)
        return found if isinstance(found, dict) else None
