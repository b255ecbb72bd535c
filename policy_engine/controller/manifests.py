"""The objects that install the controller (``policy-engine controller-manifests``; deploy/controller/).

Its own ServiceAccount with least privilege, derived from the policies it will run:

- get/list/watch on every workload resource the model knows, pods, nodes and namespaces (the inventory);
- patch on a workload resource only when some policy notifies or stops idle workloads (notices are
  annotations), patch on the ``scale`` subresource only for kinds stopped through it, and delete on pods
  only when a policy says ``delete_pods``; no write at all on workloads when no policy has ``then``;
- create on ``events.k8s.io`` Events (notices), create/get/list/patch/update/delete on PolicyReports
  and ClusterPolicyReports (the reports it owns);
- get/create/update on one Lease, in its own namespace only (a Role, not a ClusterRole).

With the usage ledger (the default; docs/usage.md) a PersistentVolumeClaim holds its SQLite file, mounted
at ``LEDGER_DIR`` and named in the settings' ``ledger.path``. SQLite has one writer and a ReadWriteOnce
volume attaches to one node, so the Deployment then runs **one replica with the Recreate strategy**: the
old pod lets go of the volume before the new one starts (a rolling update would wait forever on the
attach), and leader election still keeps a second process on the same node from writing. A restart loses
no hour (the file outlives the pod); ``--no-ledger`` gives back the two-replica standby without a ledger.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from policy_engine.compiler.program import PolicySet
from policy_engine.controller.kinds import NONE, POD, SCALE, workload_resources
from policy_engine.controller.settings import ControllerSettings
from policy_engine.webhook.layout import POLICY_DIR, PolicyLayout, configmap_data, policies_args, policies_volume
from policy_engine.webhook.manifests import DEFAULT_IMAGE, dump

APP = "policy-engine-controller"
POLICIES_CONFIGMAP = f"{APP}-policies"
SETTINGS_DIR = "/etc/policy-engine/controller"
PORT = 8080
LEDGER_DIR = "/var/lib/policy-engine"
LEDGER_FILE = f"{LEDGER_DIR}/ledger.db"
RUN_AS = 65532

__all__ = ["Options", "build", "dump"]


@dataclass(frozen=True, slots=True)
class Options:
    namespace: str = "policy-engine"
    image: str = DEFAULT_IMAGE
    policies: PolicyLayout | None = None  # the compiled set's files (webhook/layout.py); None: no ConfigMap
    replicas: int = 2  # without a ledger; with one, a single replica (see the module's docstring)
    act: bool = False
    ledger_size: str | None = "1Gi"  # the ledger's PersistentVolumeClaim; None: no ledger
    storage_class: str | None = None  # None: the cluster's default StorageClass


def _labels() -> dict[str, str]:
    return {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": "controller",
            "app.kubernetes.io/part-of": "policy-engine"}


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": _labels()}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def needs(policies: PolicySet) -> tuple[bool, bool, bool]:
    """(notifies or stops anything, stops anything, deletes bare pods) over the compiled policies."""
    rules = [r for p in policies.policies for r in p.live_idle]
    return (any(r.action in ("notify", "stop") for r in rules), any(r.action == "stop" for r in rules),
            any(r.action == "stop" and r.delete_pods for r in rules))


def cluster_rules(policies: PolicySet) -> list[dict[str, Any]]:
    notify, stop, delete_pods = needs(policies)
    read: dict[str, set[str]] = defaultdict(set)
    patch: dict[str, set[str]] = defaultdict(set)
    for r in workload_resources():
        read[r.group].add(r.plural)
        if notify and r.stop not in (NONE, POD):
            patch[r.group].add(r.plural)
            if stop and r.stop == SCALE:
                patch[r.group].add(f"{r.plural}/scale")
    read[""].update({"pods", "nodes", "namespaces"})
    rules: list[dict[str, Any]] = [{"apiGroups": [g], "resources": sorted(res), "verbs": ["get", "list", "watch"]}
                                   for g, res in sorted(read.items())]
    rules += [{"apiGroups": [g], "resources": sorted(res), "verbs": ["patch"]} for g, res in sorted(patch.items())]
    if delete_pods:
        rules.append({"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]})
    if notify:
        rules.append({"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create"]})
    rules.append({"apiGroups": ["wgpolicyk8s.io"], "resources": ["policyreports", "clusterpolicyreports"],
                  "verbs": ["get", "list", "create", "update", "patch", "delete"]})
    rules.append({"apiGroups": ["openreports.io"], "resources": ["reports", "clusterreports"],
                  "verbs": ["get", "list", "create", "update", "patch", "delete"]})
    return rules


def rbac(opts: Options, policies: PolicySet) -> list[dict[str, Any]]:
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(APP, opts.namespace)}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": _meta(APP),
            "rules": cluster_rules(policies)}
    subject = [{"kind": "ServiceAccount", "name": APP, "namespace": opts.namespace}]
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": _meta(APP),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": APP},
               "subjects": subject}
    lease_role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(APP, opts.namespace),
                  "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                             "verbs": ["create"]},
                            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                             "resourceNames": [ControllerSettings().leader_election.lease_name],
                             "verbs": ["get", "update"]}]}
    lease_binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                     "metadata": _meta(APP, opts.namespace),
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": APP},
                     "subjects": subject}
    return [account, role, binding, lease_role, lease_binding]


def settings_configmap(opts: Options) -> dict[str, Any]:
    text = (f"# policy-engine controller settings (docs/controller.md)\ninterval_seconds: 300\n"
            f"idle:\n  act: {'true' if opts.act else 'false'}\n  max_actions_per_cycle: 5\n"
            "prometheus:\n  url: http://prometheus-operated.monitoring.svc:9090\n"
            "leader_election:\n  lease_duration_seconds: 15\n")
    if opts.ledger_size:
        text += (f"ledger:  # docs/usage.md; on the PersistentVolumeClaim {APP}-ledger, written by the leader only\n"
                 f"  path: {LEDGER_FILE}\n  interval_seconds: 30\n")
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(APP, opts.namespace),
            "data": {"controller.yaml": text}}


def policies_configmap(opts: Options, policies: PolicyLayout) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(POLICIES_CONFIGMAP, opts.namespace),
            "data": configmap_data(policies)}


def ledger_claim(opts: Options) -> dict[str, Any]:
    """The ledger's volume: ReadWriteOnce (one node, one writer; SQLite must not sit on a shared network FS)."""
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": opts.ledger_size}}}
    if opts.storage_class:
        spec["storageClassName"] = opts.storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta(f"{APP}-ledger", opts.namespace),
            "spec": spec}


def deployment(opts: Options) -> dict[str, Any]:
    selector = {"app.kubernetes.io/name": APP}

    def probe(path: str) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 2,
                "failureThreshold": 3}

    container: dict[str, Any] = {
        "name": "controller", "image": opts.image, "command": ["policy-engine"],
        "args": ["controller", "--in-cluster", "--config", f"{SETTINGS_DIR}/controller.yaml",
                 *policies_args(opts.policies)],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "XDG_CACHE_HOME", "value": "/tmp/cache"}],
        "livenessProbe": {**probe("/healthz"), "initialDelaySeconds": 5},
        "readinessProbe": probe("/readyz"),
        "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "policies", "mountPath": POLICY_DIR, "readOnly": True},
                         {"name": "settings", "mountPath": SETTINGS_DIR, "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }
    pod_spec: dict[str, Any] = {
        "serviceAccountName": APP, "terminationGracePeriodSeconds": 60,
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": selector},
                                               "topologyKey": "kubernetes.io/hostname"}}]}},
        "containers": [container],
        "volumes": [policies_volume(POLICIES_CONFIGMAP, opts.policies),
                    {"name": "settings", "configMap": {"name": APP}}, {"name": "tmp", "emptyDir": {}}],
    }
    spec: dict[str, Any] = {"replicas": opts.replicas, "selector": {"matchLabels": selector},
                            "template": {"metadata": {"labels": _labels()}, "spec": pod_spec}}
    if opts.ledger_size:  # one writer on a ReadWriteOnce volume: one pod, the old one gone before the new starts
        spec["replicas"] = 1
        spec["strategy"] = {"type": "Recreate"}
        pod_spec["securityContext"]["fsGroup"] = RUN_AS  # the volume writable by the non-root user
        container["volumeMounts"].append({"name": "ledger", "mountPath": LEDGER_DIR})
        pod_spec["volumes"].append({"name": "ledger", "persistentVolumeClaim": {"claimName": f"{APP}-ledger"}})
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(APP, opts.namespace), "spec": spec}


def metrics_service(opts: Options) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(APP, opts.namespace),
            "spec": {"selector": {"app.kubernetes.io/name": APP},
                     "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}]}}


def build(opts: Options, policies: PolicySet) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = [("controller-rbac.yaml", obj) for obj in rbac(opts, policies)]
    out.append(("controller-settings.yaml", settings_configmap(opts)))
    if opts.policies is not None:
        out.append(("controller-policies.yaml", policies_configmap(opts, opts.policies)))
    if opts.ledger_size:
        out.append(("controller-ledger.yaml", ledger_claim(opts)))
    out += [("controller-deployment.yaml", deployment(opts)), ("controller-service.yaml", metrics_service(opts))]
    return out
